"""More walls around an execution environment, each probed from inside a function.

- another function's code (the code store's blob and unpacked tree) and the server's data directory
  are not there at all in a function's mount namespace: FileNotFoundError, not PermissionError;
- another function's processes, and so its environment variables, are not visible through /proc;
- /var/task is a read-only mount: ST_RDONLY, and creating anything there fails with EROFS;
- /metrics exposes the init duration, concurrent executions and async queue depth as samples.

These need root (namespaces, the sandbox uid), as tests/integration/test_isolation.py does.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    BEACON_CODE,
    Beacon,
    Server,
    create_python_function,
    http_request,
    invoke_json,
    processes_with_env,
    start_server,
    unique_name,
    wait_for,
)

REGION = "us-east-1"

#: What the other function (B) ships: a file whose content only its own code tree holds.
SECRET_FILE = "b-secret.txt"

#: B: starts a child that carries B's environment variables (a process's /proc/<pid>/environ is
#: what it was exec'd with, so the child's shows them), reports, and holds both alive a while.
HOLDER = BEACON_CODE + '''
import os, subprocess, time

def handler(event, context):
    child = subprocess.Popen(["sleep", "60"])
    try:
        beacon(event["url"], role="holder", pid=os.getpid(), child=child.pid)
        time.sleep(event["hold"])
    finally:
        child.kill()
        child.wait()
    return "held"
'''

#: A: what each path looks like from inside, and what /proc shows.
PROBE = '''
import os

def _outcome(action, path):
    try:
        value = action(path)
    except OSError as error:
        return type(error).__name__
    return value

def _read(path):
    with open(path, "rb") as source:
        return "read:" + source.read(64).decode(errors="replace")

def _list(path):
    return sorted(os.listdir(path))

def _stat(path):
    os.stat(path)
    return "exists"

def handler(event, context):
    paths = {}
    for label, path in event["paths"].items():
        paths[label] = {"stat": _outcome(_stat, path), "list": _outcome(_list, path), "open": _outcome(_read, path)}
    processes = sorted(p for p in os.listdir("/proc") if p.isdigit())
    leaked = []
    for pid in processes:
        try:
            with open(f"/proc/{pid}/environ", "rb") as source:
                if event["marker"].encode() in source.read():
                    leaked.append(pid)
        except OSError:
            pass
    host_pids = {str(pid): _outcome(_read, f"/proc/{pid}/environ") for pid in event["host_pids"]}
    return {"uid": os.getuid(), "paths": paths, "processes": processes, "leaked": leaked,
            "host_pids": host_pids, "own_env_has_marker": event["marker"] in "".join(os.environ.values())}
'''


def _hex_sha(client: Any, name: str) -> str:
    digest = client.get_function_configuration(FunctionName=name)["CodeSha256"]
    return base64.b64decode(digest).hex()


def _assert_other_code_unreachable(server: Server, beacon: Beacon, data_dir_must_be_absent: bool) -> None:
    client = server.client()
    marker = f"b-marker-{unique_name('secret')}"
    holder = create_python_function(client, HOLDER, files={SECRET_FILE: marker}, Timeout=30,
                                    Environment={"Variables": {"B_SECRET": marker}})
    sha = _hex_sha(client, holder)
    data_dir = server.data_dir.resolve()
    store = data_dir / "code"
    # Where B's code really is on the host: the zip as uploaded and the tree B sees at /var/task.
    blob, tree = store / "blobs" / f"{sha}.zip", store / "tree" / sha
    assert blob.is_file(), sorted(p.name for p in (store / "blobs").iterdir())
    assert (tree / SECRET_FILE).read_text() == marker
    paths = {"data_dir": data_dir, "database": data_dir / "lamina.db", "code_store": store,
             "trees": store / "tree", "b_tree": tree, "b_secret": tree / SECRET_FILE, "b_zip": blob}
    for label, path in paths.items():
        if label not in ("data_dir", "database"):
            assert path.exists(), f"{label} {path} should exist on the host"

    # A is warmed first, so its probe runs well within the time B holds its environment.
    prober = create_python_function(client, PROBE, Timeout=30)
    warm, _ = invoke_json(client, prober, {"paths": {}, "marker": marker, "host_pids": []})
    assert "FunctionError" not in warm
    # B runs (and holds its environment variables) while A looks around.
    held: dict[str, Any] = {}

    def run_holder() -> None:
        try:
            held["answer"] = invoke_json(server.client(), holder, {"url": beacon.url, "hold": 6})
        except Exception as error:  # reported by the assertion below, not as a thread warning
            held["error"] = error

    thread = threading.Thread(target=run_holder)
    thread.start()
    try:
        beacon.wait(lambda m: m.get("role") == "holder", timeout=20)
        host_pids: list[int] = []

        def holder_found() -> bool:
            host_pids[:] = processes_with_env(f"B_SECRET={marker}")
            return bool(host_pids)

        assert wait_for(holder_found, timeout=5), "B's process (B_SECRET in its environment) not found on the host"
        answer, result = invoke_json(client, prober, {"paths": {k: str(v) for k, v in paths.items()},
                                                      "marker": marker, "host_pids": host_pids})
    finally:
        thread.join(timeout=40)
    assert "FunctionError" not in answer, result
    assert held.get("answer", (None, None))[1] == "held", held

    assert result["uid"] == 993  # the sandbox user: a PermissionError would have been possible
    for label, seen in result["paths"].items():
        if label == "data_dir" and not data_dir_must_be_absent:
            # Outside /tmp the data directory is covered by an empty read-only tmpfs: nothing in it.
            assert seen == {"stat": "exists", "list": [], "open": "IsADirectoryError"}, (label, seen)
            continue
        assert seen == {"stat": "FileNotFoundError", "list": "FileNotFoundError", "open": "FileNotFoundError"}, (
            label, paths[label], seen)
    # B's processes are not in A's PID namespace: A sees its init (1) and itself (2), nothing else,
    # so no /proc/<pid>/environ of B's, by its namespace pid or its host pid.
    assert result["processes"] == ["1", "2"]
    assert result["leaked"] == [] and result["own_env_has_marker"] is False
    assert result["host_pids"] == {str(pid): "FileNotFoundError" for pid in host_pids}


def test_another_functions_code_and_processes_are_not_there(server: Server, beacon: Beacon) -> None:
    """The shared server's data directory lies under /tmp, which each environment gets fresh."""
    _assert_other_code_unreachable(server, beacon, data_dir_must_be_absent=True)


