"""Parallel invocations get their own environments; idle ones are reused until the function changes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import (
    BEACON_CODE,
    TAG_CODE,
    Beacon,
    Server,
    create_python_function,
    invoke_json,
    make_zip,
    parallel_invokes,
    pid_named,
    pids_named,
    wait_for,
)

# ENVIRONMENT (from TAG_CODE) is drawn once per execution environment, at import.
STATEFUL = TAG_CODE + BEACON_CODE + """
import os, tempfile, time

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    path = os.path.join(tempfile.gettempdir(), "warm-marker")
    first_here = not os.path.exists(path)
    with open(path, "a") as marker:
        marker.write(context.aws_request_id + "\\n")
    if event.get("beacon"):
        beacon(event["beacon"], environment=ENVIRONMENT)
    time.sleep(event.get("sleep", 0))
    return {"environment": ENVIRONMENT, "count": COUNT, "tmp_was_new": first_here,
            "stream": context.log_stream_name, "echo": event.get("echo"), "memory": context.memory_limit_in_mb,
            "version": globals().get("VERSION")}
"""


def test_parallel_invokes_run_at_once_in_separate_environments(server: Server) -> None:
    client = server.client(max_pool_connections=8)
    name = create_python_function(client, STATEFUL)
    started = time.monotonic()
    results = parallel_invokes(client, name, [{"sleep": 1}] * 4)
    elapsed = time.monotonic() - started
    # Four one-second handlers overlap: well under the 4 s they would take one after another.
    assert elapsed < 3.0, elapsed
    assert len({r["environment"] for r in results}) == 4
    assert len({r["stream"] for r in results}) == 4
    assert all(r["count"] == 1 and r["tmp_was_new"] for r in results)


def test_sequential_invokes_reuse_a_warm_environment(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, STATEFUL)
    results = [invoke_json(lambda_client, name)[1] for _ in range(3)]
    assert len({r["environment"] for r in results}) == 1
    assert len({r["stream"] for r in results}) == 1
    assert [r["count"] for r in results] == [1, 2, 3]
    assert [r["tmp_was_new"] for r in results] == [True, False, False]
    assert pid_named(results[0]["environment"])  # one process, still alive, waiting


def test_a_changed_function_gets_new_environments(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, STATEFUL)
    before = [invoke_json(lambda_client, name)[1] for _ in range(2)]
    assert before[1]["count"] == 2
    old_pid = pid_named(before[0]["environment"])

    lambda_client.update_function_configuration(FunctionName=name, MemorySize=256)
    after = invoke_json(lambda_client, name)[1]
    assert after["environment"] != before[0]["environment"]
    assert after["stream"] != before[0]["stream"]
    assert (after["count"], after["memory"], after["tmp_was_new"]) == (1, "256", True)
    assert wait_for(lambda: not pids_named(before[0]["environment"]), timeout=5), \
        f"the outdated environment (pid {old_pid}) was kept"

    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "VERSION = 2\n" + STATEFUL}))
    again = invoke_json(lambda_client, name)[1]
    assert again["environment"] not in (before[0]["environment"], after["environment"])
    assert (again["count"], again["version"]) == (1, 2)


def test_each_concurrent_caller_gets_its_own_answer(server: Server) -> None:
    client = server.client(max_pool_connections=32)
    name = create_python_function(client, STATEFUL)
    events = [{"echo": f"caller-{i}-{'x' * i}", "sleep": 0.2} for i in range(20)]
    results = parallel_invokes(client, name, events)
    assert [r["echo"] for r in results] == [e["echo"] for e in events]
    # Twenty overlapping invocations needed more than one environment.
    assert len({r["environment"] for r in results}) > 1


def test_an_update_during_an_invocation(lambda_client: Any, beacon: Beacon) -> None:
    # The running invocation finishes on the code it started with; its environment is not reused.
    name = create_python_function(lambda_client, "VERSION = 1\n" + STATEFUL)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(invoke_json, lambda_client, name, {"sleep": 1, "beacon": beacon.url})
        [started] = beacon.wait()
        lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "VERSION = 2\n" + STATEFUL}))
        new = invoke_json(lambda_client, name)[1]
        old = running.result(timeout=30)[1]
    assert old["environment"] == started["environment"]
    assert (old["version"], new["version"]) == (1, 2)
    assert old["environment"] != new["environment"]
    assert wait_for(lambda: not pids_named(old["environment"]), timeout=5), "the outdated environment was kept"
    assert invoke_json(lambda_client, name)[1]["environment"] == new["environment"]  # the warm one now
