"""Group commit: concurrent writers share transactions, each waits for its own, one bad write fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import IntegrityError

from lamina.services.sqs.journal import journal as make_journal
from lamina.store.queues import MessageRecord, PutMessage, QueueOp, QueueStore

from .conftest import Env


class CountingStore(QueueStore):
    """The real store, counting transactions."""

    commits = 0

    def apply(self, ops: Sequence[QueueOp], now: float) -> None:
        self.commits += 1
        super().apply(ops, now)


def message(message_id: str) -> PutMessage:
    return PutMessage(MessageRecord(message_id, "arn:aws:sqs:us-east-1:1:q", 1, "body", {}, {}, None, None, "",
                                    0.0, 0.0, 0, None, None))


def test_concurrent_writes_share_commits(env: Env) -> None:
    store = CountingStore(env.store)

    async def main() -> None:
        journal = make_journal(store, env.clock)
        journal.start()
        await asyncio.gather(*(journal.write([message(f"m{i}")]) for i in range(50)))
        await journal.close()

    asyncio.run(main())
    assert {m.id for m in store.load_messages()} == {f"m{i}" for i in range(50)}
    assert store.commits < 50


def test_a_failing_write_fails_alone(env: Env) -> None:
    store = QueueStore(env.store)

    async def main() -> list[BaseException | None]:
        journal = make_journal(store, env.clock)
        journal.start()
        await journal.write([message("taken")])
        results = await asyncio.gather(journal.write([message("a")]), journal.write([message("taken")]),
                                       journal.write([message("b")]), return_exceptions=True)
        await journal.close()
        return list(results)

    results = asyncio.run(main())
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    assert {m.id for m in store.load_messages()} == {"taken", "a", "b"}


def test_writes_before_start_commit_directly(env: Env) -> None:
    store = QueueStore(env.store)
    asyncio.run(make_journal(store, env.clock).write([message("early")]))
    assert [m.id for m in store.load_messages()] == ["early"]
    with pytest.raises(IntegrityError):
        asyncio.run(make_journal(store, env.clock).write([message("early")]))