@pytest.fixture
def outside_tmp_server() -> Iterator[Server]:
    """A server whose data directory is not under /tmp: only the hiding of the data directory
    (not the private /tmp) can keep it from functions."""
    base = Path(tempfile.mkdtemp(prefix="lamina-walls-", dir="/var/tmp"))
    running = start_server(base / "data")
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_another_functions_code_is_hidden_outside_tmp_too(outside_tmp_server: Server, beacon: Beacon) -> None:
    _assert_other_code_unreachable(outside_tmp_server, beacon, data_dir_must_be_absent=False)


READ_ONLY_PROBE = '''
import errno, os

def _try(action):
    try:
        action()
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))
    return "done"

def handler(event, context):
    def create():
        with open("/var/task/new-file", "w") as target:
            target.write("x")
    def create_exclusive():
        os.close(os.open("/var/task/other-file", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    return {"flags": os.statvfs("/var/task").f_flag, "uid": os.getuid(),
            "create": _try(create), "create_exclusive": _try(create_exclusive),
            "mkdir": _try(lambda: os.mkdir("/var/task/new-dir")),
            "exists": sorted(os.listdir("/var/task"))}
'''


def test_var_task_is_a_read_only_mount(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, READ_ONLY_PROBE)
    answer, result = invoke_json(lambda_client, name)
    assert "FunctionError" not in answer, result
    assert result["uid"] == 993
    assert result["flags"] & os.ST_RDONLY, f"/var/task f_flag {result['flags']:#x} lacks ST_RDONLY"
    # EROFS, not EACCES: the mount refuses writes whatever the file modes and the uid.
    erofs = errno.errorcode[errno.EROFS]
    assert (result["create"], result["create_exclusive"], result["mkdir"]) == (erofs, erofs, erofs), result
    assert result["exists"] == ["app.py"]


