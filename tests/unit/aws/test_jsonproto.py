"""The ``json`` protocol without sockets, checked against botocore's own serializer and parser: what
botocore sends we read back, what we answer botocore reads — down to which exception boto3 raises."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.aws.dispatch import Dispatcher
from lamina.aws.http import HttpRequest, HttpResponse
from lamina.aws.jsonproto import JsonProtocol
from lamina.aws.protocol import RequestContext
from lamina.errors import (
    AwsError,
    InvalidParameterValueException,
    QueueDoesNotExist,
    QueueNameExists,
    ResourceNotFoundException,
    SerializationException,
    ServiceException,
    ValidationException,
)
from lamina.services.sqs.provider import sqs_protocol

from .wire import botocore_parse, botocore_request

URL = "http://127.0.0.1:4566/123456789012/q"


@pytest.fixture(scope="module")
def sqs() -> JsonProtocol:
    return sqs_protocol()


@pytest.fixture(scope="module")
def logs() -> JsonProtocol:
    return JsonProtocol("logs")


def parse(protocol: JsonProtocol, request: HttpRequest) -> dict[str, Any]:
    call = protocol.match(request)
    assert call is not None, request
    return protocol.parse(call.operation, request, call.labels)


# --- requests ---------------------------------------------------------------------------------------

def test_botocore_request_shape(sqs: JsonProtocol) -> None:
    request = botocore_request("sqs", "SendMessage", {"QueueUrl": URL, "MessageBody": "hi"})
    assert (request.method, request.path) == ("POST", "/")
    assert request.headers["x-amz-target"] == "AmazonSQS.SendMessage"
    assert request.headers["content-type"] == "application/x-amz-json-1.0"
    assert sqs.target_prefix == "AmazonSQS"
    assert sqs.signing_name == "sqs"


def test_match(sqs: JsonProtocol) -> None:
    def target(value: str, method: str = "POST") -> HttpRequest:
        return HttpRequest(method, "/", headers={"x-amz-target": value})

    assert sqs.match(target("AmazonSQS.ReceiveMessage")) == ("ReceiveMessage", {})
    assert sqs.match(target("AmazonSQS.NoSuchThing")) is None
    assert sqs.match(target("Kinesis_20131202.ListStreams")) is None
    assert sqs.match(target("AmazonSQS.ReceiveMessage", "GET")) is None
    assert sqs.match(HttpRequest("POST", "/")) is None


@pytest.mark.parametrize(("operation", "params"), [
    ("CreateQueue", {"QueueName": "q.fifo", "Attributes": {"FifoQueue": "true"}, "tags": {"team": "a"}}),
    ("SendMessage", {"QueueUrl": URL, "MessageBody": "héllo", "DelaySeconds": 5, "MessageAttributes": {
        "s": {"DataType": "String", "StringValue": "x"}, "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}}),
    ("ReceiveMessage", {"QueueUrl": URL, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20,
                        "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["foo.*"]}),
    ("DeleteMessageBatch", {"QueueUrl": URL, "Entries": [{"Id": "a", "ReceiptHandle": "r1"}]}),
    ("ListQueues", {}),
])
def test_parse_what_botocore_sends(sqs: JsonProtocol, operation: str, params: dict[str, Any]) -> None:
    assert parse(sqs, botocore_request("sqs", operation, params)) == params


def test_blob_arrives_base64_and_parses_to_bytes(sqs: JsonProtocol) -> None:
    params = {"QueueUrl": URL, "MessageBody": "x",
              "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}}}
    request = botocore_request("sqs", "SendMessage", params)
    assert json.loads(request.body)["MessageAttributes"]["b"]["BinaryValue"] == base64.b64encode(b"\x01\x02").decode()
    assert parse(sqs, request)["MessageAttributes"]["b"]["BinaryValue"] == b"\x01\x02"


def test_empty_body_is_no_parameters(sqs: JsonProtocol) -> None:
    request = HttpRequest("POST", "/", headers={"x-amz-target": "AmazonSQS.ListQueues"})
    assert parse(sqs, request) == {}


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b'{"MaxNumberOfMessages": "ten"}',
                                  b"\xff\xfe", b'{"QueueUrl": 5}'])
def test_malformed_body_is_a_serialization_error(sqs: JsonProtocol, body: bytes) -> None:
    request = HttpRequest("POST", "/", headers={"x-amz-target": "AmazonSQS.ReceiveMessage"}, body=body)
    with pytest.raises(SerializationException):
        parse(sqs, request)


def test_deep_nesting_is_refused(sqs: JsonProtocol) -> None:
    body = b'{"Attributes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    request = HttpRequest("POST", "/", headers={"x-amz-target": "AmazonSQS.CreateQueue"}, body=body)
    with pytest.raises(SerializationException):
        parse(sqs, request)


def test_model_validation_when_enabled(logs: JsonProtocol) -> None:
    request = HttpRequest("POST", "/", headers={"x-amz-target": "Logs_20140328.CreateLogGroup"}, body=b"{}")
    with pytest.raises(ValidationException, match="Value null at 'logGroupName' failed to satisfy constraint"):
        parse(logs, request)


def test_sqs_leaves_value_checks_to_its_provider(sqs: JsonProtocol) -> None:
    # SQS answers an unknown attribute name with InvalidAttributeName, not the model's enum check.
    request = botocore_request("sqs", "GetQueueAttributes", {"QueueUrl": URL, "AttributeNames": ["Nope"]})
    assert parse(sqs, request) == {"QueueUrl": URL, "AttributeNames": ["Nope"]}


# --- responses --------------------------------------------------------------------------------------

def test_serialize_round_trips_through_botocore(sqs: JsonProtocol) -> None:
    output = {"Messages": [{"MessageId": "m1", "ReceiptHandle": "r", "Body": "b", "MD5OfBody": "x",
                            "Attributes": {"ApproximateReceiveCount": "2"},
                            "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00"}}}]}
    response = sqs.serialize("ReceiveMessage", output)
    assert response.status == 200
    assert response.header("content-type") == "application/x-amz-json-1.0"
    parsed = botocore_parse("sqs", "ReceiveMessage", response)
    parsed.pop("ResponseMetadata")
    assert parsed == output


def test_empty_output_is_an_empty_object(sqs: JsonProtocol, logs: JsonProtocol) -> None:
    assert sqs.serialize("DeleteQueue", {}).body == b"{}"
    assert sqs.serialize("ReceiveMessage", {}).body == b"{}"
    assert logs.serialize("CreateLogGroup", {}).header("content-type") == "application/x-amz-json-1.1"


def test_query_compatible_error(sqs: JsonProtocol) -> None:
    response = sqs.serialize_error(QueueDoesNotExist("The specified queue does not exist."), "req-1")
    assert response.status == 400
    assert json.loads(response.body) == {"__type": "com.amazonaws.sqs#QueueDoesNotExist",
                                         "message": "The specified queue does not exist."}
    assert response.header("x-amzn-query-error") == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert response.header("x-amzn-requestid") == "req-1"
    assert response.header("content-type") == "application/x-amz-json-1.0"
    error = botocore_parse("sqs", "GetQueueUrl", response)["Error"]
    assert error == {"Code": "AWS.SimpleQueueService.NonExistentQueue", "QueryErrorCode": "QueueDoesNotExist",
                     "Type": "Sender", "Message": "The specified queue does not exist."}


def test_server_fault_is_receiver(sqs: JsonProtocol) -> None:
    response = sqs.serialize_error(ServiceException("boom"), "r")
    assert response.status == 500
    assert response.header("x-amzn-query-error") == "ServiceException;Receiver"


def test_plain_json_service_error(logs: JsonProtocol) -> None:
    response = logs.serialize_error(ResourceNotFoundException("x"), "r")
    assert json.loads(response.body)["__type"] == "ResourceNotFoundException"
    assert response.header("x-amzn-query-error") is None
    assert botocore_parse("logs", "CreateLogGroup", response)["Error"]["Code"] == "ResourceNotFoundException"


# --- the whole client: boto3's exception classes ----------------------------------------------------

class _Failing:
    """A provider whose operations raise the error they are given."""

    def __init__(self, error: AwsError) -> None:
        self.error = error

    async def get_queue_url(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        raise self.error

    async def create_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise self.error


def _client(provider: object) -> Any:
    """A boto3 sqs client whose requests go to a Dispatcher in-process (botocore's before-send hook
    answers them), so the whole botocore stack runs without a socket."""
    import boto3
    from botocore.awsrequest import AWSResponse

    dispatcher = Dispatcher()
    dispatcher.register("sqs", sqs_protocol(), provider)
    client = boto3.client("sqs", region_name="us-east-1", endpoint_url="http://sqs.local",
                          aws_access_key_id="k", aws_secret_access_key="s")

    def answer(request: Any, **_: Any) -> AWSResponse:
        body = request.body or b""
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        reply: HttpResponse = asyncio.run(dispatcher.handle(
            HttpRequest("POST", "/", "", headers, body if isinstance(body, bytes) else body.encode()),
            default_region="us-east-1", account_id="123456789012", endpoint="http://sqs.local"))

        class Raw:
            def stream(self, **_: Any) -> Any:
                yield reply.body

        return AWSResponse(request.url, reply.status, dict(reply.headers), Raw())

    client.meta.events.register("before-send.sqs", answer)
    return client


def test_boto3_raises_the_modelled_exception() -> None:
    client = _client(_Failing(QueueDoesNotExist("The specified queue does not exist.")))
    with pytest.raises(client.exceptions.QueueDoesNotExist) as caught:
        client.get_queue_url(QueueName="nope")
    assert caught.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"

    client = _client(_Failing(QueueNameExists("A queue already exists")))
    with pytest.raises(client.exceptions.QueueNameExists) as exists:
        client.create_queue(QueueName="q")
    assert exists.value.response["Error"]["Code"] == "QueueAlreadyExists"


def test_boto3_reports_unmodelled_errors_by_their_query_code() -> None:
    from botocore.exceptions import ClientError

    client = _client(_Failing(InvalidParameterValueException("Value 11 is invalid.")))
    with pytest.raises(ClientError) as caught:
        client.get_queue_url(QueueName="q")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert caught.value.response["Error"]["Message"] == "Value 11 is invalid."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --- every operation of a few json services, and hostile bodies ---------------------------------------

def _sampled(*services: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(service, operation, input, output) for every operation the sampler can fill in."""
    from lamina.aws.model import service_model

    from .wire import NoSample, sample

    cases = []
    for service in services:
        model = service_model(service)
        for name in model.operation_names:
            op = model.operation_model(name)
            if op.has_event_stream_output:
                continue
            try:
                params = sample(op.input_shape) if op.input_shape is not None else {}
                output = sample(op.output_shape) if op.output_shape is not None else {}
            except NoSample:  # a pattern none of the sampler's candidates fits
                continue
            cases.append((service, name, params, output))
    return cases


