"""The event loop runs under SCHED_FIFO where the machine allows it, and nothing else does
(lamina.priority): not the server's other threads, not its zygotes, environments or telemetry
process, not a function's own children. Beside a real-time loop the telemetry process keeps to the
loop's core (lamina.observability.link); beside a normal one it may run anywhere."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.conftest import (
    Server,
    create_python_function,
    descendants,
    doctor_report,
    invoke_json,
    start_server,
    wait_for,
)
from tests.integration.test_telemetry_process import telemetry_pids

REALTIME = os.SCHED_FIFO | os.SCHED_RESET_ON_FORK

POLICIES = '''
import os, subprocess, sys

def handler(event, context):
    child = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                           capture_output=True, text=True, check=True).stdout
    return {"runtime": os.sched_getscheduler(0), "child": int(child)}
'''


def _doctor_says() -> dict[str, str]:
    realtime: dict[str, str] = doctor_report()["server"]["realtime"]
    return realtime


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _core(pid: int) -> int:
    """The core ``pid``'s main thread last ran on."""
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[36])


def _telemetry_affinity(server: Server) -> set[int]:
    assert wait_for(lambda: len(telemetry_pids(server)) == 1, timeout=10), "no telemetry process"
    [pid] = telemetry_pids(server)
    return os.sched_getaffinity(pid)


def _policy(tid: int) -> int | None:
    try:
        return os.sched_getscheduler(tid)
    except OSError:  # gone meanwhile
        return None


def test_only_the_event_loop_is_realtime(server: Server, lambda_client: Any) -> None:
    realtime = _doctor_says()
    assert realtime["state"] in ("on", "unavailable"), realtime
    expected = REALTIME if realtime["state"] == "on" else os.SCHED_OTHER
    assert f"Scheduling ({realtime['state']})" in server.log()

    name = create_python_function(lambda_client, POLICIES)
    answer, policies = invoke_json(lambda_client, name, {})
    assert "FunctionError" not in answer, policies
    # Reset on fork: the zygote's children and theirs run under the normal policy.
    assert policies == {"runtime": os.SCHED_OTHER, "child": os.SCHED_OTHER}

    loop = server.process.pid
    assert os.sched_getscheduler(loop) == expected
    if expected == REALTIME:
        assert os.sched_getparam(loop).sched_priority == 1
    others = [tid for tid in _threads(loop) if tid != loop]
    below = [tid for pid in descendants(loop) for tid in _threads(pid)]
    assert below, "the server started no process (zygote, environment, telemetry)"
    fixed = (os.SCHED_FIFO, os.SCHED_RR)
    raised = {tid: policy for tid in others + below
              if (policy := _policy(tid)) is not None and policy & ~os.SCHED_RESET_ON_FORK in fixed}
    assert raised == {}, f"real-time besides the event loop: {raised}"


def test_the_telemetry_process_keeps_to_a_realtime_loops_core(server: Server, lambda_client: Any) -> None:
    realtime = _doctor_says()
    name = create_python_function(lambda_client, POLICIES)
    invoke_json(lambda_client, name, {})   # starts the telemetry process if nothing has yet
    every_core = os.sched_getaffinity(0)
    if realtime["state"] != "on" or len(every_core) == 1:
        assert _telemetry_affinity(server) == every_core
        return
    loop = server.process.pid
    _telemetry_affinity(server)             # waits for the process

    def held() -> bool:
        """Every thread of it (it writes logs from a thread pool) on the loop's core, which the
        server checks every 0.25 s; the loop itself may move meanwhile."""
        [pid] = telemetry_pids(server)
        return {frozenset(os.sched_getaffinity(tid)) for tid in _threads(pid)} == {frozenset({_core(loop)})}

    assert wait_for(held, timeout=5), (_telemetry_affinity(server), _core(loop))


def test_turned_off_the_loop_is_scheduled_normally(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env={"LAMINA_REALTIME": "0"})
    try:
        assert os.sched_getscheduler(server.process.pid) == os.SCHED_OTHER
        said = "Scheduling (off): turned off by LAMINA_REALTIME"
        assert wait_for(lambda: said in server.log(), timeout=5), server.log()
        client = server.client()
        invoke_json(client, create_python_function(client, POLICIES), {})
        time.sleep(0.6)     # two of the server's ticks, at which it would hold the process to a core
        assert _telemetry_affinity(server) == os.sched_getaffinity(0)
    finally:
        assert server.stop() == 0
    realtime = doctor_report({"LAMINA_REALTIME": "off"})["server"]["realtime"]
    assert realtime == {"state": "off", "reason": "turned off by LAMINA_REALTIME"}
