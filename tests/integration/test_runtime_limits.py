"""Runtime limits and runtime coverage: the 10 s init phase, strict runtimes, every Node.js runtime,
``provided.al2``/``provided.al2023`` bootstraps in POSIX shell, and a CPU-bound handler hitting its
timeout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lamina.invoker import runtimes as lamina_runtimes
from tests.conftest import (
    BEACON_CODE,
    ROLE,
    TAG_CODE,
    Beacon,
    Server,
    create_python_function,
    invoke_json,
    log_tail,
    make_zip,
    pid_named,
    pids_named,
    process_alive,
    start_server,
    unique_name,
    wait_for,
)


def timed_out(seconds: str) -> str:
    """AWS's timeout errorMessage, as a regular expression (``seconds`` like ``3.00``)."""
    return rf"RequestId: [0-9a-f-]{{36}} Error: Task timed out after {re.escape(seconds)} seconds"


def report_line(answer: dict[str, Any]) -> str:
    [line] = [line for line in log_tail(answer).splitlines() if line.startswith("REPORT RequestId: ")]
    return line


def timed_invoke(client: Any, name: str, event: Any = None) -> tuple[dict[str, Any], Any, float]:
    started = time.monotonic()
    answer, payload = invoke_json(client, name, event, LogType="Tail")
    return answer, payload, time.monotonic() - started


def wait_updated(client: Any, name: str) -> None:
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})


# -- 1. the 10 s init phase ------------------------------------------------------------------------


class InitControl:
    """Tells each init attempt of a function how long its module-level code takes.

    A function asks ``GET /<key>/<environment>``; attempt n of ``key`` gets ``plans[key][n]`` seconds
    (the last entry for later attempts), and ``attempts[key]`` records which environments asked.
    """

    def __init__(self) -> None:
        self.plans: dict[str, list[float]] = {}
        self.attempts: dict[str, list[str]] = defaultdict(list)
        lock = threading.Lock()
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                _, key, environment = self.path.split("/")
                with lock:
                    seen = control.attempts[key]
                    seen.append(environment)
                    plan = control.plans.get(key, [0.0])
                    delay = plan[min(len(seen), len(plan)) - 1]
                body = str(delay).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{key}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# Module-level code (the init phase) asks the test how long this attempt takes, then takes that long.
SLOW_INIT = TAG_CODE + """
import os, time, urllib.request

time.sleep(float(urllib.request.urlopen(os.environ["INIT_CONTROL"] + ENVIRONMENT, timeout=10).read()))


def handler(event, context):
    return {"ok": True, "environment": ENVIRONMENT}
"""


@pytest.fixture
def init_control() -> Iterator[InitControl]:
    control = InitControl()
    yield control
    control.close()