@pytest.fixture(scope="module")
def protocols() -> dict[str, JsonProtocol]:
    return {"sqs": sqs_protocol(), "logs": JsonProtocol("logs"), "kinesis": JsonProtocol("kinesis")}


@pytest.mark.parametrize(("service", "operation", "params", "output"), _sampled("sqs", "logs", "kinesis"))
def test_every_operation_round_trips(protocols: dict[str, JsonProtocol], service: str, operation: str,
                                     params: dict[str, Any], output: dict[str, Any]) -> None:
    protocol = protocols[service]
    try:
        assert parse(protocol, botocore_request(service, operation, params)) == params
    except ValidationException as error:  # sample() gives a map one entry, whatever its min
        assert "Member must have length greater than or equal to" in error.message
    parsed = botocore_parse(service, operation, protocol.serialize(operation, output))
    parsed.pop("ResponseMetadata", None)
    assert parsed == output


@given(st.binary(max_size=200))
def test_any_body_parses_or_is_refused_cleanly(body: bytes) -> None:
    protocol = _HOSTILE
    request = HttpRequest("POST", "/", headers={"x-amz-target": "AmazonSQS.SendMessage"}, body=body)
    try:
        protocol.parse("SendMessage", request, {})
    except AwsError as error:
        assert error.status == 400


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))
def test_any_json_document_parses_or_is_refused_cleanly(document: Any) -> None:
    body = json.dumps({"QueueUrl": URL, "MessageBody": "x", "MessageAttributes": document,
                       "Entries": document}).encode()
    for operation in ("SendMessage", "SendMessageBatch"):
        request = HttpRequest("POST", "/", headers={"x-amz-target": f"AmazonSQS.{operation}"}, body=body)
        try:
            _HOSTILE.parse(operation, request, {})
        except AwsError as error:
            assert error.status == 400


_HOSTILE = sqs_protocol()
