"""Tracing against a live server: the X-Ray header each function sees, sampling by TracingConfig,
Lamina's spans at /_lamina/traces/<id>, segments sent to the X-Ray daemon listener, OTLP export."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, create_python_function, http_request, invoke_json, start_server, wait_for

TRACED = """
import json, os, socket, time

def handler(event, context):
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    if event.get("segment"):
        fields = dict(part.split("=", 1) for part in header.split(";"))
        document = {"trace_id": fields["Root"], "parent_id": fields["Parent"], "id": "1234567890abcdef",
                    "name": "manual-work", "type": "subsegment", "start_time": time.time() - 0.01,
                    "end_time": time.time(), "annotations": {"order": 42}}
        host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].split(":")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b'{"format": "json", "version": 1}\\n' + json.dumps(document).encode(), (host, int(port)))
    return {"trace": header, "daemon": os.environ.get("AWS_XRAY_DAEMON_ADDRESS")}
"""
CALLER_ROOT = "1-6b0855e5-0123456789abcdef01234567"
CALLER = f"Root={CALLER_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"


def fields(header: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in header.split(";"))


def spans_of(server: Server, trace_id: str) -> list[dict[str, Any]]:
    answer = http_request(server, "GET", f"/_lamina/traces/{trace_id}")
    return answer.json()["spans"] if answer.status == 200 else []


@pytest.fixture(scope="module")
def passthrough(server: Server) -> str:
    return create_python_function(server.client(), TRACED)


@pytest.fixture(scope="module")
def active(server: Server) -> str:
    return create_python_function(server.client(), TRACED, TracingConfig={"Mode": "Active"})


def test_passthrough_without_a_header_is_not_sampled(server: Server, passthrough: str) -> None:
    _, payload = invoke_json(server.client(), passthrough)
    trace = fields(payload["trace"])
    assert trace["Sampled"] == "0" and trace["Root"].startswith("1-") and len(trace["Parent"]) == 16
    assert payload["daemon"].startswith("127.0.0.1:")
    assert spans_of(server, trace["Root"]) == []


def test_the_callers_trace_is_continued(server: Server, passthrough: str) -> None:
    answer = http_request(server, "POST", f"/2015-03-31/functions/{passthrough}/invocations", b"{}",
                          {"X-Amzn-Trace-Id": CALLER})
    trace = fields(answer.json()["trace"])
    assert (trace["Root"], trace["Sampled"]) == (CALLER_ROOT, "1") and trace["Parent"] != "53995c3f42cd8ad8"
    spans = spans_of(server, CALLER_ROOT)
    invoke = next(s for s in spans if s["kind"] == 2)
    handler = next(s for s in spans if s["name"] == "handler")
    assert invoke["parentSpanId"] == "53995c3f42cd8ad8" and invoke["name"] == passthrough
    assert handler["spanId"] == trace["Parent"] and handler["parentSpanId"] == invoke["spanId"]
    assert invoke["traceId"] == CALLER_ROOT[2:].replace("-", "")
    assert {"faas.invocation_id", "faas.coldstart", "faas.trigger"} <= set(invoke["attributes"])


def test_active_tracing_samples_and_function_segments_join(server: Server, active: str) -> None:
    _, payload = invoke_json(server.client(), active, {"segment": True})
    trace = fields(payload["trace"])
    assert trace["Sampled"] == "1"

    def joined() -> bool:
        return any(s["origin"] == "xray" for s in spans_of(server, trace["Root"]))

    assert wait_for(joined, timeout=5)
    spans = spans_of(server, trace["Root"])
    names = [s["name"] for s in spans]
    assert active in names and "handler" in names and "manual-work" in names
    assert [s["name"] for s in spans if s["kind"] == 2] == [active]
    manual = next(s for s in spans if s["name"] == "manual-work")
    assert manual["parentSpanId"] == trace["Parent"] and manual["attributes"]["xray.annotation.order"] == 42
    cold = next(s for s in spans if s["kind"] == 2)["attributes"]["faas.coldstart"]
    assert ("init" in names) == cold
    assert trace["Root"][2:].replace("-", "") in http_request(server, "GET", "/_lamina/traces").json()["traces"]


class Collector:
    """A minimal OTLP/HTTP receiver: keeps every JSON body POSTed to /v1/traces."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/json":
                    collector.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[dict[str, Any]]:
        return [span for body in self.bodies for rs in body["resourceSpans"] for ss in rs["scopeSpans"]
                for span in ss["spans"]]


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_spans_are_exported_over_otlp(tmp_path: Path, collector: Collector) -> None:
    own = start_server(tmp_path / "data", env={"LAMINA_OTLP_ENDPOINT": collector.url, "LAMINA_XRAY_PORT": "0"})
    try:
        name = create_python_function(own.client(), TRACED, TracingConfig={"Mode": "Active"})
        _, payload = invoke_json(own.client(), name)
        trace_id = fields(payload["trace"])["Root"][2:].replace("-", "")
        assert wait_for(lambda: len([s for s in collector.spans() if s["traceId"] == trace_id]) >= 2, timeout=10)
    finally:
        own.stop()
    spans = [s for s in collector.spans() if s["traceId"] == trace_id]
    invoke = next(s for s in spans if s["kind"] == 2)
    assert invoke["name"] == name
    assert int(invoke["endTimeUnixNano"]) > int(invoke["startTimeUnixNano"]) > time.time_ns() - 120e9
    attributes = {a["key"]: a["value"] for a in invoke["attributes"]}
    assert attributes["faas.coldstart"] == {"boolValue": True}
    assert attributes["faas.trigger"] == {"stringValue": "other"}
    resource = {a["key"]: a["value"] for a in collector.bodies[0]["resourceSpans"][0]["resource"]["attributes"]}
    assert resource["faas.name"] == {"stringValue": name} and resource["cloud.provider"] == {"stringValue": "aws"}


