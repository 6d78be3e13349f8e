"""Bad requests answer AWS's errors, never a stack trace, and leave nothing half-written.

boto3 runs with ``parameter_validation=False`` so the bad values reach the server; raw HTTP covers
what boto3 cannot send at all (malformed JSON, wrong JSON types, unknown routes).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, http_request, make_zip, unique_name

HELLO = "def handler(event, context):\n    return 'hello'\n"
FUNCTIONS = "/2015-03-31/functions"


@pytest.fixture(scope="module")
def loose_client(server: Server) -> Any:
    return server.client(parameter_validation=False)


def create_params(name: str, **changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"FunctionName": name, "Runtime": "python3.12", "Role": ROLE,
                              "Handler": "app.handler", "Code": {"ZipFile": make_zip({"app.py": HELLO})}}
    params.update(changes)
    return params


def assert_absent(client: Any, name: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.get_function(FunctionName=name)
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"


def assert_absent_raw(server: Server, name: str) -> None:
    answer = http_request(server, "GET", f"{FUNCTIONS}/{name}")
    assert answer.status == 404
    assert answer.headers["x-amzn-errortype"] == "ResourceNotFoundException"


def validation(value: str, member: str, constraint: str) -> str:
    return f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"


REFUSED_CREATES = [
    pytest.param({"MemorySize": 64}, "ValidationException",
                 validation("64", "memorySize", "Member must have value greater than or equal to 128"),
                 id="memory-64"),
    pytest.param({"MemorySize": 10241}, "ValidationException",
                 validation("10241", "memorySize", "Member must have value less than or equal to 10240"),
                 id="memory-10241"),
    pytest.param({"Timeout": 901}, "ValidationException",
                 validation("901", "timeout", "Member must have value less than or equal to 900"),
                 id="timeout-901"),
    pytest.param({"Timeout": 0}, "ValidationException",
                 validation("0", "timeout", "Member must have value greater than or equal to 1"),
                 id="timeout-0"),
    pytest.param({"EphemeralStorage": {"Size": 20000}}, "ValidationException",
                 validation("20000", "ephemeralStorage.size",
                            "Member must have value less than or equal to 10240"),
                 id="ephemeral-storage"),
    pytest.param({"Runtime": "python9.9"}, "ValidationException",
                 "1 validation error detected: Value 'python9.9' at 'runtime' failed to satisfy constraint: "
                 "Member must satisfy enum value set: [", id="runtime-enum"),
    pytest.param({"Runtime": "python2.7"}, "InvalidParameterValueException",
                 "The runtime parameter of python2.7 is no longer supported for creating or updating AWS "
                 "Lambda functions.", id="runtime-deprecated"),
    pytest.param({"Handler": "app handler"}, "ValidationException",
                 validation("app handler", "handler", "Member must satisfy regular expression pattern: [^\\s]+"),
                 id="handler-whitespace"),
    pytest.param({"Handler": "a" * 129}, "ValidationException",
                 validation("a" * 129, "handler", "Member must have length less than or equal to 128"),
                 id="handler-too-long"),
    pytest.param({"Environment": {"Variables": {"AWS_REGION": "mars-1", "LAMBDA_TASK_ROOT": "/x"}}},
                 "InvalidParameterValueException",
                 "Lambda was unable to configure your environment variables because the environment variables "
                 "you have provided contains reserved keys that are currently not supported for modification. "
                 "Reserved keys used in this request: AWS_REGION, LAMBDA_TASK_ROOT", id="env-reserved"),
    pytest.param({"Environment": {"Variables": {"BIG": "x" * 4200}}}, "InvalidParameterValueException",
                 "Lambda was unable to configure your environment variables because the environment variables "
                 "you have provided exceeded the 4KB limit.", id="env-over-4kb"),
    pytest.param({"Environment": {"Variables": {"BAD-NAME": "x"}}}, "ValidationException",
                 "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
                 "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
                 "[a-zA-Z]([a-zA-Z0-9_])+]", id="env-bad-key"),
    pytest.param({"MemorySize": "lots"}, "InvalidRequestContentException",
                 "Could not parse request body into json: ", id="memory-wrong-type"),
    pytest.param({"Architectures": ["sparc"]}, "ValidationException",
                 "at 'architectures.1.member' failed to satisfy constraint: Member must satisfy enum value set: "
                 "[x86_64, arm64]", id="architecture-enum"),
    pytest.param({"PackageType": "Image"}, "InvalidParameterValueException", "PackageType Image",
                 id="image-package"),
]


@pytest.mark.parametrize(("changes", "code", "message"), REFUSED_CREATES)
def test_refused_create_leaves_nothing(loose_client: Any, changes: dict[str, Any], code: str, message: str) -> None:
    name = unique_name("refused")
    with pytest.raises(ClientError) as excinfo:
        loose_client.create_function(**create_params(name, **changes))
    error = excinfo.value.response["Error"]
    assert error["Code"] == code
    assert error["Message"].startswith(message) or message in error["Message"], error["Message"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert_absent(loose_client, name)


def test_limits_themselves_are_accepted(loose_client: Any) -> None:
    for changes in ({"MemorySize": 10240, "Timeout": 900, "EphemeralStorage": {"Size": 10240}},
                    {"MemorySize": 128, "Timeout": 1, "EphemeralStorage": {"Size": 512}},
                    # 4 KB of environment exactly, measured as compact JSON.
                    {"Environment": {"Variables": {"BIG": "x" * (4096 - len('{"BIG":""}'))}}}):
        name = unique_name("limits")
        created = loose_client.create_function(**create_params(name, **changes))
        assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
        loose_client.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as excinfo:
        loose_client.create_function(**create_params(
            unique_name("limits"), Environment={"Variables": {"BIG": "x" * (4097 - len('{"BIG":""}'))}}))
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_several_violations_are_reported_together(loose_client: Any) -> None:
    name = unique_name("refused")
    with pytest.raises(ClientError) as excinfo:
        loose_client.create_function(**create_params(name, MemorySize=10241, Timeout=901))
    message = excinfo.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected: ")
    assert "Value '901' at 'timeout'" in message and "Value '10241' at 'memorySize'" in message
    assert_absent(loose_client, name)


def test_missing_required_member(loose_client: Any) -> None:
    name = unique_name("refused")
    params = create_params(name)
    del params["Role"]
    with pytest.raises(ClientError) as excinfo:
        loose_client.create_function(**params)
    assert excinfo.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value null at 'role' failed to satisfy constraint: "
                   "Member must not be null"}
    assert_absent(loose_client, name)


def test_refused_configuration_update_changes_nothing(loose_client: Any) -> None:
    name = unique_name("keep")
    loose_client.create_function(**create_params(name, Environment={"Variables": {"KEEP": "me"}}))
    before = loose_client.get_function_configuration(FunctionName=name)
    for changes in ({"MemorySize": 10241}, {"Timeout": 901}, {"Runtime": "python2.7"},
                    {"Environment": {"Variables": {"AWS_LAMBDA_FUNCTION_NAME": "other"}}}):
        with pytest.raises(ClientError) as excinfo:
            loose_client.update_function_configuration(FunctionName=name, **changes)
        assert excinfo.value.response["Error"]["Code"] in ("ValidationException", "InvalidParameterValueException")
    after = loose_client.get_function_configuration(FunctionName=name)
    assert after["RevisionId"] == before["RevisionId"]
    assert after["Environment"] == {"Variables": {"KEEP": "me"}}


def test_bad_invocation_type(loose_client: Any) -> None:
    name = unique_name("refused")
    loose_client.create_function(**create_params(name))
    with pytest.raises(ClientError) as excinfo:
        loose_client.invoke(FunctionName=name, InvocationType="Sometimes")
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert "Value 'Sometimes' at 'invocationType' failed to satisfy constraint" in \
        excinfo.value.response["Error"]["Message"]


# -- raw HTTP ---------------------------------------------------------------------------------------


def raw_create_body(name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"FunctionName": name, "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
                            "Code": {"ZipFile": base64.b64encode(make_zip({"app.py": HELLO})).decode()}}
    body.update(changes)
    return body


def test_raw_create_works(server: Server) -> None:
    # The baseline for the refusals below: the same request, well-formed, is accepted.
    name = unique_name("raw")
    answer = http_request(server, "POST", FUNCTIONS, json.dumps(raw_create_body(name)).encode(),
                          {"Content-Type": "application/json"})
    assert answer.status == 201, answer.body
    assert answer.json()["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert answer.headers["x-amzn-requestid"]


def test_raw_malformed_json_body(server: Server) -> None:
    answer = http_request(server, "POST", FUNCTIONS, b'{"FunctionName": "x", ', {"Content-Type": "application/json"})
    assert answer.status == 400
    assert answer.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["Type"] == "User"
    assert body["message"].startswith("Could not parse request body into json: ")


@pytest.mark.parametrize("changes", [
    pytest.param({"FunctionName": 5}, id="name-number"),
    pytest.param({"MemorySize": "512"}, id="memory-string"),
    pytest.param({"Timeout": 1.5}, id="timeout-float"),
    pytest.param({"Environment": {"Variables": ["A=1"]}}, id="env-list"),
    pytest.param({"Code": {"ZipFile": "%%% not base64 %%%"}}, id="zip-not-base64"),
])
def test_raw_wrong_types(server: Server, changes: dict[str, Any]) -> None:
    name = unique_name("raw")
    answer = http_request(server, "POST", FUNCTIONS, json.dumps(raw_create_body(name, **changes)).encode(),
                          {"Content-Type": "application/json"})
    assert answer.status == 400, answer.body
    assert answer.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert answer.json()["message"].startswith("Could not parse request body into json: ")
    assert_absent_raw(server, name)


def test_raw_value_out_of_range(server: Server) -> None:
    name = unique_name("raw")
    answer = http_request(server, "POST", FUNCTIONS, json.dumps(raw_create_body(name, MemorySize=10241)).encode(),
                          {"Content-Type": "application/json"})
    assert answer.status == 400
    assert answer.headers["x-amzn-errortype"] == "ValidationException"
    assert answer.json()["message"] == validation(
        "10241", "memorySize", "Member must have value less than or equal to 10240")
    assert_absent_raw(server, name)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/no/such/route"),
    ("DELETE", FUNCTIONS),
    ("POST", "/2015-03-31/functions/name/nonsense"),
])
def test_unknown_route(server: Server, method: str, path: str) -> None:
    answer = http_request(server, method, path, b"{}" if method == "POST" else None)
    assert answer.status == 404
    assert answer.headers["x-amzn-errortype"] == "UnknownOperationException"
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers.get("x-amzn-requestid")
    body = answer.json()
    assert "Traceback" not in answer.body.decode()
    assert path in (body.get("message") or body.get("Message"))


def test_operation_not_implemented_yet(server: Server, loose_client: Any) -> None:
    # Code signing is an operation family Lamina does not implement.
    with pytest.raises(ClientError) as excinfo:
        loose_client.list_code_signing_configs()
    assert excinfo.value.response["Error"]["Code"] == "NotImplementedException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "ListCodeSigningConfigs" in excinfo.value.response["Error"]["Message"]

    answer = http_request(server, "GET", "/2020-04-22/code-signing-configs/")
    assert answer.status == 501
    assert answer.headers["x-amzn-errortype"] == "NotImplementedException"
    assert "Traceback" not in answer.body.decode()
    assert "ListCodeSigningConfigs" in answer.json()["message"]
