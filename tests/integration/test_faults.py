"""Timeouts and crashes: AWS's error for each, the environment is gone, the next invoke works."""

from __future__ import annotations

import json
import os
import re
import signal
from base64 import b64decode
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, create_python_function, invoke_json, process_alive, wait_for

# Writes its pid (and its children's) to the folder the event names before doing what it is told,
# because a failed invocation returns no payload to read them from.
FAULTY = """
import json, os, subprocess, sys, time

def handler(event, context):
    pids = {"pid": os.getpid()}
    if event.get("grandchild"):
        pids["grandchild"] = subprocess.Popen(["sleep", "1000"]).pid
    if event.get("dir"):
        with open(os.path.join(event["dir"], context.aws_request_id + ".json"), "w") as out:
            json.dump(pids, out)
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
    return {"ok": True, "pid": os.getpid()}
"""

SIMPLE = "def handler(event, context):\n    return {'still': 'here', 'n': event.get('n')}\n"


@pytest.fixture(scope="module")
def bystander(server: Server) -> str:
    """Another function that must keep answering whatever happens to the faulty ones."""
    return create_python_function(server.client(), SIMPLE)


def pids_written(folder: Path) -> dict[str, int]:
    assert wait_for(lambda: any(folder.glob("*.json")), timeout=5)
    files = list(folder.glob("*.json"))
    assert len(files) == 1
    return dict(json.loads(files[0].read_text()))


def assert_recovers(client: Any, name: str, bystander: str, dead_pid: int) -> None:
    answer, payload = invoke_json(client, name, {"action": "none"})
    assert "FunctionError" not in answer, payload
    assert payload["ok"] is True and payload["pid"] != dead_pid
    answer, payload = invoke_json(client, bystander, {"n": 7})
    assert "FunctionError" not in answer and payload == {"still": "here", "n": 7}


def test_timeout_kills_the_environment(lambda_client: Any, bystander: str, tmp_path: Path) -> None:
    name = create_python_function(lambda_client, FAULTY, Timeout=1)
    answer, payload = invoke_json(lambda_client, name, {"action": "sleep", "seconds": 5, "dir": str(tmp_path)},
                                  LogType="Tail")
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds",
                        payload["errorMessage"]), payload["errorMessage"]
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    tail = b64decode(answer["LogResult"]).decode()
    assert "Task timed out after 1.00 seconds" in tail
    assert "Status: timeout" in tail

    pid = pids_written(tmp_path)["pid"]
    assert wait_for(lambda: not process_alive(pid), timeout=5), "the timed-out environment still runs"
    assert_recovers(lambda_client, name, bystander, pid)


def test_timeout_kills_grandchildren_too(lambda_client: Any, tmp_path: Path) -> None:
    name = create_python_function(lambda_client, FAULTY, Timeout=1)
    _, payload = invoke_json(lambda_client, name, {"action": "sleep", "seconds": 5, "grandchild": True,
                                                   "dir": str(tmp_path)})
    assert payload["errorType"] == "Sandbox.Timedout"
    pids = pids_written(tmp_path)
    assert wait_for(lambda: not process_alive(pids["pid"]), timeout=5)
    assert wait_for(lambda: not process_alive(pids["grandchild"]), timeout=5), \
        f"the environment's child process {pids['grandchild']} (sleep 1000) outlived it"


@pytest.mark.parametrize(("event", "reason"), [
    pytest.param({"action": "exit", "code": 3}, "Runtime exited with error: exit status 3", id="sys-exit-3"),
    pytest.param({"action": "exit", "code": 0}, "Runtime exited without providing a reason", id="sys-exit-0"),
    pytest.param({"action": "abort"}, "Runtime exited with error: signal: aborted", id="abort"),
    pytest.param({"action": "kill"}, "Runtime exited with error: signal: killed", id="sigkill"),
    pytest.param({"action": "segfault"}, "Runtime exited with error: signal: segmentation fault", id="segfault"),
])
def test_crash_is_an_exit_error_and_the_environment_is_replaced(
        lambda_client: Any, bystander: str, tmp_path: Path, event: dict[str, Any], reason: str) -> None:
    name = create_python_function(lambda_client, FAULTY)
    warm = invoke_json(lambda_client, name, {"action": "none"})[1]["pid"]
    answer, payload = invoke_json(lambda_client, name, {**event, "dir": str(tmp_path)}, LogType="Tail")
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(rf"RequestId: [0-9a-f-]{{36}} Error: {re.escape(reason)}", payload["errorMessage"]), \
        payload["errorMessage"]
    assert reason in b64decode(answer["LogResult"]).decode()
    pid = pids_written(tmp_path)["pid"]
    assert pid == warm  # the crash happened in the warm environment ...
    assert wait_for(lambda: not process_alive(pid), timeout=5)
    assert_recovers(lambda_client, name, bystander, pid)  # ... and a new one took its place


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
    pid = invoke_json(lambda_client, name, {"action": "none"})[1]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not process_alive(pid), timeout=5)
    # The dead idle environment is not handed the next invocation.
    assert_recovers(lambda_client, name, bystander, pid)
