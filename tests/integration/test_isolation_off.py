"""``LAMINA_ISOLATION=off``: processes, rlimits and a private TMPDIR only (issue 3's fallback), and
the platform says so. Functions still run, see their code and their layers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    Server,
    create_python_function,
    doctor_report,
    invoke_json,
    make_zip,
    start_server,
    unique_name,
)

OFF = {"LAMINA_ISOLATION": "off"}


@pytest.fixture(scope="module")
def off_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("lamina-off") / "data", env=OFF)
    yield running
    running.stop()


def test_doctor_reports_isolation_off() -> None:
    isolation = doctor_report(OFF)["isolation"]
    for feature in ("cgroup", "namespaces", "unprivileged_user"):
        assert isolation[feature]["state"] == "off", (feature, isolation[feature])
        assert isolation[feature]["reason"], feature
    assert isolation["rlimits"]["state"] == "on"


PROBE = """
import os, tempfile

def handler(event, context):
    scratch = tempfile.gettempdir()
    with open(os.path.join(scratch, event["mine"]), "w") as out:
        out.write(event["mine"])
    return {"uid": os.getuid(), "tmp": scratch, "files": sorted(os.listdir(scratch)),
            "task_root": os.environ["LAMBDA_TASK_ROOT"], "cwd": os.getcwd(),
            "code_here": os.path.exists(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "app.py"))}
"""


def test_function_runs_as_server_user_with_private_tmpdir(off_server: Server) -> None:
    client = off_server.client()
    first = create_python_function(client, PROBE)
    second = create_python_function(client, PROBE)
    answer_a, a = invoke_json(client, first, {"mine": "from-first"})
    answer_b, b = invoke_json(client, second, {"mine": "from-second"})
    assert "FunctionError" not in answer_a, a
    assert "FunctionError" not in answer_b, b
    assert a["uid"] == b["uid"] == os.getuid()
    # Each function has its own temporary directory and sees only its own file there.
    assert a["tmp"] != b["tmp"]
    assert "from-first" in a["files"] and "from-second" not in a["files"]
    assert "from-second" in b["files"] and "from-first" not in b["files"]
    assert a["tmp"] != "/tmp"
    # No mount namespace: the code folder is a real path on the host, and LAMBDA_TASK_ROOT names it.
    assert a["code_here"] and Path(a["task_root"], "app.py").is_file()
    assert a["cwd"] == a["task_root"]


def test_layers_still_work(off_server: Server) -> None:
    client = off_server.client()
    layer = client.publish_layer_version(
        LayerName=unique_name("layer"),
        Content={"ZipFile": make_zip({"python/layer_helper_off.py": "def greet():\n    return 'from the layer'\n"})},
        CompatibleRuntimes=["python3.12"])
    name = create_python_function(
        client, "import layer_helper_off\ndef handler(e, c):\n    return layer_helper_off.greet()\n",
        Layers=[layer["LayerVersionArn"]])
    answer, payload = invoke_json(client, name)
    assert "FunctionError" not in answer, payload
    assert payload == "from the layer"


def test_event_round_trips(off_server: Server) -> None:
    client = off_server.client()
    name = create_python_function(client, "def handler(e, c):\n    return e\n")
    _answer, payload = invoke_json(client, name, {"k": [1, 2, 3]})
    assert payload == {"k": [1, 2, 3]}


MEMORY_BOMB = """
def handler(event, context):
    hog = []
    while True:
        hog.append(bytearray(8 * 1024 * 1024))
"""


def test_memory_is_still_limited_by_an_rlimit(off_server: Server) -> None:
    """Without cgroups, RLIMIT_DATA at MemorySize keeps a memory bomb inside its own process: the
    allocation fails there (MemoryError), the invoke reports it, and another function still works."""
    client = off_server.client()
    name = create_python_function(client, MEMORY_BOMB, MemorySize=128, Timeout=30)
    answer, payload = invoke_json(client, name)
    assert answer.get("FunctionError") == "Unhandled", payload
    # Under a cgroup the kernel kills the process (Runtime.OutOfMemory); under the rlimit the
    # allocation itself fails, in Python.
    assert payload["errorType"] == "MemoryError", payload
    other = create_python_function(client, "def handler(e, c):\n    return e\n")
    _answer, echoed = invoke_json(client, other, {"after": "bomb"})
    assert echoed == {"after": "bomb"}
