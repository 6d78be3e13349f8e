"""Invoke: invocation types, qualifiers, log tail and REPORT, client context, errors, payload limits."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import BEACON_CODE, ROLE, Beacon, create_python_function, invoke_json, make_zip, unique_name

ACCOUNT = "000000000000"
MB = 1024 * 1024

ECHO = BEACON_CODE + """
import json, sys

def handler(event, context):
    if isinstance(event, dict) and event.get("beacon"):
        beacon(event["beacon"], request_id=context.aws_request_id, tag=event.get("tag"))
    print("echoing", json.dumps(event))
    print("to stderr", file=sys.stderr)
    return {"event": event, "request_id": context.aws_request_id}
"""

REPORT = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d\d) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<size>\d+) MB\tMax Memory Used: (?P<used>\d+) MB\t"
    r"(?:Init Duration: (?P<init>\d+\.\d\d) ms\t)?\n")


@pytest.fixture(scope="module")
def echo(server: Any) -> str:
    return create_python_function(server.client(), ECHO)


def tail_of(answer: dict[str, Any]) -> str:
    return base64.b64decode(answer["LogResult"]).decode()


def report_of(tail: str) -> re.Match[str]:
    match = REPORT.search(tail)
    assert match is not None, tail
    return match


def client_error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- invocation types -----------------------------------------------------------------------------


def test_request_response_answers_200_with_the_result(lambda_client: Any, echo: str) -> None:
    answer, payload = invoke_json(lambda_client, echo, {"hello": ["world", 1, None]},
                                  InvocationType="RequestResponse")
    assert answer["StatusCode"] == 200
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "$LATEST"
    assert payload["event"] == {"hello": ["world", 1, None]}
    assert uuid.UUID(payload["request_id"])


def test_unicode_round_trip(lambda_client: Any, echo: str) -> None:
    event = {"text": "h\u00e9llo \u2713 \U0001f600", "nested": {"\u00fc": ["\u4e2d\u6587"]}}
    assert invoke_json(lambda_client, echo, event)[1]["event"] == event


def test_empty_payload_is_an_empty_object(lambda_client: Any, echo: str) -> None:
    answer = lambda_client.invoke(FunctionName=echo)
    assert json.loads(answer["Payload"].read())["event"] == {}


def test_request_id_header_is_the_invocations(lambda_client: Any, echo: str, beacon: Beacon) -> None:
    # On AWS, Invoke's x-amzn-RequestId is the invocation's request id: the one the function sees
    # as context.aws_request_id and the one in its START/END/REPORT lines.
    answer, payload = invoke_json(lambda_client, echo, {}, LogType="Tail")
    assert report_of(tail_of(answer))["id"] == payload["request_id"]
    event = lambda_client.invoke(FunctionName=echo, InvocationType="Event", Payload=json.dumps({"beacon": beacon.url}))
    [ran] = beacon.wait()
    assert (answer["ResponseMetadata"]["RequestId"], event["ResponseMetadata"]["RequestId"]) == (
        payload["request_id"], ran["request_id"])


def test_event_invocation_answers_202_and_runs(lambda_client: Any, echo: str, beacon: Beacon) -> None:
    answer = lambda_client.invoke(FunctionName=echo, InvocationType="Event",
                                  Payload=json.dumps({"beacon": beacon.url, "tag": "event"}))
    assert answer["StatusCode"] == 202
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["Payload"].read() == b""
    [ran] = beacon.wait()  # the Event invocation ran, after the 202
    assert ran["tag"] == "event" and uuid.UUID(ran["request_id"])


def test_dry_run_answers_204_and_does_not_run(lambda_client: Any, echo: str, beacon: Beacon) -> None:
    answer = lambda_client.invoke(FunctionName=echo, InvocationType="DryRun",
                                  Payload=json.dumps({"beacon": beacon.url, "tag": "dry-run"}))
    assert answer["StatusCode"] == 204
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert answer["Payload"].read() == b""
    # An invocation after it reports in; the DryRun never did.
    invoke_json(lambda_client, echo, {"beacon": beacon.url, "tag": "after"})
    assert [m["tag"] for m in beacon.messages] == ["after"]


def test_qualifier_latest_and_unknown_versions(lambda_client: Any, echo: str) -> None:
    answer, payload = invoke_json(lambda_client, echo, {"q": 1}, Qualifier="$LATEST")
    assert answer["ExecutedVersion"] == "$LATEST" and payload["event"] == {"q": 1}
    answer, payload = invoke_json(lambda_client, f"{echo}:$LATEST", {"q": 2})
    assert payload["event"] == {"q": 2}
    with pytest.raises(ClientError) as excinfo:
        lambda_client.invoke(FunctionName=echo, Qualifier="7")
    assert client_error(excinfo) == (
        "ResourceNotFoundException", f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:{echo}:7", 404)


def test_invoke_by_arn(lambda_client: Any, echo: str) -> None:
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{echo}"
    assert invoke_json(lambda_client, arn, {"by": "arn"})[1]["event"] == {"by": "arn"}


# -- logs -----------------------------------------------------------------------------------------


def test_log_tail_has_start_output_end_report(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, ECHO, MemorySize=192)
    cold, payload = invoke_json(lambda_client, name, {"n": 1}, LogType="Tail")
    request_id = payload["request_id"]
    tail = tail_of(cold)
    lines = tail.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert 'echoing {"n": 1}' in lines and "to stderr" in lines
    assert f"END RequestId: {request_id}" in lines
    report = report_of(tail)
    assert tail.endswith(report.group(0))
    assert report["id"] == request_id
    assert report["size"] == "192"
    assert int(report["billed"]) >= float(report["duration"]) > 0
    assert int(report["used"]) > 0
    assert report["init"] is not None and float(report["init"]) > 0

    warm, _ = invoke_json(lambda_client, name, {"n": 2}, LogType="Tail")
    assert report_of(tail_of(warm))["init"] is None, "Init Duration belongs to cold starts only"
    assert "LogResult" not in invoke_json(lambda_client, name, {"n": 3})[0]


def test_log_tail_is_the_last_4_kb(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
def handler(event, context):
    for i in range(100):
        print(f"line {i:03d} " + "x" * 92)
    return "done"
""")
    answer, payload = invoke_json(lambda_client, name, LogType="Tail")
    assert payload == "done"
    raw = base64.b64decode(answer["LogResult"])
    assert len(raw) == 4096
    tail = raw.decode()
    assert tail.rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: ")
    assert "line 099 " in tail and "line 000 " not in tail and "START RequestId" not in tail


