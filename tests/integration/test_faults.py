"""Timeouts and crashes: AWS's error for each, the environment is gone, the next invoke works."""

from __future__ import annotations

import os
import re
import signal
import urllib.request
from base64 import b64decode
from typing import Any

import pytest

from tests.conftest import (
    TAG_CODE,
    Server,
    create_python_function,
    invoke_json,
    make_zip,
    pid_named,
    process_alive,
    processes_with_env,
    wait_for,
)

# ENVIRONMENT (TAG_CODE) names the environment and its process, so the test can find it from outside.
FAULTY = TAG_CODE + """
import os, subprocess, sys, time

def handler(event, context):
    if event.get("grandchild"):
        subprocess.Popen(["sleep", "1000"])  # outlives this invocation, not its environment
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "exit":
        sys.exit(event["code"])
    elif action == "abort":
        os.abort()
    elif action == "kill":
        os.kill(os.getpid(), 9)
    elif action == "segfault":
        import ctypes
        ctypes.string_at(0)
    return {"ok": True, "environment": ENVIRONMENT}
"""

SIMPLE = "def handler(event, context):\n    return {'still': 'here', 'n': event.get('n')}\n"


@pytest.fixture(scope="module")
def bystander(server: Server) -> str:
    """Another function that must keep answering whatever happens to the faulty ones."""
    return create_python_function(server.client(), SIMPLE)


def warm_environment(client: Any, name: str, **event: Any) -> tuple[str, int]:
    """Start an environment with a harmless invocation; its name and its pid as seen from here."""
    answer, payload = invoke_json(client, name, {"action": "none", **event})
    assert "FunctionError" not in answer, payload
    pid = pid_named(payload["environment"])
    return payload["environment"], pid


def assert_recovers(client: Any, name: str, bystander: str, dead: str) -> None:
    answer, payload = invoke_json(client, name, {"action": "none"})
    assert "FunctionError" not in answer, payload
    assert payload["ok"] is True and payload["environment"] != dead
    answer, payload = invoke_json(client, bystander, {"n": 7})
    assert "FunctionError" not in answer and payload == {"still": "here", "n": 7}


def test_timeout_kills_the_environment(lambda_client: Any, bystander: str) -> None:
    name = create_python_function(lambda_client, FAULTY, Timeout=1)
    environment, pid = warm_environment(lambda_client, name)
    answer, payload = invoke_json(lambda_client, name, {"action": "sleep", "seconds": 5}, LogType="Tail")
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds",
                        payload["errorMessage"]), payload["errorMessage"]
    tail = b64decode(answer["LogResult"]).decode()
    assert "Task timed out after 1.00 seconds" in tail
    assert "Status: timeout" in tail
    assert wait_for(lambda: not process_alive(pid), timeout=5), "the timed-out environment still runs"
    assert_recovers(lambda_client, name, bystander, environment)


def test_timeout_kills_grandchildren_too(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, FAULTY, Timeout=1)
    _, pid = warm_environment(lambda_client, name, grandchild=True)
    # The environment's child inherited the function's variables, which is how it is found from here.
    [grandchild] = [p for p in processes_with_env(f"AWS_LAMBDA_FUNCTION_NAME={name}") if p != pid]
    _, payload = invoke_json(lambda_client, name, {"action": "sleep", "seconds": 5})
    assert payload["errorType"] == "Sandbox.Timedout"
    assert wait_for(lambda: not process_alive(pid), timeout=5)
    assert wait_for(lambda: not process_alive(grandchild), timeout=5), \
        f"the environment's child process {grandchild} (sleep 1000) outlived it"