def test_init_over_10_seconds_is_retried_within_the_function_timeout(lambda_client: Any,
                                                                      init_control: InitControl) -> None:
    """AWS limits the Init phase to 10 s; when it does not finish, Lambda re-runs Init as part of the
    first invocation, under the function's own timeout (a "suppressed init",
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html and
    troubleshooting-invocation.html, "Function times out during Init phase (Sandbox.Timedout)").

    Two functions, invoked at once: ``slow_once`` needs 12 s to init the first time and no time the
    second (Timeout 30: the retried init fits, the invoke succeeds); ``never`` needs 60 s every time
    (Timeout 3: the retried init runs out of the function timeout: ``Task timed out after 3.00
    seconds``, ~13 s in all). Then ``never`` gets fixed code and answers.
    """
    slow_once, never = unique_name("init-once"), unique_name("init-never")
    init_control.plans[slow_once] = [12.0, 0.0]
    init_control.plans[never] = [60.0]
    for name, timeout in ((slow_once, 30), (never, 3)):
        create_python_function(lambda_client, SLOW_INIT, name=name, Timeout=timeout,
                               Environment={"Variables": {"INIT_CONTROL": init_control.url(name)}})
    with ThreadPoolExecutor(2) as pool:
        once_future = pool.submit(timed_invoke, lambda_client, slow_once)
        never_future = pool.submit(timed_invoke, lambda_client, never)
        once_answer, once_payload, once_s = once_future.result(timeout=90)
        never_answer, never_payload, never_s = never_future.result(timeout=90)

    # The init that needed 12 s was cut at 10 s, run again within the invoke, and the invoke answered.
    once_attempts = init_control.attempts[slow_once]
    assert "FunctionError" not in once_answer, (once_s, once_payload, log_tail(once_answer))
    assert once_payload["ok"] is True, once_payload
    assert len(once_attempts) == 2, once_attempts
    assert once_payload["environment"] == once_attempts[1], (once_payload, once_attempts)
    assert 9.5 <= once_s < 20, f"the invoke took {once_s:.1f} s (10 s init limit, then a fast retried init)"
    # As on AWS: the cut-off init is reported on its own line, and the REPORT has no Init Duration
    # (the retried init is part of the invocation's Duration).
    assert re.search(r"INIT_REPORT Init Duration: 1\d{4}\.\d\d ms\tPhase: init\tStatus: timeout\n",
                     log_tail(once_answer)), log_tail(once_answer)
    assert "Init Duration" not in report_line(once_answer), report_line(once_answer)
    assert wait_for(lambda: not pids_named(once_attempts[0]), timeout=5), "the cut-off init attempt still runs"

    # The init that never finishes: 10 s, then the retried init times out under the 3 s function timeout.
    never_attempts = init_control.attempts[never]
    assert never_answer["FunctionError"] == "Unhandled", (never_s, never_payload)
    assert never_payload["errorType"] == "Sandbox.Timedout", (never_s, never_payload)
    assert re.fullmatch(timed_out("3.00"), never_payload["errorMessage"]), never_payload
    assert "Task timed out after 3.00 seconds" in log_tail(never_answer), log_tail(never_answer)
    assert "Status: timeout" in report_line(never_answer), report_line(never_answer)
    assert 12.5 <= never_s < 20, f"the invoke took {never_s:.1f} s (expected ~10 s init + 3 s timeout)"
    assert len(never_attempts) == 2, never_attempts
    for environment in never_attempts:
        assert wait_for(lambda env=environment: not pids_named(env), timeout=5), f"init attempt {environment} runs"

    # Fixed code: a fast init, and the next invoke works.
    lambda_client.update_function_code(FunctionName=never, ZipFile=make_zip({
        "app.py": "def handler(event, context):\n    return {'fixed': event}\n"}))
    wait_updated(lambda_client, never)
    answer, payload, seconds = timed_invoke(lambda_client, never, {"n": 1})
    assert "FunctionError" not in answer, payload
    assert payload == {"fixed": {"n": 1}}
    assert seconds < 8, seconds


# -- 2. strict runtimes -----------------------------------------------------------------------------

VERSION = "import platform\n\ndef handler(event, context):\n    return platform.python_version()\n"


def missing_python_runtime() -> tuple[str, list[str]]:
    """A pythonX.Y runtime with no interpreter on this machine, and the ones there are (same
    discovery as the server's: same user, same PATH and PYENV_ROOT)."""
    installed = lamina_runtimes.pythons()
    missing = next(f"python3.{minor}" for minor in range(9, 20) if (3, minor) not in installed)
    return missing, [f"python{major}.{minor}" for major, minor in sorted(installed)]


