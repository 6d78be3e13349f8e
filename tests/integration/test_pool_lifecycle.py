"""The warm pool's life cycle, seen from outside: what stops idle environments and zygotes, and the
CPU share each environment gets.

- keep-alive: idle environments are stopped ``LAMINA_KEEP_ALIVE`` seconds after their last use;
- zygotes: an interpreter's zygote with no environments, unused for the keep-alive, exits, except
  the default interpreter's (``Spawner.reap_idle``);
- memory pressure: below ``LAMINA_MIN_AVAILABLE_MB`` available, a cold start first stops idle
  environments, least recently used first (``Invoker._relieve_memory_pressure``);
- CPU: an environment's cgroup gets a CPU share proportional to its memory, 1,769 MB = one vCPU
  (``jail.Cgroups``).

Each test starts its own server with the settings it needs. These need root (cgroups, namespaces),
as the isolation tests do: without them a test fails with the doctor's reason.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from base64 import b64decode
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lamina.invoker import runtimes
from lamina.invoker.invoker import available_memory_mb
from lamina.sandbox import jail
from tests.conftest import (
    BEACON_CODE,
    TAG_CODE,
    Beacon,
    Server,
    children_of,
    create_python_function,
    http_request,
    invoke_json,
    parallel_invokes,
    pid_named,
    process_alive,
    start_server,
    wait_for,
)
from tests.integration.test_isolation import _require, features  # noqa: F401 - a fixture

# ENVIRONMENT (TAG_CODE) names each execution environment and its runtime process, so the test finds
# the process from outside; the beacon says which environments are running an invocation right now.
TAGGED = TAG_CODE + BEACON_CODE + """
import time

def handler(event, context):
    if event.get("beacon"):
        beacon(event["beacon"], environment=ENVIRONMENT)
    time.sleep(event.get("sleep", 0))
    return {"environment": ENVIRONMENT, "echo": event.get("echo"), "memory": context.memory_limit_in_mb}
"""

INIT_DURATION = re.compile(r"^REPORT RequestId: .*\tInit Duration: \d+\.\d\d ms\t", re.MULTILINE)
REPORT = re.compile(r"^REPORT RequestId: ", re.MULTILINE)


# -- helpers ----------------------------------------------------------------------------------


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def _zygotes(server: Server) -> dict[int, str]:
    """The server's zygote processes: pid -> the interpreter each runs."""
    found = {}
    for pid in children_of(server.process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if process_alive(pid) and any(arg.endswith(b"zygote.py") for arg in argv):
            found[pid] = argv[0].decode()
    return found


def _environment_processes(environment: str) -> set[int]:
    """The runtime process of a tagged environment and its PID namespace's init: both children of
    the zygote, the init the one in the runtime's PID namespace."""
    runtime = pid_named(environment)
    namespace = os.readlink(f"/proc/{runtime}/ns/pid")
    [init] = [pid for pid in children_of(_parent(runtime))
              if pid != runtime and os.readlink(f"/proc/{pid}/ns/pid") == namespace]
    return {runtime, init}


def _start_running(client: Any, name: str, beacon: Beacon, sleeps: list[float]) -> tuple[Any, dict[str, set[int]]]:
    """Invoke ``name`` once per sleep, all at once; return the pending results and, found while the
    invocations run (so certainly alive), each environment's processes by environment name."""
    pool = ThreadPoolExecutor(len(sleeps))
    pending = pool.submit(parallel_invokes, client, name, [{"beacon": beacon.url, "sleep": s} for s in sleeps])
    pool.shutdown(wait=False)
    running = beacon.wait(count=len(sleeps), timeout=30)
    environments = {message["environment"] for message in running}
    assert len(environments) == len(sleeps), f"concurrent invocations shared environments: {running}"
    return pending, {environment: _environment_processes(environment) for environment in environments}


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if process_alive(pid)}


def _healthy(server: Server) -> None:
    assert server.process.poll() is None, server.log()
    assert http_request(server, "GET", "/_lamina/health").status == 200


# -- keep-alive ----------------------------------------------------------------------------------


