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
    from lamina.invoker.invoker import InvocationEvent

_TIMEOUT = FunctionErrorType.TIMEOUT.value


def outcome(function_error: str | None, error_type: str | None) -> str:
    if function_error is None:
        return "success"
    return "timeout" if error_type == _TIMEOUT else "error"


def usage_row(event: InvocationEvent) -> dict[str, Any] | None:
    """The usage record of one invocation, readable (None for a throttle)."""
    result = event.result
    if result is None:
        return None
    fn, report = event.function, result.report
    return {"region": fn.region, "function": fn.name, "version": result.executed_version,
            "architecture": fn.architectures[0] if fn.architectures else "x86_64", "memory_mb": report.memory_size_mb,
            "day": int(result.ended // 86400), "request_id": result.request_id, "started": result.started,
            "ended": result.ended, "duration_ms": report.duration_ms, "billed_ms": report.billed_duration_ms,
            "peak_memory_mb": report.max_memory_used_mb, "init_ms": report.init_duration_ms,
            "cold_start": result.cold_start, "outcome": outcome(result.function_error, result.error_type)}


class Meter:
    def __init__(self, tables: UsageTables) -> None:
        self.tables = tables
        self._batches: dict[tuple[Any, ...], Batch] = {}
        self._lock = threading.Lock()
        self._count = 0
        #: Batches a failed write left, written first next time.
        self._unwritten: list[Batch] = []

    def record(self, events: Iterable[InvocationEvent]) -> None:
        with self._lock:
            batches = self._batches
            for event in events:
                result = event.result
                if result is None:
                    continue
                fn, report = event.function, result.report
                architecture = fn.architectures[0] if fn.architectures else "x86_64"
                key = (fn.region, fn.name, result.executed_version, architecture, report.memory_size_mb,
                       int(result.ended // 86400))
                batch = batches.get(key)
                if batch is None:
                    batch = batches[key] = Batch(*key)
                failed = result.function_error is not None
                batch.add(result.request_id, result.started, result.ended, report.duration_ms,
                          report.billed_duration_ms, report.max_memory_used_mb, report.init_duration_ms,
                          result.cold_start, (2 if result.error_type == _TIMEOUT else 1) if failed else 0)
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