def test_strict_runtimes_refuses_a_missing_python_and_default_falls_back(
        server: Server, lambda_client: Any, tmp_path: Path) -> None:
    runtime, installed = missing_python_runtime()
    wanted = int(runtime.removeprefix("python3."))
    nearest = min(installed, key=lambda r: (abs(int(r.split(".")[1]) - wanted), -int(r.split(".")[1])))

    # Default: the function runs on the nearest interpreter, and its log says so.
    name = create_python_function(lambda_client, VERSION, Runtime=runtime)
    answer, version = invoke_json(lambda_client, name, LogType="Tail")
    assert "FunctionError" not in answer, version
    assert f"python{version.rsplit('.', 1)[0]}" == nearest, (runtime, version, nearest)
    assert f"lamina: {runtime} is not installed here; running on Python {nearest.removeprefix('python')}" \
        in log_tail(answer), log_tail(answer)

    strict = start_server(tmp_path / "data", env={"LAMINA_STRICT_RUNTIMES": "1"})
    try:
        client = strict.client()
        # Enforced when an environment starts (the runtime is checked on this host at invoke).
        name = create_python_function(client, VERSION, Runtime=runtime)
        with pytest.raises(ClientError) as refused:
            invoke_json(client, name)
        error = refused.value.response
        assert error["Error"]["Code"] == "InvalidRuntimeException", error
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 502, error
        message = error["Error"]["Message"]
        assert message.startswith(f"The runtime {runtime} is not installed on this Lamina host (found: "), message
        assert all(found in message for found in installed), (message, installed)
        # It stays refused (no environment was left half-started), and installed runtimes still run.
        with pytest.raises(ClientError) as again:
            invoke_json(client, name)
        assert again.value.response["Error"]["Code"] == "InvalidRuntimeException"
        own = f"{sys.version_info.major}.{sys.version_info.minor}"  # the server's interpreter: always there
        exact = create_python_function(client, VERSION, Runtime=f"python{own}")
        answer, version = invoke_json(client, exact, LogType="Tail")
        assert "FunctionError" not in answer, version
        assert version.startswith(own + "."), version
        assert "is not installed here" not in log_tail(answer)
    finally:
        strict.stop()


# -- 3. Node.js runtimes ----------------------------------------------------------------------------

NODE_ECHO = """
export const handler = async (event, context) => ({
  event, node: process.version, executionEnv: process.env.AWS_EXECUTION_ENV, requestId: context.awsRequestId,
});
"""


@pytest.fixture(scope="module")
def node_version() -> str:
    node = shutil.which("node")
    assert node is not None, "node is not installed: the nodejs runtimes cannot be tested (CI installs nodejs)"
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x"])
def test_every_nodejs_runtime_runs(lambda_client: Any, node_version: str, runtime: str) -> None:
    name = unique_name(runtime.replace(".", "-"))
    lambda_client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler="index.handler",
                                  Timeout=10, Code={"ZipFile": make_zip({"index.mjs": NODE_ECHO})})
    answer, payload = invoke_json(lambda_client, name, {"runtime": runtime, "list": [1, {"a": None}]},
                                  LogType="Tail")
    assert "FunctionError" not in answer, payload
    assert payload["event"] == {"runtime": runtime, "list": [1, {"a": None}]}
    assert payload["node"] == node_version
    assert payload["executionEnv"] == f"AWS_Lambda_{runtime}"
    assert payload["requestId"] == answer["ResponseMetadata"]["RequestId"]
    # Another major than this host's node runs there anyway, and the log says so; the same major does not.
    substituted = f"lamina: {runtime} is not installed here; running on node {node_version}"
    if node_version.startswith("v" + runtime.removeprefix("nodejs").split(".")[0] + "."):
        assert "is not installed here" not in log_tail(answer), log_tail(answer)
    else:
        assert substituted in log_tail(answer), log_tail(answer)


# -- 4. provided.al2 / provided.al2023 with a POSIX shell bootstrap ------------------------------

SHELL_BOOTSTRAP = """#!/bin/sh
# A custom runtime in POSIX shell: the Runtime API over curl, one invocation per loop.
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
HEADERS=/tmp/next-headers
count=0
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/next")
  REQUEST_ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  count=$((count + 1))
  printf '{"echo": %s, "count": %d, "request_id": "%s", "handler": "%s", "shell_pid": %d}' \\
    "$EVENT" "$count" "$REQUEST_ID" "$_HANDLER" "$$" |
    curl -sS -o /dev/null -X POST --data-binary @- "$API/$REQUEST_ID/response"
done
"""


