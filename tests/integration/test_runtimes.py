"""Runtimes beyond the default Python (issue 3): Node.js handlers, ``provided.al2023`` bootstraps,
exact Python versions, and recovery from an init error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import (
    ROLE,
    Server,
    create_python_function,
    doctor_report,
    invoke_json,
    log_tail,
    make_zip,
    unique_name,
)


@pytest.fixture(scope="module")
def runtimes() -> dict[str, Any]:
    found: dict[str, Any] = doctor_report()["runtimes"]
    return found


def create(client: Any, runtime: str, handler: str, files: dict[str, str | bytes],
           modes: dict[str, int] | None = None) -> str:
    name = unique_name(runtime.replace(".", "-"))
    client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler, Timeout=10,
                           Code={"ZipFile": make_zip(files, modes)})
    return name


NODE_ASYNC = """
export const handler = async (event, context) => {
  console.log("hello from node " + event.n);
  if (event.fail) {
    throw new Error("boom " + event.n);
  }
  return {event, functionName: context.functionName, awsRequestId: context.awsRequestId,
          memoryLimitInMB: String(context.memoryLimitInMB), invokedFunctionArn: context.invokedFunctionArn,
          remaining: context.getRemainingTimeInMillis(), kind: "async"};
};
"""

NODE_CALLBACK = """
exports.handler = function (event, context, callback) {
  console.log("callback handler " + event.n);
  setTimeout(() => callback(null, {event, functionName: context.functionName,
                                   awsRequestId: context.awsRequestId, kind: "callback"}), 5);
};
"""


@pytest.mark.parametrize(("handler", "files"), [("index.handler", {"index.mjs": NODE_ASYNC}),
                                                ("index.handler", {"index.js": NODE_CALLBACK})],
                         ids=["async-mjs", "callback-js"])
def test_node_handler_returns_event_and_context(lambda_client: Any, runtimes: dict[str, Any],
                                                handler: str, files: dict[str, str | bytes]) -> None:
    assert runtimes["nodejs"]["state"] == "on", runtimes["nodejs"]
    name = create(lambda_client, "nodejs20.x", handler, files)
    answer, payload = invoke_json(lambda_client, name, {"n": 7, "nested": {"a": [1, 2]}}, LogType="Tail")
    assert "FunctionError" not in answer, payload
    assert payload["event"] == {"n": 7, "nested": {"a": [1, 2]}}
    assert payload["functionName"] == name
    assert payload["awsRequestId"] == answer["ResponseMetadata"]["RequestId"]
    if payload["kind"] == "async":
        assert payload["memoryLimitInMB"] == "128"
        assert payload["invokedFunctionArn"].endswith(f":function:{name}")
        assert 0 < payload["remaining"] <= 10_000
        assert "hello from node 7" in log_tail(answer)
    else:
        assert "callback handler 7" in log_tail(answer)
    assert "REPORT RequestId: " + payload["awsRequestId"] in log_tail(answer)


def test_node_thrown_error_is_unhandled(lambda_client: Any) -> None:
    name = create(lambda_client, "nodejs20.x", "index.handler", {"index.mjs": NODE_ASYNC})
    answer, payload = invoke_json(lambda_client, name, {"n": 3, "fail": True}, LogType="Tail")
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Error"
    assert payload["errorMessage"] == "boom 3"
    assert isinstance(payload["trace"], list) and payload["trace"], payload
    assert "boom 3" in payload["trace"][0]
    # The environment survives a handled throw: the next invoke answers.
    answer, payload = invoke_json(lambda_client, name, {"n": 4})
    assert "FunctionError" not in answer and payload["event"]["n"] == 4


# A custom runtime: speaks the Runtime API itself, with nothing but the standard library. The
# system python3 (not a pyenv shim under /root) so the unprivileged sandbox user can run it.
BOOTSTRAP = """#!/usr/bin/python3
import json, os, urllib.request

api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
count = 0
while True:
    with urllib.request.urlopen(api + "next") as answer:
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(answer.read())
    count += 1
    body = json.dumps({"echo": event, "count": count, "handler": os.environ.get("_HANDLER"),
                       "request_id": request_id}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body,
                                                  method="POST")).read()
"""


def test_provided_al2023_bootstrap_answers_two_invocations(lambda_client: Any) -> None:
    name = create(lambda_client, "provided.al2023", "my.handler", {"bootstrap": BOOTSTRAP},
                  modes={"bootstrap": 0o755})
    first_answer, first = invoke_json(lambda_client, name, {"i": 1})
    second_answer, second = invoke_json(lambda_client, name, {"i": 2})
    assert "FunctionError" not in first_answer, first
    assert "FunctionError" not in second_answer, second
    assert first["echo"] == {"i": 1} and second["echo"] == {"i": 2}
    assert first["handler"] == "my.handler"
    # One process served both: the bootstrap's own counter went on.
    assert (first["count"], second["count"]) == (1, 2)
    assert first["request_id"] != second["request_id"]


VERSION = "import platform, sys\ndef handler(e, c):\n    return platform.python_version()\n"


@pytest.mark.parametrize("runtime", ["python3.9", "python3.12"])
def test_python_runtime_runs_on_its_version(lambda_client: Any, runtimes: dict[str, Any], runtime: str) -> None:
    name = create_python_function(lambda_client, VERSION, Runtime=runtime)
    answer, version = invoke_json(lambda_client, name, LogType="Tail")
    assert "FunctionError" not in answer, version
    wanted = runtime.removeprefix("python")
    if runtimes.get(runtime, {}).get("state") == "on":
        assert version.rsplit(".", 1)[0] == wanted, (runtime, version)
        assert "is not installed here" not in log_tail(answer)
    else:
        # Not on this machine: the platform says so in the function's log, never silently.
        assert f"{runtime} is not installed here; running on Python" in log_tail(answer), log_tail(answer)


def test_init_error_then_fixed_code_works(lambda_client: Any) -> None:
    broken = "import no_such_module_lamina\ndef handler(e, c):\n    return 'never'\n"
    name = create_python_function(lambda_client, broken)
    answer, payload = invoke_json(lambda_client, name)
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError", payload
    assert "no_such_module_lamina" in payload["errorMessage"]
    lambda_client.update_function_code(FunctionName=name,
                                       ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'fixed'\n"}))
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    answer, payload = invoke_json(lambda_client, name)
    assert "FunctionError" not in answer, payload
    assert payload == "fixed"


def test_node_syntax_error_at_init_then_fix(server: Server, lambda_client: Any) -> None:
    name = create(lambda_client, "nodejs20.x", "index.handler", {"index.mjs": "export const handler = ;\n"})
    answer, payload = invoke_json(lambda_client, name)
    assert answer["FunctionError"] == "Unhandled", payload
    assert payload["errorType"].startswith("Runtime."), payload
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"index.mjs": NODE_ASYNC}))
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    answer, payload = invoke_json(lambda_client, name, {"n": 1})
    assert "FunctionError" not in answer, payload
    assert payload["event"] == {"n": 1}
