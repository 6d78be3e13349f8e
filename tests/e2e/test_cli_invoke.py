"""``lamina invoke`` as a subprocess against a live server: results, errors, --tail, --async, --event, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BEACON_CODE, Beacon, Server, create_python_function

ECHO = """
import json
def handler(event, context):
    print("got", json.dumps(event, sort_keys=True))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "version": context.function_version}
"""

REPORTER = BEACON_CODE + """
import os
def handler(event, context):
    beacon(os.environ["BEACON"], request_id=context.aws_request_id, event=event)
"""


def lamina_invoke(server: Server, *args: str, via_env: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": server.endpoint} if via_env else None
    endpoint = [] if via_env else ["--endpoint", server.endpoint]
    return subprocess.run([sys.executable, "-m", "lamina", "invoke", *args, *endpoint],
                          capture_output=True, text=True, timeout=60, check=False, env=env)


@pytest.fixture(scope="module")
def echo(server: Server) -> str:
    return create_python_function(server.client(), ECHO)


def test_success_prints_the_payload_on_stdout(server: Server, echo: str) -> None:
    done = lamina_invoke(server, echo, "--payload", '{"who": "ada"}', via_env=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"echo": {"who": "ada"}, "version": "$LATEST"}
    assert "status 200, version $LATEST, request id " in done.stderr


def test_function_error_exits_1(server: Server, echo: str) -> None:
    done = lamina_invoke(server, echo, "--payload", '{"fail": true}')
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["errorMessage"] == "asked to fail"
    assert "Function error (Unhandled)" in done.stderr


def test_missing_function_exits_2_with_the_api_error(server: Server) -> None:
    done = lamina_invoke(server, "no-such-function")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ResourceNotFoundException: ") and "no-such-function" in done.stderr


def test_tail_shows_the_log_and_report_figures(server: Server, echo: str) -> None:
    done = lamina_invoke(server, echo, "--payload", '{"n": 1}', "--tail")
    assert done.returncode == 0, done.stderr
    assert 'got {"n": 1}' in done.stderr and "REPORT RequestId: " in done.stderr
    assert "Billed Duration: " in done.stderr and "Max Memory Used: " in done.stderr
    as_json = json.loads(lamina_invoke(server, echo, "--tail", "--output", "json").stdout)
    report = as_json["report"]
    assert {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"} <= set(report)
    assert report["memorySizeMB"] == 128 and report["billedDurationMs"] >= 1 and report["maxMemoryUsedMB"] > 0
    assert "END RequestId: " in as_json["log"]


def test_init_duration_is_reported_on_a_cold_start(server: Server) -> None:
    fresh = create_python_function(server.client(), ECHO, MemorySize=256)
    report = json.loads(lamina_invoke(server, fresh, "--tail", "--output", "json").stdout)["report"]
    assert report["initDurationMs"] > 0 and report["memorySizeMB"] == 256


def test_async_prints_202_and_request_id(server: Server, beacon: Beacon) -> None:
    name = create_python_function(server.client(), REPORTER, Environment={"Variables": {"BEACON": beacon.url}})
    done = lamina_invoke(server, name, "--async", "--payload", '{"n": 1}')
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "202 Accepted request id " in done.stderr
    request_id = done.stderr.split("request id ")[1].strip()
    (seen,) = beacon.wait(lambda m: m["event"] == {"n": 1}, timeout=20)
    assert seen["request_id"] == request_id
    as_json = json.loads(lamina_invoke(server, name, "--async", "--output", "json", "--payload", '{"n": 2}').stdout)
    assert as_json["statusCode"] == 202 and as_json["payload"] is None and as_json["requestId"]
    (second,) = beacon.wait(lambda m: m["event"] == {"n": 2}, timeout=20)
    assert second["request_id"] == as_json["requestId"]
    refused = lamina_invoke(server, name, "--async", "--tail")
    assert refused.returncode == 2 and "--tail needs a synchronous invoke" in refused.stderr


def test_event_file_and_qualifier(server: Server, tmp_path: Path) -> None:
    client = server.client()
    name = create_python_function(client, ECHO)
    client.publish_version(FunctionName=name)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"from": "file"}))
    done = lamina_invoke(server, name, "--event", str(event), "--qualifier", "1", "--output", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["payload"] == {"echo": {"from": "file"}, "version": "1"} and result["executedVersion"] == "1"
    both = lamina_invoke(server, name, "--event", str(event), "--payload", "{}")
    assert both.returncode == 2 and "not both" in both.stderr


def test_output_json_has_every_key(server: Server, echo: str) -> None:
    done = lamina_invoke(server, echo, "--payload", '{"fail": true}', "--output", "json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert set(result) == {"statusCode", "executedVersion", "functionError", "payload", "log", "report",
                           "requestId"}
    assert result["statusCode"] == 200 and result["functionError"] == "Unhandled"
    assert result["payload"]["errorType"] == "ValueError" and result["log"] is None and result["report"] == {}
