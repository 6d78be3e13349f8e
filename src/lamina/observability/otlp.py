"""OTLP/HTTP with JSON encoding: spans to an OpenTelemetry collector's ``/v1/traces``.

The JSON mapping of OTLP (opentelemetry-proto, "JSON Protobuf Encoding"): ids are hex strings, times
are nanoseconds as decimal strings, enums are integers, attributes are ``{"key", "value":
{"stringValue" | "boolValue" | "intValue" | "doubleValue"}}``. Spans are grouped by resource.
:func:`export` is synchronous (urllib); the caller runs it in a worker thread, in batches.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from typing import Any

from lamina import __version__
from lamina.observability.tracing import Span


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in values.items() if value is not None]


def _span(span: Span) -> dict[str, Any]:
    encoded: dict[str, Any] = {
        "traceId": span.trace_id, "spanId": span.span_id, "name": span.name, "kind": span.kind,
        "startTimeUnixNano": str(int(span.start * 1e9)), "endTimeUnixNano": str(int(span.end * 1e9)),
        "attributes": _attributes(span.attributes), "status": {"code": span.status},
    }
    if span.parent_id:
        encoded["parentSpanId"] = span.parent_id
    if span.status_message:
        encoded["status"]["message"] = span.status_message
    return encoded


def payload(spans: Sequence[Span]) -> dict[str, Any]:
    """The ExportTraceServiceRequest for ``spans``."""
    by_resource: dict[str, tuple[dict[str, Any], list[Span]]] = {}
    for span in spans:
        key = json.dumps(span.resource, sort_keys=True, default=str)
        by_resource.setdefault(key, (span.resource, []))[1].append(span)
    return {"resourceSpans": [
        {"resource": {"attributes": _attributes(resource)},
         "scopeSpans": [{"scope": {"name": "lamina", "version": __version__},
                         "spans": [_span(span) for span in group]}]}
        for resource, group in by_resource.values()]}


def export(endpoint: str, spans: Sequence[Span], timeout_s: float = 5.0) -> None:
    """POST ``spans`` to ``<endpoint>/v1/traces``; raises OSError when the collector is unreachable or refuses."""
    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    body = json.dumps(payload(spans), separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        answer.read()
