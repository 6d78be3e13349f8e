"""Usage records: one per invocation, what AWS would bill for it, written to the store in batches.

The record is built from the invocation's REPORT figures: billed duration (the duration rounded up
to the millisecond, at least 1 ms), configured memory, GB-seconds (billed ms x MB / 1,024,000),
measured peak memory, cold start and init duration, outcome (``success`` | ``error`` | ``timeout``).
Throttled requests are not billed and make no record. :meth:`Meter.record` runs on the event loop
after the answers went out and only keeps the events; :meth:`Meter.persist` builds the records and
writes them, in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lamina.store.observability import USAGE_COLUMNS, UsageTables
from lamina.types import FunctionErrorType

if TYPE_CHECKING:
    from lamina.invoker.invoker import InvocationEvent


def outcome(function_error: str | None, error_type: str | None) -> str:
    if function_error is None:
        return "success"
    return "timeout" if error_type == FunctionErrorType.TIMEOUT.value else "error"


def usage_values(event: InvocationEvent) -> tuple[Any, ...] | None:
    """The usage record of an invocation in :data:`USAGE_COLUMNS` order; None for a throttle."""
    result = event.result
    if result is None:
        return None
    fn, report = event.function, result.report
    return (fn.region, fn.name, result.executed_version, result.request_id, int(result.ended // 86400),
            result.started, result.ended, report.duration_ms, report.billed_duration_ms, report.memory_size_mb,
            fn.architectures[0] if fn.architectures else "x86_64", report.max_memory_used_mb, result.cold_start,
            report.init_duration_ms, outcome(result.function_error, result.error_type))


def usage_row(event: InvocationEvent) -> dict[str, Any] | None:
    values = usage_values(event)
    return dict(zip(USAGE_COLUMNS, values, strict=True)) if values is not None else None


class Meter:
    def __init__(self, tables: UsageTables) -> None:
        self.tables = tables
        self._pending: list[InvocationEvent] = []
        self._lock = threading.Lock()

    def record(self, events: Iterable[InvocationEvent]) -> None:
        with self._lock:
            self._pending.extend(events)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def persist(self) -> int:
        """Write the records of the invocations seen so far; returns how many."""
        with self._lock:
            events, self._pending = self._pending, []
        rows = [values for values in map(usage_values, events) if values is not None]
        try:
            self.tables.insert(rows)
        except Exception:
            with self._lock:
                self._pending[:0] = events
            raise
        return len(rows)
