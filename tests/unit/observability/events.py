"""Invocations as the telemetry process reads them (made from the invoker's events, as the server
does), for the observability and billing unit tests."""

from __future__ import annotations

from lamina.invoker.invoker import InvocationEvent, InvokeResult
from lamina.observability.invocation import Invocation
from lamina.observability.report import Report
from lamina.observability.tracing import trace_context
from lamina.observability.wire import event_row
from lamina.registry.model import Code, FunctionVersion

ENDED = 1_800_000_030.0


def function(name: str = "fn", memory: int = 128, architecture: str = "x86_64",
             version: str = "$LATEST") -> FunctionVersion:
    return FunctionVersion(region="us-east-1", account_id="000000000000", name=name, runtime="python3.12",
                           handler="app.handler", role="arn:aws:iam::000000000000:role/r", code=Code("0" * 64, "x", 1),
                           revision_id="r1", last_modified="now", memory_size=memory,
                           architectures=(architecture,), version=version)


def invocation_event(*, duration_ms: float = 10.0, error: bool = False, cold: bool = False, memory: int = 128,
                     architecture: str = "x86_64", ended: float = ENDED, name: str = "fn",
                     sampled: bool = False) -> Invocation:
    fn = function(name, memory, architecture)
    report = Report("req-1", fn.version, duration_ms, memory, 40, 100.0 if cold else None)
    trace = trace_context("Root=1-6b0855e5-9a9047ca4472b99deb7cdf8a;Parent=53995c3f42cd8ad8;Sampled=1" if sampled
                          else None, False, ended)
    result = InvokeResult("req-1", b"{}", fn.version, "Unhandled" if error else None, "", report,
                          error_type="ValueError" if error else None, cold_start=cold,
                          log_stream="2026/11/26/[$LATEST]e",
                          started=ended - duration_ms / 1000 - (0.1 if cold else 0), ended=ended, trace=trace)
    return Invocation._make(event_row(InvocationEvent(fn, result)))


def throttle_event() -> Invocation:
    return Invocation._make(event_row(InvocationEvent(function(), None,
                                                      "ReservedFunctionConcurrentInvocationLimitExceeded")))