VIEWS = """
import ctypes, os, subprocess

_getenv = ctypes.CDLL(None).getenv
_getenv.restype = ctypes.c_char_p

def handler(event, context):
    if event.get("set"):
        os.environ["_X_AMZN_TRACE_ID"] = event["set"]  # user code may set it itself
    if event.get("delete"):
        del os.environ["_X_AMZN_TRACE_ID"]
    if event.get("rss"):
        with open("/proc/self/status") as status:
            return int(status.read().split("VmRSS:")[1].split()[0])
    child = subprocess.run(["sh", "-c", "printf %s \\"$_X_AMZN_TRACE_ID\\""], capture_output=True, text=True)
    return {"environ": os.environ.get("_X_AMZN_TRACE_ID"), "getenv": os.getenv("_X_AMZN_TRACE_ID"),
            "c": (_getenv(b"_X_AMZN_TRACE_ID") or b"").decode(), "child": child.stdout}
"""


def _views(server: Server, name: str, header: str, event: dict[str, Any]) -> dict[str, str]:
    answer = http_request(server, "POST", f"/2015-03-31/functions/{name}/invocations", json.dumps(event).encode(),
                          {"X-Amzn-Trace-Id": header})
    result: dict[str, str] = answer.json()
    return result


def test_every_view_of_the_trace_variable_is_the_invocations_own(server: Server) -> None:
    """os.environ, os.getenv, C's getenv and a child process all see each invocation's trace id,
    also after user code set or deleted the variable itself."""
    client = server.client()
    name = create_python_function(client, VIEWS, Timeout=30)
    for index, event in enumerate([{}, {}, {"set": "mine"}, {}, {"delete": True}, {}, {}]):
        root = f"1-6b0855e5-0123456789abcdef0123{index:04d}"
        views = _views(server, name, f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1", event)
        if event.get("delete"):
            assert views == {"environ": None, "getenv": None, "c": "", "child": ""}
            continue
        expected = "mine" if event.get("set") else views["environ"]
        assert expected is not None and views == {"environ": expected, "getenv": expected, "c": expected,
                                                  "child": expected}
        if not event:
            assert fields(expected)["Root"] == root


def test_a_new_trace_id_per_invocation_does_not_grow_the_environment(server: Server) -> None:
    """glibc's setenv keeps every value it was given: a warm environment grew by about 170 bytes per
    invocation while each trace id went through os.environ."""
    client = server.client()
    name = create_python_function(client, VIEWS)
    for _ in range(200):  # warm: the allocator's pools filled, the handler's imports done
        client.invoke(FunctionName=name, Payload=b'{"n": 1}')
    before = json.loads(client.invoke(FunctionName=name, Payload=b'{"rss": true}')["Payload"].read())
    for _ in range(3000):
        client.invoke(FunctionName=name, Payload=b'{"n": 1}')
    after = json.loads(client.invoke(FunctionName=name, Payload=b'{"rss": true}')["Payload"].read())
    assert after - before < 150, f"VmRSS grew by {after - before} kB over 3,000 invocations"
