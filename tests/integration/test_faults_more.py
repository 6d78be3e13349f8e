"""More faults that must leave the platform healthy (issue 3): a flood of stdout, closed stdout and
stderr, a handler that ignores SIGTERM past its timeout, a crash beside a busy neighbour."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from base64 import b64decode
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import (
    TAG_CODE,
    Server,
    create_python_function,
    http_request,
    invoke_json,
    pid_named,
    process_alive,
    wait_for,
)

FLOOD = """
import sys

def handler(event, context):
    line = "x" * 1023 + "\\n"
    block = line * 1024
    for _ in range(event["mb"]):
        sys.stdout.write(block)
    sys.stdout.flush()
    print("last line of the flood")
    return {"wrote_mb": event["mb"]}
"""


def healthy(server: Server) -> bool:
    with urllib.request.urlopen(f"{server.endpoint}/_lamina/health", timeout=5) as answer:
        return bool(answer.status == 200)


def test_fifty_megabytes_of_stdout(server: Server, lambda_client: Any) -> None:
    name = create_python_function(lambda_client, FLOOD, Timeout=20)
    started = time.monotonic()
    answer, payload = invoke_json(lambda_client, name, {"mb": 50}, LogType="Tail")
    took = time.monotonic() - started
    assert "FunctionError" not in answer, payload
    assert payload == {"wrote_mb": 50}
    assert took < 20, f"the invoke took {took:.1f} s"
    tail = b64decode(answer["LogResult"])
    assert len(tail) <= 4096
    text = tail.decode("utf-8", "replace")
    assert "REPORT RequestId:" in text
    assert "bytes of output were dropped" in text, text[-600:]
    assert healthy(server)
    # The environment and the platform go on: a small invoke of the same function answers.
    answer, payload = invoke_json(lambda_client, name, {"mb": 0}, LogType="Tail")
    assert payload == {"wrote_mb": 0}
    assert "last line of the flood" in b64decode(answer["LogResult"]).decode()


RAW_FLOOD = """
import os

def handler(event, context):
    block = (b"y" * 1023 + b"\\n") * 1024
    for _ in range(event["mb"]):
        os.write(1, block)
    return {"wrote_mb": event["mb"]}
"""


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:"))


def test_two_gigabytes_of_stdout_leave_the_server_as_it_was(server: Server, lambda_client: Any) -> None:
    """The issue's "gigabytes of stdout": 2 GiB straight to fd 1. The server keeps the last part of
    the output, counts the rest as dropped, does not grow, and a neighbour answers meanwhile."""
    flood = create_python_function(lambda_client, RAW_FLOOD, Timeout=120)
    neighbour = create_python_function(lambda_client, "def handler(event, context):\n    return event\n")
    invoke_json(lambda_client, neighbour, {"n": 0})
    before = rss_mb(server.process.pid)
    with ThreadPoolExecutor(1) as pool:
        flooding = pool.submit(invoke_json, lambda_client, flood, {"mb": 2048}, LogType="Tail")
        answered = 0
        while not flooding.done():
            _answer, payload = invoke_json(lambda_client, neighbour, {"n": answered})
            assert payload["n"] == answered, payload
            answered += 1
        answer, payload = flooding.result()
    assert "FunctionError" not in answer, payload
    assert payload == {"wrote_mb": 2048}
    text = b64decode(answer["LogResult"]).decode("utf-8", "replace")
    dropped = re.search(r"\[lamina: (\d+) bytes of output were dropped\]", text)
    assert dropped is not None, text[-600:]
    assert 2048 * 2**20 - 16 * 2**20 <= int(dropped.group(1)) < 2048 * 2**20, dropped.group(0)
    assert "REPORT RequestId:" in text
    # The output went through the server and was not kept: it did not grow by more than noise.
    assert rss_mb(server.process.pid) - before < 64, (before, rss_mb(server.process.pid))
    assert answered >= 1
    assert healthy(server)


CLOSES_OUTPUT = """
import os

def handler(event, context):
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:  # already closed by an earlier invocation of this environment
            pass
    if event.get("print"):
        print("into the void")  # EBADF: a handler error, like any other exception of user code
    return {"closed": True, "n": event["n"]}
