"""Event source mappings without a server: the SQS record shape, partial batch responses, the
state machine and the batching rules."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidParameterValueException
from lamina.services.sqs.messages import Message
from lamina.services.sqs.queues import Received
from lamina.triggers.esm.model import IllegalTransition, Mapping, MappingState, check_sqs_batching
from lamina.triggers.esm.sqs import failed_items, sqs_record

ARN = "arn:aws:sqs:us-east-1:000000000000:jobs"


def received(fifo: bool = False) -> Received:
    message = Message("m-1", ARN, 42, "hello", {"n": {"DataType": "Number", "StringValue": "5"},
                                               "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
                      {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-a-b"}},
                      "g" if fifo else None, "d" if fifo else None, "000000000000", 1_700_000_000.5, 0.0,
                      receive_count=2)
    return Received(message, "handle-1", 2, 1_700_000_001.25)


def test_sqs_record_has_aws_shape() -> None:
    record = sqs_record(received(), ARN, "us-east-1", fifo=False)
    assert record["messageId"] == "m-1" and record["receiptHandle"] == "handle-1" and record["body"] == "hello"
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000500",
                                    "SenderId": "000000000000", "ApproximateFirstReceiveTimestamp": "1700000001250",
                                    "AWSTraceHeader": "Root=1-a-b"}
    assert record["messageAttributes"] == {
        "n": {"stringValue": "5", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "b": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}}
    assert record["md5OfBody"] == "5d41402abc4b2a76b9719d911017c592"
    assert len(record["md5OfMessageAttributes"]) == 32
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == ("aws:sqs", ARN, "us-east-1")


def test_fifo_records_carry_group_dedup_and_sequence() -> None:
    attributes = sqs_record(received(fifo=True), ARN, "us-east-1", fifo=True)["attributes"]
    assert attributes["MessageGroupId"] == "g" and attributes["MessageDeduplicationId"] == "d"
    assert attributes["SequenceNumber"] == "00000000000000000042"


@pytest.mark.parametrize(("payload", "expected"), [
    (b"", set()), (b"null", set()), (b"{}", set()), (b'{"batchItemFailures": []}', set()),
    (b'{"batchItemFailures": null}', set()), (b'"done"', set()),
    (b'{"batchItemFailures": [{"itemIdentifier": "a"}]}', {"a"}),
    (b"not json", None), (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
    (b'{"batchItemFailures": [{"id": "a"}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', None),
    (b'{"batchItemFailures": "a"}', None),
])
def test_partial_batch_responses(payload: bytes, expected: set[str] | None) -> None:
    assert failed_items(payload, {"a", "b"}) == expected


def test_state_machine() -> None:
    mapping = Mapping("u", "us-east-1", "000000000000", "arn:aws:lambda:us-east-1:000000000000:function:f", ARN)
    assert mapping.state is MappingState.CREATING and mapping.busy
    enabled = mapping.with_state(MappingState.ENABLED)
    assert not enabled.busy
    assert enabled.with_state(MappingState.DISABLING).with_state(MappingState.DISABLED).state is MappingState.DISABLED
    with pytest.raises(IllegalTransition):
        enabled.with_state(MappingState.CREATING)
    with pytest.raises(IllegalTransition):
        enabled.with_state(MappingState.DELETING).with_state(MappingState.ENABLED)
    assert Mapping.from_json(enabled.to_json()) == enabled
    assert enabled.function_name == "f" and enabled.qualifier is None
    assert enabled.arn == "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u"


def test_batching_rules() -> None:
    check_sqs_batching(10, 0, fifo=False)
    check_sqs_batching(10_000, 1, fifo=False)
    with pytest.raises(InvalidParameterValueException, match="Maximum batch window in seconds must be greater than 0"):
        check_sqs_batching(11, 0, fifo=False)
    with pytest.raises(InvalidParameterValueException, match="FIFO"):
        check_sqs_batching(11, 1, fifo=True)
