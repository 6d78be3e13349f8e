"""Parallel invocations get their own environments; idle ones are reused until the function changes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, create_python_function, invoke_json, make_zip, process_alive, wait_for

STATEFUL = """
import os, time

COUNT = 0
STARTED = time.time()

def handler(event, context):
    global COUNT
    COUNT += 1
    path = "/tmp/lamina-warm-" + context.function_name
    first_here = not os.path.exists(path)
    with open(path, "a") as marker:
        marker.write(context.aws_request_id + "\\n")
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "count": COUNT, "tmp_was_new": first_here, "stream": context.log_stream_name,
            "echo": event.get("echo"), "memory": context.memory_limit_in_mb}
"""


@pytest.fixture(autouse=True, scope="module")
def _remove_tmp_markers() -> Iterator[None]:
    yield
    for marker in Path("/tmp").glob(f"lamina-warm-*-{os.getpid()}-*"):
        marker.unlink()


def parallel_invokes(client: Any, name: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(len(events)) as pool:
        answers = list(pool.map(lambda event: invoke_json(client, name, event), events))
    for answer, _ in answers:
        assert "FunctionError" not in answer, answer
    return [payload for _, payload in answers]


def test_parallel_invokes_run_at_once_in_separate_environments(server: Server) -> None:
    client = server.client(max_pool_connections=8)
    name = create_python_function(client, STATEFUL)
    started = time.monotonic()
    results = parallel_invokes(client, name, [{"sleep": 1}] * 4)
    elapsed = time.monotonic() - started
    # Four one-second handlers overlap: well under the 4 s they would take one after another.
    assert elapsed < 3.0, elapsed
    assert len({r["pid"] for r in results}) == 4
    assert len({r["stream"] for r in results}) == 4
    assert all(r["count"] == 1 for r in results)


def test_sequential_invokes_reuse_a_warm_environment(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, STATEFUL)
    results = [invoke_json(lambda_client, name)[1] for _ in range(3)]
    assert len({r["pid"] for r in results}) == 1
    assert [r["count"] for r in results] == [1, 2, 3]
    assert [r["tmp_was_new"] for r in results] == [True, False, False]
    assert len({r["stream"] for r in results}) == 1


def test_a_changed_function_gets_new_environments(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, STATEFUL)
    before = [invoke_json(lambda_client, name)[1] for _ in range(2)]
    assert before[1]["count"] == 2

    lambda_client.update_function_configuration(FunctionName=name, MemorySize=256)
    after = invoke_json(lambda_client, name)[1]
    assert after["pid"] != before[0]["pid"]
    assert after["stream"] != before[0]["stream"]
    assert (after["count"], after["memory"]) == (1, "256")

    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": STATEFUL + "\n# v2\n"}))
    again = invoke_json(lambda_client, name)[1]
    assert again["pid"] not in (before[0]["pid"], after["pid"])
    assert again["count"] == 1


def test_each_concurrent_caller_gets_its_own_answer(server: Server) -> None:
    client = server.client(max_pool_connections=32)
    name = create_python_function(client, STATEFUL)
    events = [{"echo": f"caller-{i}-{'x' * i}", "sleep": 0.2} for i in range(20)]
    results = parallel_invokes(client, name, events)
    assert [r["echo"] for r in results] == [e["echo"] for e in events]
    # Twenty overlapping invocations needed more than one environment.
    assert len({r["pid"] for r in results}) > 1



def test_an_update_during_an_invocation(lambda_client: Any, tmp_path: Path) -> None:
    # The running invocation finishes on the code it started with; its environment is not reused.
    versioned = """
import os, time

def handler(event, context):
    if event.get("started"):
        open(event["started"], "w").close()
    time.sleep(event.get("sleep", 0))
    return {"version": VERSION, "pid": os.getpid()}
"""
    name = create_python_function(lambda_client, "VERSION = 1\n" + versioned)
    started = tmp_path / "started"
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(invoke_json, lambda_client, name, {"sleep": 1, "started": str(started)})
        assert wait_for(started.exists, timeout=10)
        lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "VERSION = 2\n" + versioned}))
        new = invoke_json(lambda_client, name)[1]
        old = running.result(timeout=30)[1]
    assert old["version"] == 1 and new["version"] == 2
    assert old["pid"] != new["pid"]
    assert wait_for(lambda: not process_alive(old["pid"]), timeout=5), "the outdated environment was kept"
    assert invoke_json(lambda_client, name)[1] == new  # the new environment is the warm one
