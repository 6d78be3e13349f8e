"""Response serialization, checked against botocore's response parser: what we send, botocore reads
back unchanged (values, status, error code and message)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from lamina.aws.http import HttpResponse
from lamina.aws.model import service_model
from lamina.aws.restjson import RestJsonProtocol
from lamina.errors import (
    AwsError,
    ResourceConflictException,
    ResourceNotFoundException,
    ServiceException,
    TooManyRequestsException,
    ValidationException,
)

from .wire import STAMP, NoSample, botocore_parse, sample

ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"


def without_metadata(parsed: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parsed.items() if k != "ResponseMetadata"}


def test_invoke_output(lambda_protocol: RestJsonProtocol) -> None:
    output = {"StatusCode": 200, "FunctionError": "Unhandled", "LogResult": "U1RBUlQ=",
              "ExecutedVersion": "$LATEST", "Payload": b'{"errorMessage": "boom"}'}
    response = lambda_protocol.serialize("Invoke", output)
    assert response.status == 200
    assert response.body == b'{"errorMessage": "boom"}'
    assert response.header("X-Amz-Function-Error") == "Unhandled"
    assert response.header("X-Amz-Log-Result") == "U1RBUlQ="
    assert response.header("X-Amz-Executed-Version") == "$LATEST"
    assert response.header("Content-Type") == "application/json"
    parsed = botocore_parse("lambda", "Invoke", response)
    # botocore hands a payload blob back as it came (str in this bytes-in test harness).
    assert parsed["Payload"] == '{"errorMessage": "boom"}'
    assert without_metadata(parsed) | {"Payload": output["Payload"]} == output


def test_invoke_status_comes_from_the_status_code_member(lambda_protocol: RestJsonProtocol) -> None:
    response = lambda_protocol.serialize("Invoke", {"StatusCode": 202})
    assert (response.status, response.body) == (202, b"")
    assert botocore_parse("lambda", "Invoke", response)["StatusCode"] == 202
    assert lambda_protocol.serialize("Invoke", {}).status == 200  # the model's responseCode


def test_create_function_output(lambda_protocol: RestJsonProtocol) -> None:
    output = {"FunctionName": "my-fn", "FunctionArn": ARN, "Runtime": "python3.12", "MemorySize": 128,
              "Timeout": 3, "CodeSize": 301, "LastModified": "2026-01-02T03:04:05.000+0000",
              "Environment": {"Variables": {"AB": "1"}}, "Architectures": ["x86_64"], "State": "Pending"}
    response = lambda_protocol.serialize("CreateFunction", output)
    assert response.status == 201
    assert response.header("Content-Type") == "application/json"
    assert json.loads(response.body) == output
    assert without_metadata(botocore_parse("lambda", "CreateFunction", response)) == output


def test_header_values_cannot_split_the_header_block(lambda_protocol: RestJsonProtocol) -> None:
    response = lambda_protocol.serialize("Invoke", {"StatusCode": 200, "FunctionError": "a\r\nSet-Cookie: x"})
    assert response.header("X-Amz-Function-Error") == "a  Set-Cookie: x"
    assert response.header("Set-Cookie") is None


def test_no_output_shape_and_204(lambda_protocol: RestJsonProtocol) -> None:
    response = lambda_protocol.serialize("TagResource", {})
    assert (response.status, response.body) == (204, b"")


def test_timestamps_and_blobs_in_json_bodies(lambda_protocol: RestJsonProtocol) -> None:
    output = {"UUID": "u", "LastModified": STAMP, "StartingPositionTimestamp": STAMP}
    response = lambda_protocol.serialize("CreateEventSourceMapping", output)
    assert json.loads(response.body)["LastModified"] == int(STAMP.timestamp())
    assert without_metadata(botocore_parse("lambda", "CreateEventSourceMapping", response)) == output
    naive = lambda_protocol.serialize("CreateEventSourceMapping",
                                      {"LastModified": STAMP.replace(tzinfo=None)})
    assert json.loads(naive.body)["LastModified"] == int(STAMP.timestamp())  # naive means UTC


def _output_cases() -> list[Any]:
    model = service_model("lambda")
    cases = []
    for name in model.operation_names:
        shape = model.operation_model(name).output_shape
        if shape is None or any(m.serialization.get("eventstream") for m in shape.members.values()):
            continue
        try:
            cases.append(pytest.param(name, sample(shape), id=name))
        except NoSample:
            continue
    return cases


@pytest.mark.parametrize(("operation", "output"), _output_cases())
def test_botocore_reads_back_every_lambda_output(lambda_protocol: RestJsonProtocol, operation: str,
                                                 output: dict[str, Any]) -> None:
    shape = service_model("lambda").operation_model(operation).output_shape
    for name, member in shape.members.items():
        if member.serialization.get("location") == "statusCode":
            output[name] = 200
    response = lambda_protocol.serialize(operation, output)
    parsed = without_metadata(botocore_parse("lambda", operation, response))
    payload = shape.serialization.get("payload")
    if payload and isinstance(parsed.get(payload), str) and shape.members[payload].type_name == "blob":
        parsed[payload] = parsed[payload].encode()
    assert parsed == output


# --- errors ------------------------------------------------------------------------------------------

def _botocore_error(response: HttpResponse, error: str | None = None) -> dict[str, Any]:
    parsed = botocore_parse("lambda", "GetFunction", response)
    if error is not None:  # the modelled fields, the way botocore's client fills them in
        from botocore.awsrequest import HeadersDict
        from botocore.parsers import create_parser

        modeled = create_parser("rest-json").parse(
            {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body},
            service_model("lambda").shape_for(error))
        parsed["Modeled"] = modeled
    return parsed


def test_message_member_casing_follows_the_model(lambda_protocol: RestJsonProtocol) -> None:
    model = service_model("lambda")
    # The two spellings coexist in Lambda's model; check it rather than trust a comment.
    assert "Message" in model.shape_for("ResourceNotFoundException").members
    assert "message" in model.shape_for("ResourceConflictException").members

    missing = lambda_protocol.serialize_error(ResourceNotFoundException("Function not found: f"), "rid-1")
    assert json.loads(missing.body) == {"Type": "User", "Message": "Function not found: f"}
    conflict = lambda_protocol.serialize_error(ResourceConflictException("exists"), "rid-2")
    assert json.loads(conflict.body) == {"Type": "User", "message": "exists"}


@pytest.mark.parametrize(("error", "code", "status"), [
    (ResourceNotFoundException("Function not found: f"), "ResourceNotFoundException", 404),
    (ResourceConflictException("Function already exist: f"), "ResourceConflictException", 409),
    (ValidationException("1 validation error detected: x"), "ValidationException", 400),
    (ServiceException("internal"), "ServiceException", 500),
])
def test_botocore_reads_error_code_and_message(lambda_protocol: RestJsonProtocol, error: AwsError, code: str,
                                               status: int) -> None:
    response = lambda_protocol.serialize_error(error, "req-123")
    assert response.status == status
    assert response.header("x-amzn-ErrorType") == code
    assert response.header("x-amzn-RequestId") == "req-123"
    assert response.header("Content-Type") == "application/json"
    parsed = _botocore_error(response)
    assert parsed["Error"] == {"Code": code, "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-123"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
    assert json.loads(response.body)["Type"] == ("Service" if status >= 500 else "User")


def test_error_fields_go_where_the_error_shape_puts_them(lambda_protocol: RestJsonProtocol) -> None:
    error = TooManyRequestsException("Rate exceeded", fields={"Reason": "ReservedFunctionConcurrentInvocation"
                                                              "LimitExceeded", "retryAfterSeconds": "2"},
                                     headers={"X-Extra": "1"})
    response = lambda_protocol.serialize_error(error, "rid")
    assert response.status == 429
    assert response.header("Retry-After") == "2"
    assert response.header("X-Extra") == "1"
    assert json.loads(response.body) == {"Type": "User", "message": "Rate exceeded",
                                         "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}
    parsed = _botocore_error(response, "TooManyRequestsException")
    assert parsed["Error"]["Code"] == "TooManyRequestsException"
    assert parsed["Modeled"] == {"Type": "User", "message": "Rate exceeded", "retryAfterSeconds": "2",
                                 "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}


def test_unmodelled_error_fields_are_kept_in_the_body(lambda_protocol: RestJsonProtocol) -> None:
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    error = ResourceNotFoundException("gone", fields={"When": when})
    assert json.loads(lambda_protocol.serialize_error(error, "r").body)["When"] == 1767225600
