"""SQS through boto3 against a live server: every operation, long polling, visibility, redrive, FIFO,
AWS's errors, and digests checked against an independent implementation of AWS's algorithm."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, unique_name
from tests.unit.services.sqs.test_messages import reference_md5


@pytest.fixture
def sqs(server: Server) -> Any:
    return server.client("sqs")


def new_queue(sqs: Any, prefix: str = "q", **attributes: str) -> str:
    name = unique_name(prefix)
    if attributes.get("FifoQueue") == "true":
        name += ".fifo"
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def error_of(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error: dict[str, Any] = caught.value.response["Error"]
    return error


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(found["ApproximateNumberOfMessages"]), int(found["ApproximateNumberOfMessagesNotVisible"]),
            int(found["ApproximateNumberOfMessagesDelayed"]))


def test_queue_lifecycle(sqs: Any, server: Server) -> None:
    prefix = unique_name("life")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}", Attributes={"VisibilityTimeout": "45"},
                             tags={"team": "core"})["QueueUrl"] for i in range(3)]
    assert urls[0] == f"{server.endpoint}/000000000000/{prefix}-0"
    assert sqs.create_queue(QueueName=f"{prefix}-0", Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == urls[0]
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName=f"{prefix}-0", Attributes={"VisibilityTimeout": "46"})
    assert sqs.get_queue_url(QueueName=f"{prefix}-1")["QueueUrl"] == urls[1]
    assert sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"] == urls
    page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert page["QueueUrls"] == urls[:2]
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=page["NextToken"])
    assert rest["QueueUrls"] == urls[2:] and "NextToken" not in rest
    paginated = [u for p in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix,
                                                                      PaginationConfig={"PageSize": 1})
                 for u in p.get("QueueUrls", [])]
    assert paginated == urls

    attributes = sqs.get_queue_attributes(QueueUrl=urls[0], AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{prefix}-0"
    sqs.set_queue_attributes(QueueUrl=urls[0], Attributes={"DelaySeconds": "3"})
    assert sqs.get_queue_attributes(QueueUrl=urls[0], AttributeNames=["DelaySeconds"])["Attributes"] == {
        "DelaySeconds": "3"}
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.get_queue_attributes(QueueUrl=urls[0], AttributeNames=["Bogus"])

    assert sqs.list_queue_tags(QueueUrl=urls[0])["Tags"] == {"team": "core"}
    sqs.tag_queue(QueueUrl=urls[0], Tags={"env": "dev"})
    sqs.untag_queue(QueueUrl=urls[0], TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=urls[0])["Tags"] == {"env": "dev"}

    # A QueueUrl in AWS's host form names the same queue.
    aws_form = f"https://sqs.us-east-1.amazonaws.com/000000000000/{prefix}-2"
    assert sqs.get_queue_attributes(QueueUrl=aws_form, AttributeNames=["QueueArn"])["Attributes"]
    sqs.delete_queue(QueueUrl=urls[2])
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as caught:
        sqs.get_queue_url(QueueName=f"{prefix}-2")
    assert caught.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=urls[2], MessageBody="x")


def test_send_receive_delete_with_digests(sqs: Any) -> None:
    url = new_queue(sqs)
    body = "héllo wörld 😀"
    attributes = {"s": {"DataType": "String", "StringValue": "text"},
                  "n": {"DataType": "Number", "StringValue": "42"},
                  "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
                  "foo.x": {"DataType": "String.custom", "StringValue": "y"}}
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes,
                            MessageSystemAttributes=trace)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == reference_md5(attributes)
    assert sent["MD5OfMessageSystemAttributes"] == reference_md5(trace)

    before = int(time.time() * 1000)
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"],
                                     MessageSystemAttributeNames=["All"])["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == body
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == reference_md5(attributes)
    system = message["Attributes"]
    assert system["ApproximateReceiveCount"] == "1"
    assert system["AWSTraceHeader"] == trace["AWSTraceHeader"]["StringValue"]
    assert system["SenderId"] == "000000000000"
    assert abs(int(system["SentTimestamp"]) - before) < 5000
    assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"])
    assert counts(sqs, url) == (0, 1, 0)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert counts(sqs, url) == (0, 0, 0)

    sqs.send_message(QueueUrl=url, MessageBody="filtered", MessageAttributes=attributes)
    (only,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["foo.*", "n"],
                                  AttributeNames=["SentTimestamp"])["Messages"]
    assert set(only["MessageAttributes"]) == {"foo.x", "n"}
    assert only["MD5OfMessageAttributes"] == reference_md5({k: attributes[k] for k in ("foo.x", "n")})
    assert set(only["Attributes"]) == {"SentTimestamp"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=only["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_batches(sqs: Any) -> None:
    url = new_queue(sqs, MaximumMessageSize="1024")
    answer = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok1", "MessageBody": "one", "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "big", "MessageBody": "x" * 1025},
        {"Id": "ok2", "MessageBody": "two", "DelaySeconds": 0},
    ])
    assert [e["Id"] for e in answer["Successful"]] == ["ok1", "ok2"]
    assert answer["Successful"][0]["MD5OfMessageAttributes"] == reference_md5(
        {"a": {"DataType": "String", "StringValue": "v"}})
    (failed,) = answer["Failed"]
    assert failed == {"Id": "big", "SenderFault": True, "Code": "InvalidParameterValue",
                      "Message": "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."}
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct) as repeated:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}])
    assert repeated.value.response["Error"]["Message"] == "Id a repeated."
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "no spaces", "MessageBody": "x"}])
    big = new_queue(sqs)
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(QueueUrl=big, Entries=[{"Id": str(i), "MessageBody": "x" * 300_000}
                                                      for i in range(4)])
    assert counts(sqs, url) == (2, 0, 0)  # the refused batches wrote nothing

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["one", "two"]
    changed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": received[0]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "b", "ReceiptHandle": "garbage", "VisibilityTimeout": 0}])
    assert [e["Id"] for e in changed["Successful"]] == ["a"]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    again = sqs.receive_message(QueueUrl=url)["Messages"]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": again[0]["ReceiptHandle"]},
        {"Id": "y", "ReceiptHandle": received[1]["ReceiptHandle"]}])
    assert sorted(e["Id"] for e in deleted["Successful"]) == ["x", "y"]
    assert counts(sqs, url) == (0, 0, 0)


def test_long_poll_returns_when_a_message_arrives(sqs: Any, server: Server) -> None:
    url = new_queue(sqs)
    sender = server.client("sqs")
    timer = threading.Timer(0.3, lambda: sender.send_message(QueueUrl=url, MessageBody="late"))
    started = time.monotonic()
    timer.start()
    try:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    finally:
        timer.join()
    assert [m["Body"] for m in messages] == ["late"]
    assert 0.25 < time.monotonic() - started < 5
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert 0.9 < time.monotonic() - started < 5


def test_visibility_timeout_redelivers(sqs: Any) -> None:
    url = new_queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="again")
    (first,) = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    (second,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5,
                                    AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert (first["Attributes"], second["Attributes"]) == ({"ApproximateReceiveCount": "1"},
                                                           {"ApproximateReceiveCount": "2"})
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["MessageId"] == first["MessageId"]
    error = error_of(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=first["ReceiptHandle"],
                     VisibilityTimeout=10)
    assert error["Code"] == "InvalidParameterValue"


def test_redrive_to_dead_letter_queue(sqs: Any) -> None:
    dlq = new_queue(sqs, "dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = new_queue(sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    source_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    (dead,) = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_fifo_ordering_and_deduplication(sqs: Any) -> None:
    url = new_queue(sqs, FifoQueue="true", ContentBasedDeduplication="true")
    first = [sqs.send_message(QueueUrl=url, MessageBody=f"{g}{i}", MessageGroupId=g) for i in range(3) for g in "ab"]
    duplicate = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a")
    assert duplicate["MessageId"] == first[0]["MessageId"]
    explicit = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a", MessageDeduplicationId="other")
    assert explicit["MessageId"] != first[0]["MessageId"]
    assert [int(s["SequenceNumber"]) for s in first] == sorted(int(s["SequenceNumber"]) for s in first)

    batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in batch] == ["a0", "a1", "a2", "a0", "b0", "b1", "b2"]
    assert batch[0]["Attributes"]["MessageGroupId"] == "a"
    assert batch[0]["Attributes"]["SequenceNumber"] == first[0]["SequenceNumber"]
    assert batch[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"a0").hexdigest()
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # both groups in flight

    error = error_of(sqs.send_message, QueueUrl=url, MessageBody="x")
    assert (error["Code"], error["Message"]) == ("MissingParameter",
                                                 "The request must contain the parameter MessageGroupId.")
    assert error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g",
                    DelaySeconds=1)["Code"] == "InvalidParameterValue"


def test_bad_input_gets_aws_errors_and_changes_nothing(sqs: Any) -> None:
    url = new_queue(sqs)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"MessageBody": "x" * (1_048_576 + 1)}, "InvalidParameterValue",
         "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes."),
        ({"MessageBody": "x", "MessageAttributes": {"a": {"DataType": "Text", "StringValue": "v"}}},
         "InvalidParameterValue", "The type of message (user) attribute 'a' is invalid. You must use only the "
                                  "following supported type prefixes: Binary, Number, String."),
        ({"MessageBody": "x", "MessageAttributes": {"a": {"DataType": "String"}}},
         "InvalidParameterValue", "Message (user) attribute 'a' must contain a non-empty value of type 'String'."),
        ({"MessageBody": "bad \x00 char"}, "InvalidMessageContents", ""),
        ({"MessageBody": "x", "DelaySeconds": 901}, "InvalidParameterValue", ""),
        ({"MessageBody": "x", "MessageDeduplicationId": "d"}, "InvalidParameterValue", ""),
    ]
    for params, code, message in cases:
        error = error_of(sqs.send_message, QueueUrl=url, **params)
        assert error["Code"] == code, (params, error)
        if message:
            assert error["Message"] == message
    receive_cases = [({"MaxNumberOfMessages": 11}, "Value 11 for parameter MaxNumberOfMessages is invalid. "
                                                   "Reason: Must be between 1 and 10, if provided."),
                     ({"MaxNumberOfMessages": 0}, ""), ({"WaitTimeSeconds": 21}, ""),
                     ({"VisibilityTimeout": -1}, ""), ({"VisibilityTimeout": 43_201}, "")]
    for params, message in receive_cases:
        error = error_of(sqs.receive_message, QueueUrl=url, **params)
        assert error["Code"] == "InvalidParameterValue"
        if message:
            assert error["Message"] == message
    for attributes in ({"VisibilityTimeout": "43201"}, {"MaximumMessageSize": "1"}):
        assert error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes=attributes)["Code"] == (
            "InvalidAttributeValue")
    assert error_of(sqs.delete_message, QueueUrl=url, ReceiptHandle="nope")["Code"] == "ReceiptHandleIsInvalid"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.receive_message(QueueUrl=url + "-missing")
    assert counts(sqs, url) == (0, 0, 0)
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "30"}


def test_purge(sqs: Any) -> None:
    url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(5)])
    sqs.receive_message(QueueUrl=url)
    sqs.purge_queue(QueueUrl=url)
    assert counts(sqs, url) == (0, 0, 0)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
        sqs.purge_queue(QueueUrl=url)
