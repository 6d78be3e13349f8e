"""AWS's own Python runtime client (awslambdaric) runs against Lamina's Runtime API."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.conftest import ROLE, Server, invoke_json, log_tail, make_zip, unique_name

BOOTSTRAP = f'#!/bin/sh\nexec {sys.executable} -m awslambdaric "$_HANDLER"\n'
APP = """
import os

CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    if event.get("fail"):
        raise KeyError("missing " + event["fail"])
    print("awslambdaric handled", context.aws_request_id)
    return {"echo": event, "function": context.function_name, "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb, "remaining": context.get_remaining_time_in_millis(),
            "calls": CALLS, "pid": os.getpid(), "runtime": os.environ["AWS_EXECUTION_ENV"]}
"""


@pytest.fixture(scope="module")
def ric_function(server: Server) -> str:
    client = server.client()
    name = unique_name("ric")
    client.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="app.handler",
                           Timeout=10, Code={"ZipFile": make_zip({"bootstrap": BOOTSTRAP, "app.py": APP},
                                                                 modes={"bootstrap": 0o755})})
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_awslambdaric_answers(lambda_client: Any, ric_function: str) -> None:
    answer, payload = invoke_json(lambda_client, ric_function, {"greeting": "hi", "n": [1, 2]}, LogType="Tail")
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer, payload
    assert payload["echo"] == {"greeting": "hi", "n": [1, 2]}
    assert payload["function"] == ric_function
    assert payload["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{ric_function}"
    assert payload["memory"] == "128"
    assert 0 < payload["remaining"] <= 10_000
    assert payload["runtime"] == "AWS_Lambda_provided.al2023"
    tail = log_tail(answer)
    assert "awslambdaric handled" in tail and "REPORT RequestId: " in tail

    # The same process serves the next invocation (awslambdaric loops on invocation/next).
    again = invoke_json(lambda_client, ric_function, {"n": 3})[1]
    assert again["pid"] == payload["pid"] and again["calls"] == payload["calls"] + 1


def test_awslambdaric_error_shape(lambda_client: Any, ric_function: str) -> None:
    answer, payload = invoke_json(lambda_client, ric_function, {"fail": "key"})
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "KeyError"
    assert payload["errorMessage"] == "'missing key'"
    assert isinstance(payload["stackTrace"], list) and any("in handler" in line for line in payload["stackTrace"])
    assert payload["requestId"]
    # The environment survives a handled error.
    answer, payload = invoke_json(lambda_client, ric_function, {"after": "error"})
    assert "FunctionError" not in answer and payload["echo"] == {"after": "error"}


def test_awslambdaric_missing_handler(lambda_client: Any) -> None:
    name = unique_name("ric-missing")
    lambda_client.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="app.nothere",
                                  Code={"ZipFile": make_zip({"bootstrap": BOOTSTRAP, "app.py": APP},
                                                            modes={"bootstrap": 0o755})})
    answer, payload = invoke_json(lambda_client, name)
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.HandlerNotFound", json.dumps(payload)


def _packaged(*distributions: str) -> dict[str, str | bytes]:
    """The installed files of ``distributions`` (their modules, packages and native extensions, not
    their metadata), as zip entries at the root: what ``pip install --target .`` puts beside a
    function's code."""
    from importlib import metadata

    files: dict[str, str | bytes] = {}
    for name in distributions:
        for entry in metadata.distribution(name).files or []:
            parts = entry.parts
            if parts[0].endswith(".dist-info") or parts[0] == ".." or "__pycache__" in parts:
                continue
            with open(entry.locate(), "rb") as installed:
                files["/".join(parts)] = installed.read()
    return files


PACKAGED_APP = APP + """

def where(event, context):
    import awslambdaric, simplejson, sys
    return {"awslambdaric": awslambdaric.__file__, "simplejson": simplejson.__file__, "python": sys.version}
"""


def test_awslambdaric_packaged_in_the_zip(lambda_client: Any) -> None:
    """The issue's "awslambdaric packaged in the zip": the client and its dependencies ship in the
    function's code, and a plain interpreter (not this test's environment, whose site-packages has
    them) runs it from /var/task."""
    import os

    interpreter = os.path.realpath(sys.executable)
    bootstrap = f'#!/bin/sh\nexport PYTHONPATH="$LAMBDA_TASK_ROOT"\nexec {interpreter} -s -m awslambdaric "$_HANDLER"\n'
    files = {"bootstrap": bootstrap, "app.py": PACKAGED_APP, **_packaged("awslambdaric", "simplejson",
                                                                          "snapshot-restore-py")}
    name = unique_name("ric-zip")
    lambda_client.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE, Handler="app.where",
                                  Timeout=10, Code={"ZipFile": make_zip(files, modes={"bootstrap": 0o755})})
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    answer, payload = invoke_json(lambda_client, name, {}, LogType="Tail")
    assert "FunctionError" not in answer, (payload, log_tail(answer))
    assert payload["awslambdaric"].startswith("/var/task/awslambdaric/"), payload
    assert payload["simplejson"].startswith("/var/task/simplejson/"), payload
    assert payload["python"].split()[0] == ".".join(map(str, sys.version_info[:3])), payload
