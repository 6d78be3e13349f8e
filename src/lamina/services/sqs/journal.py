"""Group commit for the queue domain: concurrent changes share one transaction, and every caller
waits until its own changes are committed.

A send answers only after its message is durable, but a commit per send would cap throughput at
the disk's sync rate. Callers hand their operations to :meth:`Journal.write` and await it; one
background task writes everything that arrived since its last commit in a single transaction (in a
worker thread, so the event loop never waits on the database) and then releases all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from lamina.clock import Clock
from lamina.store.queues import QueueOp, QueueStore

log = logging.getLogger(__name__)


class Journal:
    """Batches :class:`~lamina.store.queues.QueueOp` lists into commits, in arrival order.

    Before :meth:`start` (and after :meth:`close`) each :meth:`write` commits on its own.
    """

    def __init__(self, store: QueueStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: list[tuple[Sequence[QueueOp], asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sqs-journal")

    async def close(self) -> None:
        """Commit what is pending, then stop."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wakeup.set()
            await task

    async def write(self, ops: Sequence[QueueOp]) -> None:
        """Return once ``ops`` are committed; raise what the store raised if they could not be."""
        if not ops:
            return
        if self._task is None:
            await asyncio.to_thread(self._store.apply, list(ops), self._clock.time())
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

    async def _commit(self, batch: list[tuple[Sequence[QueueOp], asyncio.Future[None]]]) -> None:
        try:
            await asyncio.to_thread(self._store.apply, [op for ops, _ in batch for op in ops],
                                    self._clock.time())
        except Exception as error:
            if len(batch) == 1:
                log.exception("could not store queue changes")
                _settle(batch[0][1], error)
                return
            # One caller's bad change must not fail the others: commit them one by one.
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
