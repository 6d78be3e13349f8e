"""The walls around an execution environment (issue 3): each test proves one wall holds.

These need root (cgroups, namespaces). The server reports what it applies through
``lamina doctor --output json``; a test of a wall that this machine cannot build fails with the
doctor's reason rather than passing silently.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import lamina
from tests.conftest import Server, create_python_function, doctor_report, log_tail


@pytest.fixture(scope="module")
def features() -> dict[str, Any]:
    isolation: dict[str, Any] = doctor_report()["isolation"]
    return isolation


def _require(features: dict[str, Any], *names: str) -> None:
    for name in names:
        state = features[name]
        assert state["state"] == "on", f"isolation feature {name} is {state['state']}: {state['reason']}"


def _invoke(client: Any, name: str, event: dict[str, Any] | None = None) -> tuple[dict[str, Any] | Any, str | None]:
    answer = client.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    return json.loads(answer["Payload"].read()), answer.get("FunctionError")


PROBE = '''
import os

def handler(event, context):
    found = {"uid": os.getuid(), "pid": os.getpid(), "cwd": os.getcwd(),
             "task_root": os.environ["LAMBDA_TASK_ROOT"],
             "processes": sorted(p for p in os.listdir("/proc") if p.isdigit())}
    for label, path in event["read"].items():
        try:
            with open(path, "rb") as source:
                source.read(16)
            found[label] = "readable"
        except OSError as error:
            found[label] = type(error).__name__
    try:
        open("/var/task/new-file", "w").close()
        found["write_task"] = "written"
    except OSError as error:
        found["write_task"] = type(error).__name__
    with open("/tmp/mine", "w") as scratch:
        scratch.write("x")
    found["tmp"] = sorted(os.listdir("/tmp"))
    return found
'''


def test_code_read_only_private_tmp_no_platform_files(server: Server, lambda_client: Any,
                                                      features: dict[str, Any]) -> None:
    _require(features, "namespaces", "unprivileged_user")
    other = create_python_function(lambda_client, "SECRET = 'other function code'\ndef handler(e, c):\n    return 1\n")
    other_code = lambda_client.get_function(FunctionName=other)["Code"]["Location"]
    name = create_python_function(lambda_client, PROBE)
    database = str(server.data_dir / "lamina.db")
    code_tree = str(server.data_dir / "code")
    result, error = _invoke(lambda_client, name, {"read": {
        "database": database, "code_store": code_tree, "other_zip": other_code, "own_code": "/var/task/app.py"}})
    assert error is None, result
    assert result["uid"] == 993
    assert result["cwd"] == "/var/task" and result["task_root"] == "/var/task"
    assert result["own_code"] == "readable"
    assert result["database"] in {"FileNotFoundError", "PermissionError"}
    assert result["code_store"] in {"FileNotFoundError", "PermissionError", "IsADirectoryError"}
    assert result["write_task"] in {"OSError", "PermissionError"}  # read-only file system
    # Private /tmp: only what the function wrote, plus (read-only) the folder Lamina itself is
    # installed in when that lies under /tmp, which the runtime needs to keep running.
    installed = {Path(p).parts[2] for p in (lamina.__file__, sys.prefix) if Path(p).parts[1:2] == ("tmp",)}
    assert sorted(set(result["tmp"]) - installed) == ["mine"]
    # Its own PID namespace: the namespace's init is 1, the runtime 2, and no one else is visible.
    assert result["pid"] == 2
    assert result["processes"] == ["1", "2"]


def test_tmp_is_private_per_function(lambda_client: Any, features: dict[str, Any]) -> None:
    _require(features, "namespaces")
    writer = create_python_function(
        lambda_client, "def handler(e, c):\n    open('/tmp/shared', 'w').write('hi')\n    return 'ok'\n")
    reader = create_python_function(
        lambda_client, "import os\ndef handler(e, c):\n    return os.path.exists('/tmp/shared')\n")
    assert _invoke(lambda_client, writer) == ("ok", None)
    assert _invoke(lambda_client, reader) == (False, None)


def test_memory_limit_kills_with_out_of_memory(lambda_client: Any, features: dict[str, Any]) -> None:
    _require(features, "cgroup")
    bomb = create_python_function(lambda_client, (
        "def handler(e, c):\n    hog = []\n    while True:\n        hog.append(bytearray(8 * 1024 * 1024))\n"),
        MemorySize=128, Timeout=30)
    result, error = _invoke(lambda_client, bomb)
    assert error == "Unhandled"
    assert result["errorType"] == "Runtime.OutOfMemory"
    assert result["errorMessage"].endswith("Runtime exited with error: signal: killed")
    healthy = create_python_function(lambda_client, "def handler(e, c):\n    return 'fine'\n")
    assert _invoke(lambda_client, healthy) == ("fine", None)


def test_max_memory_used_counts_a_child_process(lambda_client: Any, features: dict[str, Any]) -> None:
    """The runtime reports the environment's peak with each result: its cgroup's high-water mark
    counts a child process's memory, which the runtime's own resident peak does not."""
    _require(features, "cgroup")
    name = create_python_function(lambda_client, (
        "import subprocess, sys\n"
        "CHILD = 'b = bytearray(120 * 1024 * 1024); b[::4096] = bytes(len(b[::4096]))'\n"
        "def handler(e, c):\n"
        "    subprocess.run([sys.executable, '-c', CHILD], check=True)\n"
        "    return 'done'\n"), MemorySize=512, Timeout=30)
    answer = lambda_client.invoke(FunctionName=name, LogType="Tail")
    assert json.loads(answer["Payload"].read()) == "done"
    report = log_tail(answer)
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert 120 <= used < 512, report


def test_fork_bomb_is_contained(lambda_client: Any, features: dict[str, Any]) -> None:
    _require(features, "cgroup")
    code = (
        "import os, time\n"
        "def handler(e, c):\n"
        "    started = 0\n"
        "    try:\n"
        "        while started < 5000:\n"
        "            if os.fork() == 0:\n"
        "                time.sleep(60)\n"
        "                os._exit(0)\n"
        "            started += 1\n"
        "    except OSError as error:\n"
        "        return {'started': started, 'error': error.errno}\n"
        "    return {'started': started}\n")
    name = create_python_function(lambda_client, code, MemorySize=2048, Timeout=60)
    result, error = _invoke(lambda_client, name)
    assert error is None, result
    assert result["started"] < 1024 and result["error"] == 11  # EAGAIN from the pids limit
    other = create_python_function(lambda_client, "def handler(e, c):\n    return 'still fine'\n")
    assert _invoke(lambda_client, other) == ("still fine", None)


def test_tmp_is_limited_to_ephemeral_storage(lambda_client: Any, features: dict[str, Any]) -> None:
    _require(features, "namespaces")
    code = (
        "def handler(e, c):\n"
        "    written = 0\n"
        "    try:\n"
        "        with open('/tmp/fill', 'wb') as f:\n"
        "            while written < 2048:\n"
        "                f.write(b'x' * 1024 * 1024)\n"
        "                written += 1\n"
        "    except OSError as error:\n"
        "        return {'written_mb': written, 'errno': error.errno}\n"
        "    return {'written_mb': written}\n")
    name = create_python_function(lambda_client, code, MemorySize=2048, EphemeralStorage={"Size": 600}, Timeout=60)
    result, error = _invoke(lambda_client, name)
    assert error is None, result
    assert result["errno"] == 28  # ENOSPC
    assert 590 <= result["written_mb"] <= 600


def test_timeout_kills_every_process_of_the_environment(lambda_client: Any, features: dict[str, Any]) -> None:
    _require(features, "namespaces")
    # A duration no other process on the machine uses, so pgrep finds only this grandchild.
    seconds = f"300.{random.randrange(10**6):06d}"
    code = (
        "import subprocess, time\n"
        "def handler(e, c):\n"
        f"    child = subprocess.Popen(['sleep', '{seconds}'])\n"
        "    print('host-visible marker', flush=True)\n"
        "    time.sleep(30)\n")
    name = create_python_function(lambda_client, code, Timeout=1)
    result, error = _invoke(lambda_client, name)
    assert error == "Unhandled" and result["errorType"] == "Sandbox.Timedout"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        survivors = subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True,
                                   text=True).stdout.split()
        if not survivors:
            break
        time.sleep(0.1)
    assert not survivors, f"processes outlived their environment: {survivors}"


INIT_PROBE = """
def handler(event, context):
    with open("/proc/1/cmdline", "rb") as f:
        init = f.read().split(b"\\0")[0].decode()
    with open("/proc/1/comm") as f:
        name = f.read().strip()
    import os
    return {"init": init, "name": name, "pid": os.getpid()}
"""


def test_the_namespace_init_is_the_native_program(lambda_client: Any, features: dict[str, Any]) -> None:
    # PID 1 of the environment's namespace is the small C init, not a second copy of the zygote's
    # Python (docs/performance.md, "PSS per idle environment").
    _require(features, "namespaces", "native_init")
    name = create_python_function(lambda_client, INIT_PROBE)
    found, error = _invoke(lambda_client, name)
    assert error is None, found
    assert found == {"init": "lamina-init", "name": "lamina-init", "pid": 2}
