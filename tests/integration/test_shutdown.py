"""SIGTERM: in-flight invocations finish, the server exits 0, no environment process is left."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

from tests.conftest import (
    create_python_function,
    invoke_json,
    process_alive,
    processes_with_env,
    start_server,
    wait_for,
)

SLOW = """
import json, os, time

def handler(event, context):
    if event.get("dir"):
        with open(os.path.join(event["dir"], "started.json"), "w") as out:
            json.dump({"pid": os.getpid()}, out)
    time.sleep(event.get("sleep", 0))
    return {"slept": event.get("sleep", 0), "pid": os.getpid()}
"""


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_sigterm_lets_the_in_flight_invocation_finish(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        slow = create_python_function(client, SLOW)
        idle = create_python_function(client, SLOW)
        idle_pid = invoke_json(client, idle)[1]["pid"]  # a warm, idle environment
        helpers = children_of(server.process.pid)  # the zygote(s) that fork environments
        assert helpers

        result: dict[str, Any] = {}

        def call() -> None:
            try:
                result["answer"] = invoke_json(client, slow, {"sleep": 2, "dir": str(tmp_path)})
            except Exception as error:
                result["error"] = error

        caller = threading.Thread(target=call)
        caller.start()
        started = tmp_path / "started.json"
        assert wait_for(lambda: started.exists() and started.read_text().endswith("}"), timeout=10)
        busy_pid = json.loads(started.read_text())["pid"]

        server.process.send_signal(signal.SIGTERM)
        caller.join(timeout=30)
        assert not caller.is_alive()
        assert "error" not in result, result.get("error")
        answer, payload = result["answer"]
        assert "FunctionError" not in answer
        assert payload == {"slept": 2, "pid": busy_pid}

        status = server.process.wait(timeout=30)
        for pid in (busy_pid, idle_pid, *helpers):
            assert wait_for(lambda pid=pid: not process_alive(pid), timeout=5), f"process {pid} outlived the server"
        for name in (slow, idle):
            assert processes_with_env(f"AWS_LAMBDA_FUNCTION_NAME={name}") == []
        assert status == 0, f"exit status {status} after a clean shutdown:\n{server.log()}"
    finally:
        server.stop(signal.SIGKILL)


def test_sigint_stops_the_server_and_its_environments(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        name = create_python_function(client, SLOW)
        pid = invoke_json(client, name)[1]["pid"]
        server.process.send_signal(signal.SIGINT)
        status = server.process.wait(timeout=30)
        assert wait_for(lambda: not process_alive(pid), timeout=5)
        assert processes_with_env(f"AWS_LAMBDA_FUNCTION_NAME={name}") == []
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
        pid = invoke_json(client, name)[1]["pid"]
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        assert wait_for(lambda: not process_alive(pid), timeout=5), "an environment outlived a killed server"
        assert wait_for(lambda: processes_with_env(f"AWS_LAMBDA_FUNCTION_NAME={name}") == [], timeout=5)
    finally:
        server.stop(signal.SIGKILL)