def test_max_memory_used_is_measured(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
def handler(event, context):
    block = bytearray(event["mb"] * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])
    return len(block)
""", MemorySize=512)
    answer, _ = invoke_json(lambda_client, name, {"mb": 100}, LogType="Tail")
    used = int(report_of(tail_of(answer))["used"])
    assert 100 <= used < 512, used


# -- client context -------------------------------------------------------------------------------


def test_client_context_reaches_the_function(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
def handler(event, context):
    cc = context.client_context
    if cc is None:
        return None
    return {"custom": cc.custom, "env": cc.env, "installation_id": cc.client.installation_id,
            "app_title": cc.client.app_title}
""")
    context = {"client": {"installation_id": "install-1", "app_title": "Lamina tests"},
               "custom": {"tenant": "blue"}, "env": {"platform": "linux"}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    _, payload = invoke_json(lambda_client, name, ClientContext=encoded)
    assert payload == {"custom": {"tenant": "blue"}, "env": {"platform": "linux"},
                       "installation_id": "install-1", "app_title": "Lamina tests"}
    assert invoke_json(lambda_client, name)[1] is None


# -- function errors ------------------------------------------------------------------------------


def test_handler_exception_is_an_unhandled_function_error(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
class PaymentDeclined(Exception):
    pass

def charge(amount):
    raise PaymentDeclined(f"card declined for {amount}")

def handler(event, context):
    charge(event["amount"])
""")
    answer, payload = invoke_json(lambda_client, name, {"amount": 42}, LogType="Tail")
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-function-error"] == "Unhandled"
    assert set(payload) == {"errorMessage", "errorType", "stackTrace", "requestId"}
    assert payload["errorMessage"] == "card declined for 42"
    assert payload["errorType"] == "PaymentDeclined"
    assert uuid.UUID(payload["requestId"])
    trace = "".join(payload["stackTrace"])
    assert "in handler" in trace and "in charge" in trace and "bootstrap" not in trace
    tail = tail_of(answer)
    assert "PaymentDeclined" in tail and f"END RequestId: {payload['requestId']}" in tail
    # A handled exception leaves the environment usable.
    assert invoke_json(lambda_client, name, {"amount": 1})[0]["FunctionError"] == "Unhandled"


@pytest.mark.parametrize(("files", "handler", "error_type", "message"), [
    pytest.param({"app.py": "import no_such_module_for_lamina\n"}, "app.handler", "Runtime.ImportModuleError",
                 "Unable to import module 'app': No module named 'no_such_module_for_lamina'", id="import-error"),
    pytest.param({"app.py": "def handler(event, context):\n    return 1\n"}, "missing.handler",
                 "Runtime.ImportModuleError", "Unable to import module 'missing': No module named 'missing'",
                 id="missing-module"),
    pytest.param({"app.py": "def handler(event, context):\n    return 1\n"}, "app.nothere",
                 "Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'app'", id="handler-not-found"),
    pytest.param({"app.py": "def handler(event, context)\n    return 1\n"}, "app.handler",
                 "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'", id="syntax-error"),
    pytest.param({"app.py": "raise RuntimeError('init failed')\n"}, "app.handler", "RuntimeError",
                 "init failed", id="init-exception"),
    pytest.param({"app.py": "def handler(event, context):\n    return 1\n"}, "nodot", "Runtime.MalformedHandlerName",
                 "Bad handler 'nodot'", id="malformed-handler"),
])
def test_init_errors(lambda_client: Any, files: dict[str, str], handler: str, error_type: str,
                     message: str) -> None:
    name = create_python_function(lambda_client, files.pop("app.py"), handler=handler, files=files)
    for _ in range(2):  # the failed environment is replaced, and fails the same way again
        answer, payload = invoke_json(lambda_client, name, LogType="Tail")
        assert answer["FunctionError"] == "Unhandled"
        assert payload["errorType"] == error_type
        assert payload["errorMessage"].startswith(message), payload["errorMessage"]
        assert error_type in tail_of(answer)


def test_payload_that_is_not_json(lambda_client: Any, echo: str) -> None:
    for payload in (b"not json", b"{'single': 'quotes'}", b'{"unterminated": '):
        with pytest.raises(ClientError) as excinfo:
            lambda_client.invoke(FunctionName=echo, Payload=payload)
        code, message, status = client_error(excinfo)
        assert (code, status) == ("InvalidRequestContentException", 400)
        assert message.startswith("Could not parse request body into json")


def test_request_over_6_mb_is_too_large(lambda_client: Any, echo: str) -> None:
    payload = json.dumps({"data": "x" * (6 * MB)}).encode()
    with pytest.raises(ClientError) as excinfo:
        lambda_client.invoke(FunctionName=echo, Payload=payload)
    code, message, status = client_error(excinfo)
    assert (code, status) == ("RequestTooLargeException", 413)
    assert "6291456" in message
    # Just under the limit is fine.
    fits = json.dumps({"data": "x" * (6 * MB - 100)}).encode()
    answer = lambda_client.invoke(FunctionName=echo, Payload=fits)
    assert "FunctionError" not in answer and len(answer["Payload"].read()) > 6 * MB - 100


def test_event_over_1_mb_is_too_large(lambda_client: Any, echo: str) -> None:
    payload = json.dumps({"data": "x" * MB}).encode()
    with pytest.raises(ClientError) as excinfo:
        lambda_client.invoke(FunctionName=echo, Payload=payload, InvocationType="Event")
    assert client_error(excinfo)[0::2] == ("RequestTooLargeException", 413)


def test_response_over_6_mb_is_a_function_error(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
def handler(event, context):
    return "x" * event["size"]
""")
    answer, payload = invoke_json(lambda_client, name, {"size": 6 * MB + 10})
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Function.ResponseSizeTooLarge"
    assert "6291456" in payload["errorMessage"]
    # The environment survives and answers a response that fits.
    answer, payload = invoke_json(lambda_client, name, {"size": 1000})
    assert "FunctionError" not in answer and payload == "x" * 1000


def test_huge_output_does_not_block_and_the_tail_still_ends_with_report(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, """
import sys

def handler(event, context):
    for _ in range(48):
        sys.stdout.write("y" * 65536)
    print("last words")
    return "survived"
""")
    answer, payload = invoke_json(lambda_client, name, LogType="Tail")
    assert payload == "survived"
    raw = base64.b64decode(answer["LogResult"])
    assert len(raw) == 4096
    assert raw.decode().rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: ")


def test_bad_client_context(lambda_client: Any, echo: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        lambda_client.invoke(FunctionName=echo, ClientContext="%%% not base64 %%%")
    assert client_error(excinfo)[0::2] == ("InvalidRequestContentException", 400)


def test_runtime_lamina_cannot_run_is_a_clear_error(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, "class Handler {}\n", handler="example.Handler::handleRequest",
                                  Runtime="java21")
    with pytest.raises(ClientError) as excinfo:
        lambda_client.invoke(FunctionName=name)
    code, message, status = client_error(excinfo)
    assert (code, status) == ("InvalidRuntimeException", 502)
    assert "java21" in message


@pytest.mark.parametrize(("files", "modes", "reason"), [
    pytest.param({"app.py": "x = 1\n"}, None, "Couldn't find valid bootstrap(s)", id="no-bootstrap"),
    pytest.param({"bootstrap": "#!/bin/sh\nexit 0\n"}, {"bootstrap": 0o644}, "permission denied",
                 id="not-executable"),
])
def test_provided_runtime_without_a_usable_bootstrap(lambda_client: Any, files: dict[str, str],
                                                     modes: dict[str, int] | None, reason: str) -> None:
    # AWS: {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": "RequestId: ... Error: Couldn't find
    # valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"}, or "fork/exec ...: permission denied".
    name = unique_name("provided")
    lambda_client.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="x.y",
                                  Code={"ZipFile": make_zip(files, modes)})
    answer, payload = invoke_json(lambda_client, name)
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint", payload
    assert reason in payload["errorMessage"]
