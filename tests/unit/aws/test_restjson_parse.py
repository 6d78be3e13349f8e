"""Request parsing, checked against botocore's serializer: what botocore sends, we read back."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest

from lamina.aws.http import HttpRequest
from lamina.aws.model import service_model
from lamina.aws.restjson import RestJsonProtocol
from lamina.errors import AwsError, InvalidRequestContentException, SerializationException

from .wire import STAMP, NoSample, botocore_request, sample

ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def parse(protocol: RestJsonProtocol, request: HttpRequest) -> dict[str, Any]:
    call = protocol.match(request)
    assert call is not None, request
    return protocol.parse(call.operation, request, call.labels)


def test_invoke(lambda_protocol: RestJsonProtocol) -> None:
    context = base64.b64encode(b'{"custom": {"a": 1}}').decode()
    request = HttpRequest(
        "POST", "/2015-03-31/functions/my-fn/invocations", "Qualifier=%24LATEST",
        {"x-amz-invocation-type": "Event", "x-amz-log-type": "Tail", "x-amz-client-context": context,
         "content-type": "application/json"},
        b'{"key": "value"}')
    assert parse(lambda_protocol, request) == {
        "FunctionName": "my-fn", "Qualifier": "$LATEST", "InvocationType": "Event", "LogType": "Tail",
        "ClientContext": context, "Payload": b'{"key": "value"}'}


def test_invoke_payload_is_raw_bytes_not_json(lambda_protocol: RestJsonProtocol) -> None:
    request = HttpRequest("POST", "/2015-03-31/functions/f/invocations", body=b"\x00not json\xff")
    assert parse(lambda_protocol, request)["Payload"] == b"\x00not json\xff"


def test_invoke_without_body_has_no_payload(lambda_protocol: RestJsonProtocol) -> None:
    request = HttpRequest("POST", "/2015-03-31/functions/f/invocations")
    assert parse(lambda_protocol, request) == {"FunctionName": "f"}


def test_create_function_body(lambda_protocol: RestJsonProtocol) -> None:
    params = {"FunctionName": "my-fn", "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": b"PK\x03\x04zip"}, "MemorySize": 256, "Timeout": 30, "Publish": True,
              "Environment": {"Variables": {"AB": "1"}}, "Architectures": ["arm64"]}
    request = botocore_request("lambda", "CreateFunction", params)
    assert json.loads(request.body)["Code"] == {"ZipFile": base64.b64encode(b"PK\x03\x04zip").decode()}
    assert parse(lambda_protocol, request) == params


def test_list_functions_query(lambda_protocol: RestJsonProtocol) -> None:
    request = HttpRequest("GET", "/2015-03-31/functions/", "FunctionVersion=ALL&MaxItems=50&Marker=a%2Bb")
    assert parse(lambda_protocol, request) == {"FunctionVersion": "ALL", "MaxItems": 50, "Marker": "a+b"}


def test_tag_resource(lambda_protocol: RestJsonProtocol) -> None:
    request = botocore_request("lambda", "TagResource", {"Resource": ARN, "Tags": {"team": "x"}})
    assert ":" not in request.path.rsplit("/", 1)[1]  # botocore percent-encodes the ARN
    assert parse(lambda_protocol, request) == {"Resource": ARN, "Tags": {"team": "x"}}


def test_query_list_member_from_repeated_keys(lambda_protocol: RestJsonProtocol) -> None:
    request = botocore_request("lambda", "UntagResource", {"Resource": ARN, "TagKeys": ["a", "b c"]})
    assert request.query == "tagKeys=a&tagKeys=b%20c"
    assert parse(lambda_protocol, request) == {"Resource": ARN, "TagKeys": ["a", "b c"]}


def test_timestamp_in_json_body(lambda_protocol: RestJsonProtocol) -> None:
    params = {"FunctionName": "f", "EventSourceArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
              "StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": STAMP}
    request = botocore_request("lambda", "CreateEventSourceMapping", params)
    assert json.loads(request.body)["StartingPositionTimestamp"] == int(STAMP.timestamp())
    parsed = parse(lambda_protocol, request)
    assert parsed == params
    assert parsed["StartingPositionTimestamp"].tzinfo is not None


def test_jsonvalue_header_is_base64_json() -> None:
    protocol = RestJsonProtocol("iot-data")
    request = botocore_request("iot-data", "Publish", {"topic": "t/1", "userProperties": {"a": [1, "b"]},
                                                       "payload": b"raw"})
    assert json.loads(base64.b64decode(request.headers["x-amz-mqtt5-user-properties"])) == {"a": [1, "b"]}
    assert parse(protocol, request) == {"topic": "t/1", "userProperties": {"a": [1, "b"]}, "payload": b"raw"}


# --- malformed bodies --------------------------------------------------------------------------------

def _create(body: bytes) -> HttpRequest:
    return HttpRequest("POST", "/2015-03-31/functions", "", {"content-type": "application/json"}, body)


def _error(protocol: RestJsonProtocol, request: HttpRequest) -> AwsError:
    with pytest.raises(AwsError) as caught:
        parse(protocol, request)
    return caught.value


@pytest.mark.parametrize(("body", "message"), [
    (b'{"FunctionName": ', "Unexpected end-of-input: Expecting value at position 17"),
    (b"{'FunctionName': 'f'}", "Unexpected character (\"'\" (code 39)): Expecting property name enclosed "
                             "in double quotes at position 1"),
    (b'{"MemorySize": "abc"}', "Cannot deserialize value of type int from String \"abc\" at 'MemorySize'"),
    (b'{"MemorySize": 1.5}', "Cannot deserialize value of type int from Number 1.5 at 'MemorySize'"),
    (b'{"Publish": "yes"}', "Cannot deserialize value of type boolean from String \"yes\" at 'Publish'"),
    (b'{"Environment": {"Variables": {"A": 5}}}',
     "Cannot deserialize value of type String from Number 5 at 'Environment.Variables.A'"),
    (b'{"Layers": [true]}', "Cannot deserialize value of type String from Boolean true at 'Layers[0]'"),
    (b'{"Code": []}', "Cannot deserialize value of type FunctionCode from Array at 'Code'"),
    (b'{"Code": {"ZipFile": "!!"}}',
     "Cannot deserialize value of type byte[] from String \"!!\": not valid Base64 at 'Code.ZipFile'"),
    (b'[1]', "Cannot deserialize value of type CreateFunctionRequest from Array"),
    (b"\xff\xfe{", "Invalid UTF-8 in request body"),
])
def test_malformed_body_answers_the_service_parse_error(lambda_protocol: RestJsonProtocol, body: bytes,
                                                        message: str) -> None:
    error = _error(lambda_protocol, _create(body))
    assert isinstance(error, InvalidRequestContentException)
    assert error.status == 400
    assert error.message == f"Could not parse request body into json: {message}"


def test_null_body_is_an_empty_body(lambda_protocol: RestJsonProtocol) -> None:
    request = HttpRequest("PUT", "/2017-10-31/functions/f/concurrency", body=b"null")
    with pytest.raises(AwsError, match="Value null at 'reservedConcurrentExecutions'"):
        parse(lambda_protocol, request)


def test_deeply_nested_body(lambda_protocol: RestJsonProtocol) -> None:
    error = _error(lambda_protocol, _create(b"[" * 100_000 + b"]" * 100_000))
    assert isinstance(error, InvalidRequestContentException)
    assert error.message == "Could not parse request body into json: Nesting too deep"


def test_parse_error_defaults_to_serialization_exception() -> None:
    error = _error(RestJsonProtocol("lambda"), _create(b"{"))
    assert isinstance(error, SerializationException)
    assert error.message.startswith("Could not parse request body into json: Unexpected end-of-input")


def test_mistyped_query_value(lambda_protocol: RestJsonProtocol) -> None:
    error = _error(lambda_protocol, HttpRequest("GET", "/2015-03-31/functions", "MaxItems=lots"))
    assert isinstance(error, InvalidRequestContentException)
    assert error.message == "Cannot deserialize value of type int from String \"lots\" at 'MaxItems'"


def test_unknown_body_members_are_ignored(lambda_protocol: RestJsonProtocol) -> None:
    request = botocore_request("lambda", "PutFunctionConcurrency",
                               {"FunctionName": "f", "ReservedConcurrentExecutions": 3})
    body = {**json.loads(request.body), "Unknown": {"x": 1}, "FunctionName": "from-body"}
    request = HttpRequest(request.method, request.path, request.query, request.headers,
                          json.dumps(body).encode())
    # A member bound to the uri is never read from the body.
    assert parse(lambda_protocol, request) == {"FunctionName": "f", "ReservedConcurrentExecutions": 3}


# --- every operation, the way botocore sends it ------------------------------------------------------

def _roundtrip_cases(services: list[str]) -> list[Any]:
    cases = []
    for service in services:
        model = service_model(service)
        for name in model.operation_names:
            shape = model.operation_model(name).input_shape
            if shape is None or any(m.serialization.get("eventstream") for m in shape.members.values()):
                continue
            try:
                params = sample(shape)
            except NoSample:
                continue
            for member_name, member in shape.members.items():
                if member.serialization.get("hostLabel"):
                    params[member_name] = "host"
            cases.append(pytest.param(service, name, params, id=f"{service}.{name}"))
    return cases


# Lambda, plus services whose models use what Lambda's does not: query maps (amp), header maps and
# string payloads (dataexchange), literal query parts and blob payloads (apigateway), jsonvalue
# headers (iot-data), timestamp and boolean headers (connect, appconfig).
_SERVICES = ["lambda", "amp", "dataexchange", "apigateway", "iot-data", "connect", "appconfig", "scheduler"]


@pytest.mark.parametrize(("service", "operation", "params"), _roundtrip_cases(_SERVICES))
def test_parses_what_botocore_serializes(service: str, operation: str, params: dict[str, Any]) -> None:
    protocol = _protocols.get(service) or _protocols.setdefault(service, RestJsonProtocol(service))
    request = botocore_request(service, operation, params)
    call = protocol.match(request)
    assert call is not None and call.operation == operation
    assert protocol.parse(operation, request, call.labels) == params


_protocols: dict[str, RestJsonProtocol] = {}


def test_roundtrip_covers_most_lambda_operations() -> None:
    covered = {case.values[1] for case in _roundtrip_cases(["lambda"])}
    assert len(covered) >= 0.9 * len(service_model("lambda").operation_names)


def test_epoch_timestamps_become_utc_datetimes(lambda_protocol: RestJsonProtocol) -> None:
    params = parse(lambda_protocol, HttpRequest(
        "POST", "/2015-03-31/event-source-mappings", "", {},
        b'{"FunctionName": "f", "StartingPositionTimestamp": 1767323045.5}'))
    assert params["StartingPositionTimestamp"] == datetime.datetime(2026, 1, 2, 3, 4, 5, 500000,
                                                                     tzinfo=datetime.UTC)