"""


def test_closing_stdout_and_stderr_still_delivers_the_result(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, CLOSES_OUTPUT)
    answer, payload = invoke_json(lambda_client, name, {"n": 1})
    assert "FunctionError" not in answer, payload
    assert payload == {"closed": True, "n": 1}
    # The same environment (or its replacement) answers the next invocation as well.
    answer, payload = invoke_json(lambda_client, name, {"n": 2})
    assert "FunctionError" not in answer, payload
    assert payload == {"closed": True, "n": 2}


def test_printing_to_closed_stdout_is_a_handler_error(lambda_client: Any) -> None:
    """The handler's print raises OSError (EBADF); that is the function's error to report, as
    awslambdaric reports any exception, not a crash of the runtime (Runtime.ExitError)."""
    name = create_python_function(lambda_client, CLOSES_OUTPUT)
    answer, payload = invoke_json(lambda_client, name, {"n": 3, "print": True})
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "OSError", payload
    assert "Bad file descriptor" in payload["errorMessage"], payload


IGNORES_SIGTERM = TAG_CODE + """
import signal, time

def handler(event, context):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if event.get("sleep"):
        time.sleep(60)
    return {"environment": ENVIRONMENT}
"""


def test_ignoring_sigterm_past_the_timeout_is_killed(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, IGNORES_SIGTERM, Timeout=1)
    _, payload = invoke_json(lambda_client, name)
    pid = pid_named(payload["environment"])
    started = time.monotonic()
    answer, payload = invoke_json(lambda_client, name, {"sleep": True})
    assert time.monotonic() - started < 10
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout", payload
    assert wait_for(lambda: not process_alive(pid), timeout=5), f"environment {pid} ignored SIGTERM and lives on"
    answer, payload = invoke_json(lambda_client, name)
    assert "FunctionError" not in answer and payload["environment"], payload


CRASHER = "import os\ndef handler(e, c):\n    os.abort()\n"
ECHO = "import time\ndef handler(e, c):\n    time.sleep(0.01)\n    return {'n': e['n'], 'double': e['n'] * 2}\n"


def test_crash_beside_fifty_concurrent_invokes(server: Server, lambda_client: Any) -> None:
    victim = create_python_function(lambda_client, ECHO)
    crasher = create_python_function(lambda_client, CRASHER)
    invoke_json(lambda_client, victim, {"n": -1})

    def call(n: int) -> Any:
        client = server.client()
        return invoke_json(client, victim, {"n": n})

    def crash() -> list[str]:
        client = server.client()
        return [invoke_json(client, crasher)[0].get("FunctionError", "") for _ in range(5)]

    with ThreadPoolExecutor(max_workers=12) as pool:
        crashes = pool.submit(crash)
        answers = list(pool.map(call, range(50)))
        assert crashes.result() == ["Unhandled"] * 5
    for n, (answer, payload) in enumerate(answers):
        assert "FunctionError" not in answer, (n, payload)
        assert payload == {"n": n, "double": 2 * n}
    assert healthy(server)


HOLD = "import time\ndef handler(e, c):\n    time.sleep(1.5)\n    return {'n': e['n']}\n"


def test_burst_of_simultaneous_cold_starts_all_answer(server: Server, lambda_client: Any) -> None:
    """300 invokes at once need 300 new environments (each handler holds its own for 1.5 s), well
    within the account's concurrency (1,000) and scaling rate (1,000 per 10 s): every one must be
    answered by the function, none by a platform error."""
    name = create_python_function(lambda_client, HOLD, Timeout=30)
    invoke_json(lambda_client, name, {"n": -1})  # the zygote exists: the burst measures environments
    path = f"/2015-03-31/functions/{name}/invocations"

    def call(n: int) -> tuple[int, bytes]:
        answer = http_request(server, "POST", path, json.dumps({"n": n}).encode())
        return answer.status, answer.body

    try:
        with ThreadPoolExecutor(max_workers=300) as pool:
            answers = list(pool.map(call, range(300)))
    finally:
        # 300 idle environments would otherwise sit on the shared server for its keep-alive.
        lambda_client.delete_function(FunctionName=name)
    failed = [(n, status, body[:120]) for n, (status, body) in enumerate(answers) if status != 200]
    assert not failed, f"{len(failed)} of 300 failed, e.g. {failed[:3]}"
    assert [json.loads(body) for _status, body in answers] == [{"n": n} for n in range(300)]
    assert healthy(server)