def test_keep_alive_reaps_every_idle_environment(tmp_path: Path, beacon: Beacon,
                                                 features: dict[str, Any]) -> None:  # noqa: F811
    _require(features, "namespaces")
    keep_alive = 2.0
    server = start_server(tmp_path / "data", env={"LAMINA_KEEP_ALIVE": str(keep_alive)})
    try:
        client = server.client(max_pool_connections=8)
        name = create_python_function(client, TAGGED)
        pending, environments = _start_running(client, name, beacon, [1.5, 1.5, 1.5])
        results = pending.result(timeout=60)
        returned = time.monotonic()
        everything = set().union(*environments.values())
        assert len(everything) == 2 * len(environments), environments  # a runtime and an init each
        assert {r["environment"] for r in results} == set(environments)
        # Warm for the keep-alive: still there right after the invocations.
        assert _alive(everything) == everything, "environments were stopped before the keep-alive passed"

        # Then gone, every process of every environment, soon after the keep-alive.
        assert wait_for(lambda: not _alive(everything), timeout=keep_alive + 6), \
            f"still running {time.monotonic() - returned:.1f} s after the last use: {_alive(everything)}"
        assert time.monotonic() - returned >= keep_alive - 0.5, "reaped before the keep-alive"
        _healthy(server)

        # The next invocation is a cold start, in a new environment.
        answer, payload = invoke_json(client, name, {"echo": "again"}, LogType="Tail")
        assert "FunctionError" not in answer, payload
        assert payload["echo"] == "again"
        assert payload["environment"] not in environments
        tail = b64decode(answer["LogResult"]).decode()
        assert INIT_DURATION.search(tail), f"no Init Duration (not a cold start?):\n{tail}"
    finally:
        server.stop()


# -- zygotes -------------------------------------------------------------------------------------


def test_an_idle_zygote_exits_and_the_default_one_stays(tmp_path: Path,
                                                        features: dict[str, Any]) -> None:  # noqa: F811
    _require(features, "namespaces")
    default = sys.executable  # the server runs on this interpreter, so it is the default one
    others = {version: path for version, path in runtimes.pythons().items()
              if os.path.realpath(path) != os.path.realpath(default)}
    assert others, (f"this test needs a Python interpreter other than the default {default}; "
                    f"found only {runtimes.pythons()}")
    version, other = max(others.items())
    other_runtime = f"python{version[0]}.{version[1]}"
    default_runtime = f"python{sys.version_info[0]}.{sys.version_info[1]}"

    keep_alive = 1.5
    server = start_server(tmp_path / "data", env={"LAMINA_KEEP_ALIVE": str(keep_alive)})
    try:
        client = server.client()
        # The default zygote starts with the server.
        started = _zygotes(server)
        assert list(started.values()) == [default], started
        [default_zygote] = started

        on_other = create_python_function(client, TAGGED, Runtime=other_runtime)
        on_default = create_python_function(client, TAGGED, Runtime=default_runtime)
        zygote_of: dict[str, int] = {}
        environments: set[int] = set()
        for name in (on_other, on_default):
            answer, payload = invoke_json(client, name, {"echo": name})
            assert "FunctionError" not in answer and payload["echo"] == name, payload
            # Found at once, while warm: the runtime, its namespace's init, and the zygote above them.
            processes = _environment_processes(payload["environment"])
            environments |= processes
            [zygote_of[name]] = {_parent(pid) for pid in processes} - processes
        zygotes = _zygotes(server)
        assert sorted(zygotes.values()) == sorted([default, other]), zygotes
        assert zygotes[zygote_of[on_default]] == default
        assert zygotes[zygote_of[on_other]] == other
        other_zygote = zygote_of[on_other]
        assert zygote_of[on_default] == default_zygote

        # The environments go after the keep-alive, then the other interpreter's zygote, now unused.
        assert wait_for(lambda: not process_alive(other_zygote), timeout=keep_alive + 8), \
            f"the idle {other} zygote ({other_zygote}) still runs: {_zygotes(server)}"
        assert wait_for(lambda: not _alive(environments), timeout=5), \
            f"environments outlived the keep-alive: {_alive(environments)}"
        # The default one stays, though it has no environment either, well past the keep-alive.
        time.sleep(2 * keep_alive)
        assert _zygotes(server) == {default_zygote: default}
        _healthy(server)

        # A new invocation on the other interpreter starts a new zygote for it.
        answer, payload = invoke_json(client, on_other, {"echo": "back"})
        assert "FunctionError" not in answer and payload["echo"] == "back", payload
        restarted = {pid for pid, python in _zygotes(server).items() if python == other}
        assert restarted and other_zygote not in restarted, _zygotes(server)
    finally:
        server.stop()


# -- memory pressure -------------------------------------------------------------------------------


