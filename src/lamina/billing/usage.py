"""Usage records: one per invocation, what AWS would bill for it, written to the store in batches.

The record is built from the invocation's REPORT figures: billed duration (the duration rounded up
to the millisecond, at least 1 ms), configured memory, GB-seconds (billed ms x MB / 1,024,000),
measured peak memory, cold start and init duration, outcome (``success`` | ``error`` | ``timeout``).
Throttled requests are not billed and make no record. :meth:`Meter.record` runs on the event loop
after the answers went out; :meth:`Meter.persist` runs in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lamina.store.observability import UsageTables
from lamina.types import FunctionErrorType

if TYPE_CHECKING:
    from lamina.invoker.invoker import InvocationEvent


def outcome(function_error: str | None, error_type: str | None) -> str:
    if function_error is None:
        return "success"
    return "timeout" if error_type == FunctionErrorType.TIMEOUT.value else "error"


def usage_row(event: InvocationEvent) -> dict[str, Any] | None:
    result = event.result
    if result is None:
        return None
    fn, report = event.function, result.report
    return {"region": fn.region, "function": fn.name, "version": result.executed_version,
            "request_id": result.request_id, "day": int(result.ended // 86400), "started": result.started,
            "ended": result.ended, "duration_ms": report.duration_ms, "billed_ms": report.billed_duration_ms,
            "memory_mb": report.memory_size_mb, "architecture": fn.architectures[0] if fn.architectures else "x86_64",
            "peak_memory_mb": report.max_memory_used_mb, "cold_start": result.cold_start,
            "init_ms": report.init_duration_ms, "outcome": outcome(result.function_error, result.error_type)}


class Meter:
    def __init__(self, tables: UsageTables) -> None:
        self.tables = tables
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, events: Iterable[InvocationEvent]) -> None:
        rows = [row for row in map(usage_row, events) if row is not None]
        if rows:
            with self._lock:
                self._pending.extend(rows)

    def persist(self) -> int:
        """Write the records made so far; returns how many."""
        with self._lock:
            rows, self._pending = self._pending, []
        try:
            self.tables.insert(rows)
        except Exception:
            with self._lock:
                self._pending[:0] = rows
            raise
        return len(rows)