@pytest.mark.parametrize(("event", "reason"), [
    pytest.param({"action": "exit", "code": 3}, "Runtime exited with error: exit status 3", id="sys-exit-3"),
    pytest.param({"action": "exit", "code": 0}, "Runtime exited without providing a reason", id="sys-exit-0"),
    pytest.param({"action": "abort"}, "Runtime exited with error: signal: aborted", id="abort"),
    pytest.param({"action": "kill"}, "Runtime exited with error: signal: killed", id="sigkill"),
    pytest.param({"action": "segfault"}, "Runtime exited with error: signal: segmentation fault", id="segfault"),
])
def test_crash_is_an_exit_error_and_the_environment_is_replaced(
        lambda_client: Any, bystander: str, event: dict[str, Any], reason: str) -> None:
    name = create_python_function(lambda_client, FAULTY)
    environment, pid = warm_environment(lambda_client, name)
    answer, payload = invoke_json(lambda_client, name, event, LogType="Tail")
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(rf"RequestId: [0-9a-f-]{{36}} Error: {re.escape(reason)}", payload["errorMessage"]), \
        payload["errorMessage"]
    assert reason in b64decode(answer["LogResult"]).decode()
    assert wait_for(lambda: not process_alive(pid), timeout=5)
    assert_recovers(lambda_client, name, bystander, environment)  # a new environment took its place


def test_exit_during_init(lambda_client: Any, bystander: str) -> None:
    name = create_python_function(lambda_client, "import sys\nsys.exit(5)\n")
    for _ in range(2):
        answer, payload = invoke_json(lambda_client, name)
        assert answer["FunctionError"] == "Unhandled"
        assert payload["errorType"] == "Runtime.ExitError"
        assert payload["errorMessage"].endswith("Runtime exited with error: exit status 5")
    assert invoke_json(lambda_client, bystander, {"n": 1})[1] == {"still": "here", "n": 1}


def test_killed_from_outside_between_invocations(lambda_client: Any, bystander: str) -> None:
    name = create_python_function(lambda_client, FAULTY)
    environment, pid = warm_environment(lambda_client, name)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not process_alive(pid), timeout=5)
    # The dead idle environment is not handed the next invocation.
    assert_recovers(lambda_client, name, bystander, environment)


PAUSED = re.compile(r"\[lamina: this environment started after a (\d+\.\d\d) s pause: the function's "
                    r"environments keep dying \(crash-loop backoff\)\]")


def test_a_crash_loop_is_slowed_and_its_log_says_so(server: Server, lambda_client: Any, bystander: str) -> None:
    """Two deaths in a row are free; then each new environment of that function waits (10 ms,
    doubling) and the invocation's log says how long. An environment that survives an invocation, or
    new code, ends the streak; other functions never wait."""
    name = create_python_function(lambda_client, FAULTY)

    def invoke(action: str) -> tuple[Any, float]:
        answer, payload = invoke_json(lambda_client, name, {"action": action, "code": 1}, LogType="Tail")
        found = PAUSED.search(b64decode(answer["LogResult"]).decode())
        return payload, float(found.group(1)) if found else 0.0

    def crashes(count: int) -> list[float]:
        pauses = []
        for _ in range(count):
            payload, paused = invoke("exit")
            assert payload["errorType"] == "Runtime.ExitError", payload
            pauses.append(paused)
        return pauses

    assert crashes(5) == [0.0, 0.0, 0.0, 0.01, 0.02]
    metrics = urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=10).read().decode()
    assert f'lamina_crash_loop_pause_seconds{{region="us-east-1",function="{name}"}} 0.04' in metrics, metrics
    assert f'function="{bystander}"' not in metrics.split("lamina_crash_loop_pause_seconds", 1)[1].split("# HELP")[0]
    answer, payload = invoke_json(lambda_client, bystander, {"n": 2}, LogType="Tail")
    assert payload == {"still": "here", "n": 2} and not PAUSED.search(b64decode(answer["LogResult"]).decode())

    payload, paused = invoke("none")  # its environment started after 40 ms, and survives
    assert payload["ok"] is True and paused == 0.04
    assert crashes(4) == [0.0, 0.0, 0.0, 0.01]  # the first reuses that warm environment

    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "# v2\n" + FAULTY}))
    assert crashes(4) == [0.0, 0.0, 0.0, 0.01]
