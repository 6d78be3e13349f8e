"""Traces: the X-Ray trace header of each invoke, OpenTelemetry-shaped spans, a small local store.

:func:`trace_context` runs on the invoke path (cheap: a header split and one random id). It keeps the
caller's ``Root`` (``X-Amzn-Trace-Id``) or starts a trace, and decides sampling as Lambda does:
``Active`` tracing samples (Lamina samples every request rather than X-Ray's 1 per second + 5 %);
``PassThrough`` follows the caller's ``Sampled`` and samples nothing without a header. The function
gets ``Root=…;Parent=<handler span id>;Sampled=…``, so subsegments that aws-xray-sdk or Powertools
Tracer send to the X-Ray daemon listener hang under Lamina's handler span.

After the answer, :func:`invocation_spans` makes the invoke (SERVER), init and handler spans with
the FaaS semantic conventions (``faas.invocation_id``, ``faas.coldstart``, ``faas.trigger``,
``faas.name``, ``faas.version``, ``faas.instance``, ``faas.max_memory``, ``cloud.resource_id``).
OpenTelemetry ids are X-Ray's without the dashes: trace ``1-5759e988-bd862e3fe1be46a994272793`` is
``5759e988bd862e3fe1be46a994272793``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from random import getrandbits
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.observability.invocation import Invocation

SPAN_INTERNAL, SPAN_SERVER, SPAN_CLIENT = 1, 2, 3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


# Not frozen, by convention never changed: built per invocation, and frozen costs ~5x to build
# (docs/performance.md, "Late evening: telemetry in its own process").
@dataclass(slots=True)
class TraceContext:
    """One invocation's place in a trace."""

    #: X-Ray form, ``1-<8 hex epoch>-<24 hex>``.
    root: str
    #: The caller's span (``Parent=``), when it sent one.
    caller_parent: str | None
    #: The span id handed to the function: Lamina's handler span.
    function_parent: str
    sampled: bool

    def header(self) -> str:
        return f"Root={self.root};Parent={self.function_parent};Sampled={1 if self.sampled else 0}"

    @property
    def trace_id(self) -> str:
        return otel_trace_id(self.root)


def trace_context(header: str | None, active: bool, now: float) -> TraceContext:
    root = parent = sampled = None
    if header:
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            if key == "Root":
                root = value
            elif key == "Parent":
                parent = value
            elif key == "Sampled":
                sampled = value
    if not root or len(otel_trace_id(root)) != 32:
        root, parent = f"1-{int(now):08x}-{getrandbits(96):024x}", None
    return TraceContext(root, parent, new_span_id(), active or sampled == "1")


def otel_trace_id(xray_root: str) -> str:
    """``1-5759e988-bd862e3fe1be46a994272793`` -> ``5759e988bd862e3fe1be46a994272793``."""
    return xray_root[2:].replace("-", "") if xray_root.startswith("1-") else xray_root


def new_span_id() -> str:
    # Trace and span ids must be unique, not secret: the process PRNG (seeded from the OS) spares
    # the invoke path two getrandom system calls (as lamina.ids does for request ids).
    return f"{getrandbits(64):016x}"


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: float
    end: float
    kind: int = SPAN_INTERNAL
    attributes: dict[str, Any] = field(default_factory=dict)
    status: int = STATUS_UNSET
    status_message: str = ""
    #: "lamina" for the platform's spans, "xray" for segments functions sent to the daemon listener.
    origin: str = "lamina"
    resource: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"traceId": self.trace_id, "spanId": self.span_id, "parentSpanId": self.parent_id or "",
                "name": self.name, "kind": self.kind, "startTime": self.start, "endTime": self.end,
                "durationMs": round((self.end - self.start) * 1000, 3), "attributes": self.attributes,
                "status": {"code": self.status, "message": self.status_message}, "origin": self.origin,
                "resource": self.resource}


def invocation_spans(result: Invocation) -> list[Span]:
    """The invoke, init (cold starts only) and handler spans of a finished, sampled invocation."""
    fn, trace = result.function, result.sampled_trace()
    assert trace is not None and result.throttled is None
    resource = {"service.name": fn.name, "cloud.provider": "aws", "cloud.platform": "aws_lambda",
                "cloud.region": fn.region, "cloud.account.id": fn.account_id, "faas.name": fn.name,
                "faas.version": fn.version, "faas.instance": result.log_stream,
                "faas.max_memory": fn.memory_size * 1024 * 1024, "cloud.resource_id": fn.arn}
    trace_id = trace.trace_id
    invoke_id = new_span_id()
    init_s = (result.init_ms or 0.0) / 1000 if result.cold_start else 0.0
    failed = result.function_error is not None
    status = STATUS_ERROR if failed else STATUS_OK
    message = result.error_type or "" if failed else ""
    invoke = Span(trace_id, invoke_id, trace.caller_parent, fn.name, result.started, result.ended, SPAN_SERVER,
                  {"faas.invocation_id": result.request_id, "faas.coldstart": result.cold_start,
                   "faas.trigger": "other", "cloud.resource_id": fn.arn, "aws.xray.trace_id": trace.root,
                   "faas.executed_version": result.executed_version}, status, message, resource=resource)
    spans = [invoke]
    if result.cold_start:
        spans.append(Span(trace_id, new_span_id(), invoke_id, "init", result.started, result.started + init_s,
                          attributes={"faas.coldstart": True, "faas.init_duration_ms": init_s * 1000},
                          resource=resource))
    spans.append(Span(trace_id, trace.function_parent, invoke_id, "handler", result.started + init_s, result.ended,
                      attributes={"faas.invocation_id": result.request_id,
                                  "faas.max_memory_used": result.max_memory_mb * 1024 * 1024},
                      status=status, status_message=message, resource=resource))
    return spans


class TraceStore:
    """The last ``keep`` traces, each with at most ``spans_per_trace`` spans, by OTel trace id."""

    def __init__(self, keep: int = 2000, spans_per_trace: int = 1000) -> None:
        self._keep = keep
        self._per_trace = spans_per_trace
        self._traces: OrderedDict[str, list[Span]] = OrderedDict()

    def add(self, spans: list[Span]) -> None:
        for span in spans:
            found = self._traces.get(span.trace_id)
            if found is None:
                found = self._traces[span.trace_id] = []
                if len(self._traces) > self._keep:
                    self._traces.popitem(last=False)
            if len(found) < self._per_trace:
                found.append(span)

    def get(self, trace_id: str) -> list[Span]:
        """A trace's spans by OTel id or X-Ray root, sorted by start time."""
        return sorted(self._traces.get(otel_trace_id(trace_id), ()), key=lambda span: span.start)

    def recent(self, limit: int = 50) -> list[str]:
        return list(reversed(self._traces))[:limit]