@pytest.mark.parametrize("runtime", ["provided.al2", "provided.al2023"])
def test_provided_shell_bootstrap_with_curl_serves_invocations_in_a_loop(lambda_client: Any, runtime: str) -> None:
    assert shutil.which("curl") is not None, "curl is not installed: the shell bootstrap needs it"
    name = unique_name(runtime.replace(".", "-"))
    lambda_client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler="function.handler",
                                  Timeout=10, Code={"ZipFile": make_zip({"bootstrap": SHELL_BOOTSTRAP},
                                                                        {"bootstrap": 0o755})})
    results = []
    for i in (1, 2):
        answer, payload = invoke_json(lambda_client, name, {"i": i, "text": "hi there"}, LogType="Tail")
        assert "FunctionError" not in answer, (payload, log_tail(answer))
        assert answer["StatusCode"] == 200
        assert payload["request_id"] == answer["ResponseMetadata"]["RequestId"], payload
        results.append(payload)
    first, second = results
    assert first["echo"] == {"i": 1, "text": "hi there"} and second["echo"] == {"i": 2, "text": "hi there"}
    assert first["handler"] == "function.handler"
    # One shell process served both: its loop went round, with its counter.
    assert (first["count"], second["count"]) == (1, 2)
    assert first["shell_pid"] == second["shell_pid"]


# -- 5. a CPU-bound handler hitting its timeout -----------------------------------------------------

BUSY = BEACON_CODE + TAG_CODE + """
def handler(event, context):
    if event.get("spin"):
        beacon(event["beacon"], spinning=ENVIRONMENT)
        while True:
            pass
    return {"ok": True, "environment": ENVIRONMENT}
"""

BYSTANDER = "def handler(event, context):\n    return {'still': 'here', 'n': event.get('n')}\n"


def test_cpu_busy_loop_times_out_and_is_killed(lambda_client: Any, beacon: Beacon) -> None:
    name = create_python_function(lambda_client, BUSY, Timeout=2)
    bystander = create_python_function(lambda_client, BYSTANDER)
    answer, payload = invoke_json(lambda_client, name)
    assert "FunctionError" not in answer, payload
    environment = payload["environment"]
    pid = pid_named(environment)
    assert invoke_json(lambda_client, bystander, {"n": 0})[1] == {"still": "here", "n": 0}  # warm

    with ThreadPoolExecutor(1) as pool:
        spinning = pool.submit(timed_invoke, lambda_client, name, {"spin": True, "beacon": beacon.url})
        beacon.wait(lambda m: m.get("spinning") == environment, timeout=10)
        # Meanwhile, with the loop burning a core, another function answers.
        assert invoke_json(lambda_client, bystander, {"n": 1})[1] == {"still": "here", "n": 1}
        assert not spinning.done(), "the busy invocation ended before its 2 s timeout"
        answer, payload, seconds = spinning.result(timeout=60)

    assert answer["FunctionError"] == "Unhandled", payload
    assert payload["errorType"] == "Sandbox.Timedout", payload
    assert re.fullmatch(timed_out("2.00"), payload["errorMessage"]), payload["errorMessage"]
    assert "Task timed out after 2.00 seconds" in log_tail(answer)
    assert "Status: timeout" in report_line(answer), report_line(answer)
    assert 1.9 <= seconds < 6, f"the busy invocation took {seconds:.1f} s with Timeout=2"
    assert wait_for(lambda: not process_alive(pid), timeout=5), f"the spinning environment {pid} still runs"

    # Afterwards: the same function answers from a new environment, and so does the other one.
    answer, payload = invoke_json(lambda_client, name)
    assert "FunctionError" not in answer, payload
    assert payload["ok"] is True and payload["environment"] != environment
    assert invoke_json(lambda_client, bystander, {"n": 2})[1] == {"still": "here", "n": 2}
