"""``lamina logs`` against a live server: a function's events, a filter pattern, and --follow."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time

from tests.conftest import Server, create_python_function, invoke_json

GREETER = """
def handler(event, context):
    print("greeting", event["who"])
    return "hi"
"""


def lamina_logs(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", "logs", *args, "--endpoint", server.endpoint],
                          capture_output=True, text=True, timeout=60, check=False)


def test_lamina_logs_prints_and_filters(server: Server) -> None:
    name = create_python_function(server.client(), GREETER)
    for who in ("ada", "bob"):
        invoke_json(server.client(), name, {"who": who})
    done = lamina_logs(server, name, "--since", "5m")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 * 4 and "START RequestId: " in lines[0] and "[$LATEST]" in lines[0]
    assert [line.split(" ", 2)[2] for line in lines if "greeting" in line] == ["greeting ada", "greeting bob"]
    only = lamina_logs(server, name, "--filter", '"greeting bob"')
    assert only.returncode == 0 and [line.split(" ", 2)[2] for line in only.stdout.splitlines()] == ["greeting bob"]
    missing = lamina_logs(server, "never-ran")
    assert missing.returncode == 1 and "No log group /aws/lambda/never-ran" in missing.stderr


def test_lamina_logs_follow(server: Server) -> None:
    name = create_python_function(server.client(), GREETER)
    invoke_json(server.client(), name, {"who": "first"})
    process = subprocess.Popen([sys.executable, "-m", "lamina", "logs", name, "--follow",
                                "--endpoint", server.endpoint],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        seen: list[str] = []

        def wait_for_line(text: str) -> None:
            deadline = time.monotonic() + 20
            while not any(text in line for line in seen):
                assert time.monotonic() < deadline, seen
                with contextlib.suppress(queue.Empty):
                    seen.append(lines.get(timeout=0.5))

        wait_for_line("greeting first")
        invoke_json(server.client(), name, {"who": "later"})
        wait_for_line("greeting later")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert sum("greeting first" in line for line in seen) == 1
