"""SIGTERM: in-flight invocations finish, the server exits 0, no environment process is left."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from tests.conftest import (
    BEACON_CODE,
    TAG_CODE,
    Beacon,
    children_of,
    create_python_function,
    invoke_json,
    pid_named,
    process_alive,
    processes_with_env,
    start_server,
    wait_for,
)

SLOW = TAG_CODE + BEACON_CODE + """
import subprocess, time

def handler(event, context):
    if event.get("grandchild"):
        subprocess.Popen(["sleep", "1000"])
    if event.get("beacon"):
        beacon(event["beacon"], environment=ENVIRONMENT)
    time.sleep(event.get("sleep", 0))
    return {"slept": event.get("sleep", 0), "environment": ENVIRONMENT}
"""


def environment_pid(client: Any, name: str, **event: Any) -> int:
    return pid_named(invoke_json(client, name, event)[1]["environment"])


def test_sigterm_lets_the_in_flight_invocation_finish(tmp_path: Path, beacon: Beacon) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        slow = create_python_function(client, SLOW)
        idle = create_python_function(client, SLOW)
        idle_pid = environment_pid(client, idle, grandchild=True)  # a warm, idle environment ...
        [grandchild] = processes_with_env(f"AWS_LAMBDA_FUNCTION_NAME={idle}")  # ... with a child of its own
        helpers = children_of(server.process.pid)  # the zygote(s) that start environments
        assert helpers

        result: dict[str, Any] = {}

        def call() -> None:
            try:
                result["answer"] = invoke_json(client, slow, {"sleep": 2, "beacon": beacon.url})
            except Exception as error:
                result["error"] = error

        caller = threading.Thread(target=call)
        caller.start()
        [started] = beacon.wait()
        busy_pid = pid_named(started["environment"])

        server.process.send_signal(signal.SIGTERM)
        caller.join(timeout=30)
        assert not caller.is_alive()
        assert "error" not in result, result.get("error")
        answer, payload = result["answer"]
        assert "FunctionError" not in answer
        assert payload == {"slept": 2, "environment": started["environment"]}

        status = server.process.wait(timeout=30)
        for pid in (busy_pid, idle_pid, grandchild, *helpers):
            assert wait_for(lambda pid=pid: not process_alive(pid), timeout=5), f"process {pid} outlived the server"
        assert status == 0, f"exit status {status} after a clean shutdown:\n{server.log()}"
    finally:
        server.stop(signal.SIGKILL)


def test_sigint_stops_the_server_and_its_environments(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        pid = environment_pid(client, create_python_function(client, SLOW))
        server.process.send_signal(signal.SIGINT)
        status = server.process.wait(timeout=30)
        assert wait_for(lambda: not process_alive(pid), timeout=5)
        # Ctrl-C: a normal exit, 0 or the shell's 130, not death by the signal (-2) or a traceback.
        assert status in (0, 130), status
        assert "Traceback" not in server.log()
    finally:
        server.stop(signal.SIGKILL)


def test_killed_server_leaves_no_environment(tmp_path: Path) -> None:
    # Even without a clean shutdown (kill -9), environments die with the server.
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        name = create_python_function(client, SLOW)
        pid = environment_pid(client, name, grandchild=True)
        [grandchild] = processes_with_env(f"AWS_LAMBDA_FUNCTION_NAME={name}")
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        for leftover in (pid, grandchild):
            assert wait_for(lambda leftover=leftover: not process_alive(leftover), timeout=5), \
                f"process {leftover} outlived a killed server"
    finally:
        server.stop(signal.SIGKILL)
