"""SQS event source mappings on a live server: the API (boto3 and the AWS CLI), AWS's errors, and
the poller end to end: the event shape (checked with Powertools' SqsModel), deletes, partial batch
responses, redrive to a dead-letter queue, filters, batching windows, and resuming after a restart."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_awscli import Cli
from tests.conftest import BEACON_CODE, Beacon, Server, create_python_function, start_server, unique_name, wait_for

ECHO = BEACON_CODE + '''
import os

def handler(event, context):
    beacon(os.environ["BEACON"], event=event)
    failed = [r["messageId"] for r in event["Records"] if r["body"].startswith("fail")]
    if os.environ.get("MODE") == "raise" and failed:
        raise ValueError("a record failed")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
'''


def queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def echo(server: Server, beacon: Beacon, **env: str) -> str:
    return create_python_function(server.client(), ECHO,
                                  Environment={"Variables": {"BEACON": beacon.url, **env}})


def settled(client: Any, uuid: str, state: str = "Enabled") -> dict[str, Any]:
    found: dict[str, Any] = {}

    def check() -> bool:
        found.update(client.get_event_source_mapping(UUID=uuid))
        return found["State"] == state

    assert wait_for(check, timeout=10), found
    return found


def records_seen(beacon: Beacon) -> list[dict[str, Any]]:
    return [record for message in beacon.messages for record in message["event"]["Records"]]


def empty(sqs: Any, url: str) -> Callable[[], bool]:
    def check() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    return check


def test_mapping_lifecycle(server: Server, beacon: Beacon) -> None:
    client, sqs = server.client(), server.client("sqs")
    name = echo(server, beacon)
    _, arn = queue(sqs, unique_name("q"))
    created = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=5)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["State"] == "Creating" and len(created["UUID"]) == 36
    assert created["FunctionArn"].endswith(f":function:{name}") and created["EventSourceArn"] == arn
    assert created["EventSourceMappingArn"].endswith(f":event-source-mapping:{created['UUID']}")
    assert created["BatchSize"] == 5 and created["MaximumBatchingWindowInSeconds"] == 0
    uuid = created["UUID"]
    enabled = settled(client, uuid)
    assert enabled["StateTransitionReason"] == "USER_INITIATED" and "LastProcessingResult" in enabled
    assert [m["UUID"] for m in client.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]] == [uuid]
    assert [m["UUID"] for m in client.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [uuid]

    disabling = client.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert disabling["ResponseMetadata"]["HTTPStatusCode"] == 202 and disabling["State"] == "Disabling"
    settled(client, uuid, "Disabled")
    updated = client.update_event_source_mapping(UUID=uuid, BatchSize=100, MaximumBatchingWindowInSeconds=2,
                                                 FunctionResponseTypes=["ReportBatchItemFailures"],
                                                 ScalingConfig={"MaximumConcurrency": 3},
                                                 FilterCriteria={"Filters": [{"Pattern": '{"body": ["x"]}'}]})
    assert updated["State"] == "Updating"
    now = settled(client, uuid, "Disabled")
    assert now["BatchSize"] == 100 and now["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert now["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert now["FilterCriteria"] == {"Filters": [{"Pattern": '{"body": ["x"]}'}]}
    client.update_event_source_mapping(UUID=uuid, Enabled=True)
    settled(client, uuid)

    deleted = client.delete_event_source_mapping(UUID=uuid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202 and deleted["State"] == "Deleting"

    def gone() -> bool:
        try:
            client.get_event_source_mapping(UUID=uuid)
        except ClientError as error:
            return bool(error.response["Error"]["Code"] == "ResourceNotFoundException")
        return False

    assert wait_for(gone, timeout=10)


@pytest.mark.parametrize(("change", "code", "message"), [
    ({"FunctionName": "no-such-function"}, "ResourceNotFoundException", "Function not found"),
    ({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:no-such-queue"}, "InvalidParameterValueException",
     "NonExistentQueue"),
    ({"BatchSize": 11}, "InvalidParameterValueException",
     "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"),
    ({"BatchSize": 10_001, "MaximumBatchingWindowInSeconds": 1}, "ValidationException", "batchSize"),
    ({"FilterCriteria": {"Filters": [{"Pattern": '{"body": "not a list"}'}]}}, "InvalidParameterValueException",
     "Invalid filter pattern definition."),
    ({"StartingPosition": "LATEST"}, "InvalidParameterValueException", "StartingPosition"),
    ({"EventSourceArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}, "InvalidParameterValueException",
     "SQS"),
])
def test_bad_mappings_are_refused_and_nothing_is_stored(server: Server, change: dict[str, Any], code: str,
                                                        message: str) -> None:
    client, sqs = server.client(), server.client("sqs")
    name = create_python_function(client, "def handler(e, c):\n    return None\n")
    _, arn = queue(sqs, unique_name("bad"))
    params = {"EventSourceArn": arn, "FunctionName": name, **change}
    with pytest.raises(ClientError) as error:
        client.create_event_source_mapping(**params)
    assert error.value.response["Error"]["Code"] == code
    assert message in error.value.response["Error"]["Message"]
    assert client.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []


def test_a_second_mapping_of_the_same_pair_conflicts(server: Server) -> None:
    client, sqs = server.client(), server.client("sqs")
    name = create_python_function(client, "def handler(e, c):\n    return None\n")
    _, arn = queue(sqs, unique_name("dup"))
    first = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    with pytest.raises(ClientError) as error:
        client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert error.value.response["Error"]["Code"] == "ResourceConflictException"
    assert first["UUID"] in error.value.response["Error"]["Message"]
    settled(client, first["UUID"])
    client.delete_event_source_mapping(UUID=first["UUID"])


def test_messages_reach_the_function_in_aws_shape_and_are_deleted(server: Server, beacon: Beacon) -> None:
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    client, sqs = server.client(), server.client("sqs")
    name = echo(server, beacon)
    url, arn = queue(sqs, unique_name("shape"))
    uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    settled(client, uuid)
    sqs.send_message(QueueUrl=url, MessageBody='{"order": 1}', MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "new"}, "bin": {"DataType": "Binary", "BinaryValue": b"\x01"}})
    (message,) = beacon.wait(timeout=15)
    event = message["event"]
    parsed = SqsModel.model_validate(event)  # Powertools' parser model of AWS's SQS event
    (record,) = parsed.Records
    assert record.body == '{"order": 1}' and record.eventSource == "aws:sqs" and record.eventSourceARN == arn
    assert record.attributes.ApproximateReceiveCount == "1" and record.awsRegion == "us-east-1"
    assert record.messageAttributes["kind"].stringValue == "new"
    assert wait_for(empty(sqs, url), timeout=10)  # deleted after the successful invocation
    assert wait_for(lambda: client.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == "OK")
    client.delete_event_source_mapping(UUID=uuid)


def test_partial_batch_failures_return_only_the_failed_messages_to_the_redrive(server: Server,
                                                                              beacon: Beacon) -> None:
    client, sqs = server.client(), server.client("sqs")
    name = echo(server, beacon)
    dlq_url, dlq = queue(sqs, unique_name("dlq"))
    url, arn = queue(sqs, unique_name("partial"), VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 2}))
    for body in ("ok-1", "fail-1", "ok-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
    settled(client, uuid)

    def dead() -> list[str]:
        return [m["Body"] for m in sqs.receive_message(QueueUrl=dlq_url, VisibilityTimeout=0).get("Messages", [])]

    assert wait_for(lambda: dead() == ["fail-1"], timeout=20)
    bodies = [r["body"] for r in records_seen(beacon)]
    assert bodies.count("ok-1") == 1 and bodies.count("ok-2") == 1  # deleted after the first batch
    assert bodies.count("fail-1") == 2  # delivered maxReceiveCount times, then redriven
    client.delete_event_source_mapping(UUID=uuid)


def test_a_function_error_returns_the_whole_batch(server: Server, beacon: Beacon) -> None:
    client, sqs = server.client(), server.client("sqs")
    name = echo(server, beacon, MODE="raise")
    dlq_url, dlq = queue(sqs, unique_name("dlq"))
    url, arn = queue(sqs, unique_name("raise"), VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 1}))
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "ok"},
                                                  {"Id": "b", "MessageBody": "fail"}])
    uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    got: list[str] = []

    def both_dead() -> bool:
        got.extend(m["Body"] for m in sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", []))
        return sorted(got) == ["fail", "ok"]

    assert wait_for(both_dead, timeout=20)
    assert settled(client, uuid)["LastProcessingResult"].startswith("PROBLEM")
    client.delete_event_source_mapping(UUID=uuid)


def test_filtered_out_messages_are_deleted_unseen(server: Server, beacon: Beacon) -> None:
    client, sqs = server.client(), server.client("sqs")
    name = echo(server, beacon)
    url, arn = queue(sqs, unique_name("filter"))
    pattern = {"body": {"kind": ["order"], "total": [{"numeric": [">", 100]}]}}
    urgent = {"body": [{"prefix": "urgent"}]}
    uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, FilterCriteria={
        "Filters": [{"Pattern": json.dumps(pattern)}, {"Pattern": json.dumps(urgent)}]})["UUID"]
    settled(client, uuid)
    bodies = [json.dumps({"kind": "order", "total": 500}), json.dumps({"kind": "order", "total": 5}),
              json.dumps({"kind": "refund", "total": 500}), "urgent: plain text", "plain text"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    assert wait_for(empty(sqs, url), timeout=15)
    time.sleep(0.3)
    assert sorted(r["body"] for r in records_seen(beacon)) == sorted([bodies[0], bodies[3]])
    client.delete_event_source_mapping(UUID=uuid)


def test_a_batching_window_gathers_one_batch(server: Server, beacon: Beacon) -> None:
    client, sqs = server.client(), server.client("sqs")
    name = echo(server, beacon)
    url, arn = queue(sqs, unique_name("window"))
    uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=100,
                                              MaximumBatchingWindowInSeconds=2)["UUID"]
    settled(client, uuid)
    for start in range(0, 30, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"}
                                                      for i in range(10)])
    (message,) = beacon.wait(timeout=15)
    assert len(message["event"]["Records"]) == 30
    client.delete_event_source_mapping(UUID=uuid)


def test_mappings_through_the_aws_cli(server: Server, tmp_path: Path) -> None:
    cli = Cli(server, tmp_path)
    sqs = server.client("sqs")
    name = create_python_function(server.client(), "def handler(e, c):\n    return None\n")
    _, arn = queue(sqs, unique_name("cli"))
    created = cli.json("lambda", "create-event-source-mapping", "--function-name", name, "--event-source-arn", arn,
                       "--batch-size", "3")
    assert created["State"] == "Creating" and created["BatchSize"] == 3
    settled(server.client(), created["UUID"])
    listed = cli.json("lambda", "list-event-source-mappings", "--function-name", name)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [created["UUID"]]
    assert cli.json("lambda", "delete-event-source-mapping", "--uuid", created["UUID"])["State"] == "Deleting"


def test_mappings_persist_and_resume_after_a_restart(tmp_path: Path, beacon: Beacon) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        client, sqs = first.client(), first.client("sqs")
        name = echo(first, beacon)
        url, arn = queue(sqs, "resume")
        uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)["UUID"]
        settled(client, uuid)
    finally:
        first.stop(signal.SIGTERM)
    second = start_server(data)
    try:
        assert settled(second.client(), uuid)["EventSourceArn"] == arn
        second.client("sqs").send_message(QueueUrl=url.replace(first.endpoint, second.endpoint), MessageBody="again")
        (message,) = beacon.wait(timeout=15)
        assert message["event"]["Records"][0]["body"] == "again"
    finally:
        second.stop(signal.SIGTERM)
