"""One finished (or throttled) invocation as metering and observability read it: a named tuple.

The server makes it from the invoker's :class:`~lamina.invoker.invoker.InvocationEvent`
(:func:`lamina.observability.wire.event_row`: a plain tuple in this field order, the cheapest thing to
build and to pickle), and the telemetry process reads it by name (``Invocation._make(row)`` costs one
C call). Metrics, usage records and spans take these, not the invoker's objects.
"""

from __future__ import annotations

from typing import NamedTuple

from lamina.observability.tracing import TraceContext

# Imported at run time, not under TYPE_CHECKING: mypyc (lamina.native) resolves the field types.
from lamina.registry.model import FunctionVersion


class Invocation(NamedTuple):
    function: FunctionVersion
    #: The throttle Reason when the invocation was refused with 429 (it did not run: the fields
    #: below are empty); None when it ran.
    throttled: str | None
    request_id: str
    executed_version: str
    #: "Unhandled" when the function failed.
    function_error: str | None
    error_type: str | None
    cold_start: bool
    log_stream: str
    #: Wall-clock seconds since the epoch.
    started: float
    ended: float
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None
    #: The trace as (root, caller's parent, function's parent, sampled) when it was sampled, else None.
    trace: tuple[str, str | None, str, bool] | None

    @property
    def sampled(self) -> bool:
        """Whether its trace was sampled (spans are made for those only)."""
        return self.trace is not None and self.trace[3]

    def sampled_trace(self) -> TraceContext | None:
        """The trace context when this invocation was sampled."""
        if not self.sampled:
            return None
        assert self.trace is not None
        return TraceContext(*self.trace)
