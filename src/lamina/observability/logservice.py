"""The platform's log sink: invocation records are buffered, then written in batches.

:meth:`LogService.write` is what the invoker calls before it answers, so it only appends to a list.
A background flusher hands the list to :class:`~lamina.observability.logbook.LogBook` in a worker
thread every ``interval_s`` (sooner when ``batch`` records wait). Every read through :meth:`call`
flushes first, so a client sees its invocation's lines as soon as the invocation has answered.
:meth:`close` flushes what is left: nothing accepted is lost on a clean shutdown.

Lines carrying Embedded Metric Format documents are handed to ``on_emf`` (region, line, time) as the
records are accepted, on the event loop: a metric query sees them without waiting for the write, and
a write that fails and is retried does not count them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from lamina.aio import wait_event
from lamina.clock import Clock
from lamina.observability.logbook import LogBook, Prepared
from lamina.observability.logs import LogRow

log = logging.getLogger(__name__)
T = TypeVar("T")

EmfSink = Callable[[str, str, float], None]
#: Records turned into chunks per turn of the event loop (a few hundred microseconds of work).
SLICE = 500


class LogService:
    def __init__(self, book: LogBook, clock: Clock, default_region: str, *, interval_s: float = 0.25,
                 batch: int = 20000, on_emf: EmfSink | None = None, sweep_s: float = 3600.0) -> None:
        self.book = book
        self._clock = clock
        self._region = default_region
        self._interval = interval_s
        self._batch = batch
        self._on_emf = on_emf
        self._sweep_s = sweep_s
        self._pending: list[LogRow] = []
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- the sink ---------------------------------------------------------------------------------

    def write(self, record: LogRow) -> None:
        """One record: a :class:`~lamina.observability.logs.LogRecord` or the same fields as a tuple."""
        self.write_many([record])

    def write_many(self, records: list[LogRow]) -> None:
        """Many records at once (a batch from the server)."""
        self._metrics_of(records)
        pending = self._pending
        before = len(pending)
        pending.extend(records)
        if before < self._batch <= len(pending) and self._wake is not None:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records accepted and not yet written."""
        return len(self._pending)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.book.load)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._flush_forever()), loop.create_task(self._sweep_forever())]

    async def close(self) -> None:
        """Stop the background tasks and write what is pending. The flusher is let finish a flush
        it is in (cancelling it there could write a batch twice); the sweeper is cancelled."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        for task in self._tasks[1:]:      # [flusher, sweeper]
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.flush()

    async def flush(self) -> None:
        """Write every record accepted so far (returns once they are stored).

        The records are turned into per-stream chunks here on the event loop, a slice at a time,
        and only the SQL runs in a worker thread: Python work in a thread fights the loop for the
        GIL, which cost more throughput than the work itself (docs/performance.md).
        """
        if not self._pending:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                prepared = Prepared(int(self._clock.time() * 1000))
                for start in range(0, len(batch), SLICE):
                    part = batch[start:start + SLICE]
                    self.book.prepare(part, self._region, prepared)
                    if start + SLICE < len(batch):
                        await asyncio.sleep(0)
                await asyncio.to_thread(self.book.write, prepared)
            except BaseException:
                self._pending[:0] = batch
                raise

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Flush, then run a :class:`LogBook` method in a worker thread."""
        await self.flush()
        return await asyncio.to_thread(function, *args, **kwargs)

    # -- background work --------------------------------------------------------------------------

    def _metrics_of(self, records: list[LogRow]) -> None:
        if self._on_emf is None:
            return
        for _group, _stream, timestamp, text, region in records:
            # EMF documents are JSON objects with an "_aws" member; most records have none.
            if '"_aws"' in text:
                for line in text.splitlines():
                    if line.startswith("{") and '"_aws"' in line:
                        try:
                            self._on_emf(region or self._region, line, timestamp)
                        except Exception:
                            log.exception("embedded metric format line dropped")

    async def _flush_forever(self) -> None:
        assert self._wake is not None
        while not self._closing:
            await wait_event(self._wake, self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing log records failed; they are retried with the next batch")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_s)
            try:
                await asyncio.to_thread(self.book.sweep, int(self._clock.time() * 1000))
            except Exception:
                log.exception("log retention sweep failed")
