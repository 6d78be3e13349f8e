"""Group commit: concurrent callers' changes share one transaction, and each caller waits until its
own changes are committed.

An answer that promises durability (an SQS SendMessage, an Event invoke's 202) must wait for its
commit, but a commit per request would cap throughput at the disk's sync rate. Callers hand their
operations to :meth:`GroupCommit.write` and await it; one background task writes everything that
arrived since its last commit in a single transaction (in a worker thread, so the event loop never
waits on the database) and then releases them all. A failing batch is retried one caller at a time,
so one bad change fails only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Op = TypeVar("Op")


class GroupCommit(Generic[Op]):
    """Batches operation lists into calls of ``apply`` (one transaction each), in arrival order.

    Before :meth:`start` (and after :meth:`close`) each :meth:`write` commits on its own.
    """

    def __init__(self, apply: Callable[[list[Op]], None], name: str) -> None:
        self._apply = apply
        self._name = name
        self._pending: list[tuple[Sequence[Op], asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def close(self) -> None:
        """Commit what is pending, then stop."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wakeup.set()
            await task

    async def write(self, ops: Sequence[Op]) -> None:
        """Return once ``ops`` are committed; raise what ``apply`` raised if they could not be."""
        if not ops:
            return
        if self._task is None:
            await asyncio.to_thread(self._apply, list(ops))
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((ops, future))
        self._wakeup.set()
        # Shielded: a client that hangs up must not cancel the commit its change is part of.
        await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._commit(batch)
            if self._closing and not self._pending:
                return

    async def _commit(self, batch: list[tuple[Sequence[Op], asyncio.Future[None]]]) -> None:
        try:
            await asyncio.to_thread(self._apply, [op for ops, _ in batch for op in ops])
        except Exception as error:
            if len(batch) == 1:
                log.exception("%s: could not store changes", self._name)
                _settle(batch[0][1], error)
                return
            for item in batch:
                await self._commit([item])
            return
        for _, future in batch:
            _settle(future, None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
