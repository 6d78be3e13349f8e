"""Trace headers, spans of an invocation, X-Ray daemon documents, OTLP/JSON, JSON-format platform logs."""

from __future__ import annotations

import json

from lamina.observability import otlp, xray
from lamina.observability.platformlog import filter_application, json_log_text
from lamina.observability.report import Report
from lamina.observability.tracing import TraceStore, invocation_spans, otel_trace_id, trace_context
from tests.unit.observability.events import invocation_event

CALLER = "Root=1-6b0855e5-9a9047ca4472b99deb7cdf8a;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1"


def test_trace_context_keeps_the_callers_root_and_sampling() -> None:
    trace = trace_context(CALLER, active=False, now=0)
    assert trace.root == "1-6b0855e5-9a9047ca4472b99deb7cdf8a" and trace.caller_parent == "53995c3f42cd8ad8"
    assert trace.sampled and trace.header() == f"Root={trace.root};Parent={trace.function_parent};Sampled=1"
    assert trace.function_parent != "53995c3f42cd8ad8" and len(trace.function_parent) == 16
    assert trace.trace_id == "6b0855e59a9047ca4472b99deb7cdf8a"


def test_sampling_follows_tracing_mode() -> None:
    assert not trace_context(None, active=False, now=1_800_000_000).sampled
    fresh = trace_context(None, active=True, now=1_800_000_000)
    assert fresh.sampled and fresh.root.startswith("1-6b49d200-") and fresh.caller_parent is None
    assert not trace_context(CALLER.replace("Sampled=1", "Sampled=0"), active=False, now=0).sampled
    assert trace_context("Root=garbage", active=False, now=0).root.startswith("1-")


def test_invocation_spans_follow_faas_conventions() -> None:
    event = invocation_event(cold=True, error=True, sampled=True)
    trace = event.sampled_trace()
    assert trace is not None
    invoke, init, handler = invocation_spans(event)
    assert (invoke.kind, invoke.parent_id, invoke.status) == (2, "53995c3f42cd8ad8", 2)
    assert invoke.attributes["faas.invocation_id"] == "req-1" and invoke.attributes["faas.coldstart"] is True
    assert invoke.attributes["faas.trigger"] == "other" and invoke.resource["faas.max_memory"] == 128 * 1024 * 1024
    assert init.parent_id == invoke.span_id and round(init.end - init.start, 3) == 0.1
    assert handler.span_id == trace.function_parent and handler.parent_id == invoke.span_id
    store = TraceStore(keep=1)
    store.add([invoke, init, handler])
    assert [s.name for s in store.get(trace.root)] == ["fn", "init", "handler"]


def test_xray_documents_become_spans() -> None:
    document = {"trace_id": "1-6b0855e5-9a9047ca4472b99deb7cdf8a", "id": "aaaaaaaaaaaaaaaa",
                "parent_id": "bbbbbbbbbbbbbbbb",
                "name": "## handler", "start_time": 10.0, "end_time": 10.5, "type": "subsegment",
                "annotations": {"n": 5}, "subsegments": [
                    {"id": "cccccccccccccccc", "name": "S3", "namespace": "aws", "start_time": 10.1, "end_time": 10.2,
                     "fault": True, "cause": {"exceptions": [{"type": "ClientError", "message": "denied"}]}},
                    {"id": "dddddddddddddddd", "name": "open", "start_time": 10.3, "in_progress": True}]}
    datagram = b'{"format": "json", "version": 1}\n' + json.dumps(document).encode()
    handler, s3 = xray.spans_of(datagram)
    assert (handler.trace_id, handler.parent_id, handler.attributes["xray.annotation.n"]) == (
        otel_trace_id(document["trace_id"]), "bbbbbbbbbbbbbbbb", 5)
    assert (s3.parent_id, s3.kind, s3.status, s3.status_message) == ("aaaaaaaaaaaaaaaa", 3, 2, "ClientError: denied")
    assert xray.spans_of(b"garbage") == [] and xray.spans_of(b'{"format":"json"}\n[1]') == []


def test_otlp_json_encoding() -> None:
    event = invocation_event(sampled=True)
    assert event.sampled_trace() is not None
    body = otlp.payload(invocation_spans(event))
    (resource,) = body["resourceSpans"]
    keys = {a["key"]: a["value"] for a in resource["resource"]["attributes"]}
    assert keys["faas.name"] == {"stringValue": "fn"} and keys["faas.max_memory"] == {"intValue": str(128 << 20)}
    invoke = resource["scopeSpans"][0]["spans"][0]
    assert invoke["traceId"] == "6b0855e59a9047ca4472b99deb7cdf8a" and invoke["kind"] == 2
    assert invoke["parentSpanId"] == "53995c3f42cd8ad8"
    assert int(invoke["endTimeUnixNano"]) == int(event.ended * 1e9)
    assert {"key": "faas.coldstart", "value": {"boolValue": False}} in invoke["attributes"]


def test_json_format_platform_records_and_levels() -> None:
    report = Report("r1", "$LATEST", 12.345, 128, 40, init_duration_ms=50.0)
    output = '{"level": "DEBUG", "message": "d"}\n{"level": "ERROR", "message": "e"}\nplain print\n'
    text = json_log_text(request_id="r1", version="$LATEST", output=output, report=report, error_type=None,
                         now=1_800_000_000.0, system_level=None, application_level="WARN", function_name="fn")
    lines = text.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r.get("type") for r in records] == ["platform.initStart", "platform.initReport", "platform.start", None,
                                                "platform.report"]
    assert records[3]["message"] == "e"
    assert records[4]["record"] == {"requestId": "r1", "status": "success", "metrics": {
        "durationMs": 12.345, "billedDurationMs": 13, "memorySizeMB": 128, "maxMemoryUsedMB": 40,
        "initDurationMs": 50.0}}
    assert records[4]["time"] == "2027-01-15T08:00:00.000Z"
    debug = json_log_text(request_id="r1", version="$LATEST", output="", report=report, error_type="E",
                          now=0.0, system_level="DEBUG", application_level=None)
    assert "platform.runtimeDone" in debug and "platform.initRuntimeDone" in debug
    assert json_log_text(request_id="r1", version="$LATEST", output="x\n", report=report, error_type=None, now=0.0,
                         system_level="WARN", application_level=None) == "x\n"
    assert filter_application("a\n", None) == "a\n"