SLOW = BEACON_CODE + '''
import time

def handler(event, context):
    if event.get("url"):
        beacon(event["url"], role=event["role"])
    time.sleep(event.get("sleep", 0))
    return "slept"
'''


def _scrape(server: Server) -> str:
    answer = http_request(server, "GET", "/metrics")
    assert answer.status == 200
    return answer.body.decode()


def _sample(text: str, name: str, labels: str = "") -> float | None:
    """The value of the sample ``name{labels}``, or None if the exposition has none."""
    series = f"{name}{{{labels}}}" if labels else name
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


@pytest.fixture
def metrics_server(tmp_path: Path) -> Iterator[Server]:
    """A server of its own: the async queue depth is one number for the whole server."""
    running = start_server(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


def test_prometheus_init_duration_concurrency_and_queue_depth(metrics_server: Server, beacon: Beacon) -> None:
    server = metrics_server
    client = server.client()
    sync_fn = create_python_function(client, SLOW, name=unique_name("sync"), Timeout=30)
    async_fn = create_python_function(client, SLOW, name=unique_name("async"), Timeout=30)
    labels = f'region="{REGION}",function="{sync_fn}",version="$LATEST"'

    # Idle: the gauges have their sample lines (not just # TYPE), with nothing queued.
    text = _scrape(server)
    assert _sample(text, "lamina_async_queue_depth") == 0, text
    assert _sample(text, "lamina_async_oldest_event_age_seconds") == 0, text

    # A cold start: its init phase is observed for that function (the telemetry process gets
    # invocations in batches, so wait for it).
    answer, result = invoke_json(client, sync_fn)
    assert result == "slept" and "FunctionError" not in answer
    observed = [""]

    def init_observed() -> bool:
        observed[0] = _scrape(server)
        return _sample(observed[0], "lamina_init_duration_seconds_count", labels) == 1

    assert wait_for(init_observed, timeout=15, interval=0.2), observed[0]
    text = observed[0]
    assert (_sample(text, "lamina_init_duration_seconds_sum", labels) or 0) > 0, text
    assert _sample(text, "lamina_init_duration_seconds_bucket", labels + ',le="+Inf"') == 1, text
    assert _sample(text, "lamina_cold_starts_total", labels) == 1, text

    # While a synchronous invocation of one function and an asynchronous event of another run:
    # each function has one concurrent execution, and one event is accepted and not finished.
    done: dict[str, Any] = {}

    def run_sync() -> None:
        try:
            done["sync"] = invoke_json(server.client(), sync_fn, {"url": beacon.url, "role": "sync", "sleep": 6})
        except Exception as error:  # reported by the assertion below, not as a thread warning
            done["error"] = error

    thread = threading.Thread(target=run_sync)
    thread.start()
    try:
        accepted = client.invoke(FunctionName=async_fn, InvocationType="Event",
                                 Payload=json.dumps({"url": beacon.url, "role": "async", "sleep": 6}))
        assert accepted["StatusCode"] == 202
        beacon.wait(lambda m: m.get("role") == "sync", timeout=20)
        beacon.wait(lambda m: m.get("role") == "async", timeout=20)
        text = _scrape(server)
    finally:
        thread.join(timeout=40)
    assert done.get("sync", (None, None))[1] == "slept", done
    assert _sample(text, "lamina_concurrent_executions", f'region="{REGION}",function="{sync_fn}"') == 1, text
    assert _sample(text, "lamina_concurrent_executions", f'region="{REGION}",function="{async_fn}"') == 1, text
    assert _sample(text, "lamina_async_queue_depth") == 1, text
    assert (_sample(text, "lamina_async_oldest_event_age_seconds") or 0) > 0, text
    # Once the event has run, the queue is empty again.
    assert wait_for(lambda: _sample(_scrape(server), "lamina_async_queue_depth") == 0, timeout=15)
