"""The telemetry process: logs, metrics and usage records are kept by a child of the server at the
idle scheduling priority, started by the first invocation or query (or 5 s after the server). It is replaced
when it dies, it stops with the server (clean stop, Ctrl-C of the whole process group, kill -9 of
the server), and a clean stop loses nothing."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

from tests.conftest import (
    Server,
    children_of,
    create_python_function,
    invoke_json,
    process_alive,
    start_server,
    wait_for,
)

HELLO = """
def handler(event, context):
    print("hello", event["n"])
    return event["n"]
"""


def telemetry_pids(server: Server) -> list[int]:
    found = []
    for pid in children_of(server.process.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"lamina.observability.worker" in command:
            found.append(pid)
    return found


def messages(server: Server, name: str) -> list[str]:
    logs = server.client("logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    return [event["message"] for event in events]


def prometheus(server: Server) -> str:
    with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=10) as answer:
        text: str = answer.read().decode()
    return text


def invocations_of(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("lamina_invocations_total{") and f'function="{name}"' in line)


def test_telemetry_is_an_idle_priority_child_and_answers_queries(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        assert wait_for(lambda: len(telemetry_pids(server)) == 1, timeout=10), "no telemetry process"
        [pid] = telemetry_pids(server)
        # SCHED_IDLE: a core running only it counts as idle when environments wake (see link.lower).
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        name = create_python_function(client, HELLO)
        for n in range(3):
            invoke_json(client, name, {"n": n})
        # Read right after the answers: the batch still in the server goes ahead of the query.
        assert [m for m in messages(server, name) if m.startswith("hello")] == ["hello 0\n", "hello 1\n", "hello 2\n"]
        text = prometheus(server)
        assert invocations_of(text, name) == 3
        # The server's own gauges are in the same exposition.
        assert "lamina_idle_environments " in text and "lamina_build_info{" in text
        # Raised to an ordinary process while a query waits, idle again once answered.
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
    finally:
        server.stop(signal.SIGKILL)


def test_a_killed_telemetry_process_is_replaced(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        name = create_python_function(client, HELLO)
        invoke_json(client, name, {"n": 1})
        assert wait_for(lambda: len(telemetry_pids(server)) == 1, timeout=10)
        [first] = telemetry_pids(server)
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: telemetry_pids(server) not in ([], [first]), timeout=15), "not replaced"
        # Invocations keep answering while it is away, and what comes after is kept again.
        answer, payload = invoke_json(client, name, {"n": 2})
        assert payload == 2 and "FunctionError" not in answer

        def shows_second() -> bool:
            try:
                return "hello 2\n" in messages(server, name)
            except Exception:
                return False

        assert wait_for(shows_second, timeout=15)
        assert "the telemetry process exited" in server.log()
        assert server.process.poll() is None
    finally:
        server.stop(signal.SIGKILL)


def test_ctrl_c_of_the_process_group_keeps_every_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    name = ""
    try:
        client = server.client()
        name = create_python_function(client, HELLO)
        for n in range(5):
            invoke_json(client, name, {"n": n})
        # Started by the first batch of rows (or a query, or 5 s after the server).
        assert wait_for(lambda: len(telemetry_pids(server)) == 1, timeout=10)
        [pid] = telemetry_pids(server)
        # A terminal's Ctrl-C reaches every process of the foreground group: the telemetry process
        # is in a group of its own, so it lives until the server has handed it the last batch.
        assert os.getpgid(pid) != os.getpgid(server.process.pid)
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=60) in (0, 130)
        assert wait_for(lambda: not process_alive(pid), timeout=10), "telemetry process outlived the server"
    finally:
        server.stop(signal.SIGKILL)
    again = start_server(data)
    try:
        assert [m for m in messages(again, name) if m.startswith("hello")] == [f"hello {n}\n" for n in range(5)]
        with urllib.request.urlopen(f"{again.endpoint}/_lamina/usage?function={name}", timeout=10) as answer:
            assert answer.read().count(b'"request_id"') == 5
    finally:
        again.stop(signal.SIGKILL)


def test_killed_server_takes_the_telemetry_process_with_it(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        assert wait_for(lambda: len(telemetry_pids(server)) == 1, timeout=10)
        [pid] = telemetry_pids(server)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        assert wait_for(lambda: not process_alive(pid), timeout=15), "telemetry process outlived a killed server"
    finally:
        server.stop(signal.SIGKILL)


def test_the_telemetry_process_starts_with_the_first_invocation(tmp_path: Path) -> None:
    # Lazily: its imports would otherwise compete with the first cold start. Rows made before it
    # runs are kept and written.
    server = start_server(tmp_path / "data", env={"LAMINA_TELEMETRY_SPAWN_AFTER": "120"})
    try:
        client = server.client()
        assert telemetry_pids(server) == []
        name = create_python_function(client, HELLO)
        invoke_json(client, name, {"n": 7})
        assert wait_for(lambda: len(telemetry_pids(server)) == 1, timeout=10)
        assert "hello 7\n" in messages(server, name)
    finally:
        server.stop(signal.SIGKILL)
