"""Usage records: one per invocation, what AWS would bill for it, written to the store in batches.

The record is built from the invocation's REPORT figures: billed duration (the duration rounded up
to the millisecond, at least 1 ms), configured memory, GB-seconds (billed ms x MB / 1,024,000),
measured peak memory, cold start and init duration, outcome (``success`` | ``error`` | ``timeout``).
Throttled requests are not billed and make no record.

:meth:`Meter.record` runs on the event loop, in slices, after the answers went out: it packs each
record into its batch (:class:`lamina.store.usage.Batch`, a few microseconds). :meth:`Meter.persist`
writes the batches, a handful of statements, in a worker thread. Doing the per-record work on the
loop rather than in the thread is deliberate: a thread doing Python work fights the loop for the
GIL, and that cost more throughput than the work itself (docs/performance.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lamina.store.usage import Batch, UsageTables
from lamina.types import FunctionErrorType

if TYPE_CHECKING:
    from lamina.observability.invocation import Invocation

_TIMEOUT = FunctionErrorType.TIMEOUT.value


def outcome(function_error: str | None, error_type: str | None) -> str:
    if function_error is None:
        return "success"
    return "timeout" if error_type == _TIMEOUT else "error"


def usage_row(event: Invocation) -> dict[str, Any] | None:
    """The usage record of one invocation, readable (None for a throttle)."""
    if event.throttled is not None:
        return None
    fn = event.function
    return {"region": fn.region, "function": fn.name, "version": event.executed_version,
            "architecture": fn.architectures[0] if fn.architectures else "x86_64", "memory_mb": event.memory_mb,
            "day": int(event.ended // 86400), "request_id": event.request_id, "started": event.started,
            "ended": event.ended, "duration_ms": event.duration_ms, "billed_ms": event.billed_ms,
            "peak_memory_mb": event.max_memory_mb, "init_ms": event.init_ms,
            "cold_start": event.cold_start, "outcome": outcome(event.function_error, event.error_type)}


class Meter:
    def __init__(self, tables: UsageTables) -> None:
        self.tables = tables
        self._batches: dict[tuple[Any, ...], Batch] = {}
        self._lock = threading.Lock()
        self._count = 0
        #: Batches a failed write left, written first next time.
        self._unwritten: list[Batch] = []

    def record(self, events: Iterable[Invocation]) -> None:
        with self._lock:
            batches = self._batches
            for event in events:
                if event.throttled is not None:
                    continue
                fn = event.function
                architecture = fn.architectures[0] if fn.architectures else "x86_64"
                key = (fn.region, fn.name, event.executed_version, architecture, event.memory_mb,
                       int(event.ended // 86400))
                batch = batches.get(key)
                if batch is None:
                    batch = batches[key] = Batch(*key)
                failed = event.function_error is not None
                batch.add(event.request_id, event.started, event.ended, event.duration_ms, event.billed_ms,
                          event.max_memory_mb, event.init_ms, event.cold_start,
                          (2 if event.error_type == _TIMEOUT else 1) if failed else 0)
                self._count += 1

    @property
    def pending(self) -> int:
        return self._count

    def persist(self) -> int:
        """Write the records made so far (and any a failed write left); returns how many."""
        with self._lock:
            batches, self._batches = self._unwritten + list(self._batches.values()), {}
            self._unwritten = []
            count, self._count = self._count, 0
        try:
            self.tables.write(batches)
        except Exception:
            with self._lock:
                self._unwritten = batches
                self._count += count
            raise
        return count