def test_memory_pressure_stops_idle_environments_before_a_cold_start(
        tmp_path: Path, beacon: Beacon, features: dict[str, Any]) -> None:  # noqa: F811
    _require(features, "namespaces")
    floor = 4 * available_memory_mb() + 1024  # memory is always short
    server = start_server(tmp_path / "data", env={"LAMINA_MIN_AVAILABLE_MB": str(floor)})
    try:
        client = server.client(max_pool_connections=8)
        a = create_python_function(client, TAGGED)
        b = create_python_function(client, TAGGED)
        # Three idle environments of A, which became idle in the order of their sleeps.
        pending, environments = _start_running(client, a, beacon, [1.0, 1.6, 2.2])
        results = pending.result(timeout=60)
        assert {r["environment"] for r in results} == set(environments)
        oldest = results[0]["environment"]
        everything = set().union(*environments.values())
        assert _alive(everything) == everything, "idle environments stopped before any cold start"
        assert "memory is short" not in server.log()

        answer, payload = invoke_json(client, b, {"echo": "b"}, LogType="Tail")
        assert "FunctionError" not in answer, payload
        assert payload["echo"] == "b" and payload["environment"] not in environments
        assert INIT_DURATION.search(b64decode(answer["LogResult"]).decode())

        # The least recently used idle environment of A was stopped for B's cold start.
        assert wait_for(lambda: not _alive(environments[oldest]), timeout=10), \
            f"A's least recently used idle environment {oldest} still runs: {_alive(environments[oldest])}"
        assert len(_alive(everything)) < len(everything)
        assert wait_for(lambda: re.search(
            rf"WARNING .*memory is short \(under {floor} MB available\): stopping [1-9]\d* idle environments",
            server.log()) is not None, timeout=5), server.log()
        _healthy(server)
        # A still answers, from a surviving environment or a new one.
        answer, payload = invoke_json(client, a, {"echo": "a"})
        assert "FunctionError" not in answer and payload["echo"] == "a", payload
        assert payload["environment"] != oldest
    finally:
        server.stop()


# -- CPU share -----------------------------------------------------------------------------------


def _cpu_setting(pid: int) -> tuple[str, int]:
    """The ``cpu.shares`` (cgroup v1) or ``cpu.weight`` (v2) file of ``pid``'s cpu cgroup, and its value."""
    version = jail.cgroup_version()
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    if version == "v1":
        [path] = [line.split(":", 2)[2] for line in lines if "cpu" in line.split(":", 2)[1].split(",")]
        file = f"/sys/fs/cgroup/cpu{path}/cpu.shares"
    else:
        [path] = [line.split(":", 2)[2] for line in lines if line.startswith("0::")]
        file = f"/sys/fs/cgroup{path}/cpu.weight"
    return file, int(Path(file).read_text())


def test_cpu_share_is_proportional_to_memory(tmp_path: Path, features: dict[str, Any]) -> None:  # noqa: F811
    _require(features, "cgroup", "namespaces")
    version = jail.cgroup_version()
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        settings: dict[int, tuple[str, int]] = {}
        for memory in (128, 1769, 3538):
            name = create_python_function(client, TAGGED, MemorySize=memory)
            answer, payload = invoke_json(client, name)
            assert "FunctionError" not in answer and payload["memory"] == str(memory), payload
            runtime = pid_named(payload["environment"])
            settings[memory] = _cpu_setting(runtime)
            # Its own cgroup, in the tree of the zygote that started it.
            file = settings[memory][0]
            assert re.search(r"/lamina-\d+/env\d+/cpu\.(shares|weight)$", file), file
        assert len({file for file, _ in settings.values()}) == 3, settings
        value = {memory: setting for memory, (_, setting) in settings.items()}
        # 1,769 MB is one full vCPU: cpu.shares 1024 (v1's default for a whole CPU), cpu.weight 100.
        full = 1024 if version == "v1" else 100
        assert value[1769] == full, settings
        assert value[3538] == 2 * full, settings
        # Less memory, proportionally less CPU: 128/1769 of it (rounded down).
        assert value[128] == 128 * 1024 // 1769 * full // 1024, settings
        assert abs(value[128] / value[1769] - 128 / 1769) < 0.01, settings
    finally:
        server.stop()


def test_an_environment_whose_init_is_killed_ends_and_the_function_goes_on(
        tmp_path: Path, features: dict[str, Any]) -> None:  # noqa: F811
    """SIGKILL to a namespace's init from outside: the kernel kills the runtime with it, the zygote
    reaps both and reports the end, and the next invoke gets a new environment."""
    _require(features, "namespaces")
    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        name = create_python_function(client, TAGGED)
        answer, payload = invoke_json(client, name)
        assert "FunctionError" not in answer, payload
        first = payload["environment"]
        processes = _environment_processes(first)
        runtime = pid_named(first)
        [init] = processes - {runtime}
        os.kill(init, signal.SIGKILL)
        assert wait_for(lambda: not any(process_alive(pid) for pid in processes), timeout=10), processes
        answer, payload = invoke_json(client, name, {"echo": "again"})
        assert "FunctionError" not in answer and payload["echo"] == "again", payload
        assert payload["environment"] != first
    finally:
        assert server.stop() == 0, server.log()
