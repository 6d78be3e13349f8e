"""Queues and messages survive a restart, and an answered SendMessage survives ``kill -9``."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Server, start_server


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)


def test_messages_survive_a_restart(tmp_path: Path, servers: list[Server]) -> None:
    data = tmp_path / "data"
    servers.append(first := start_server(data))
    sqs = first.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="jobs", tags={"team": "core"}, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})["QueueUrl"]
    fifo = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sent = [sqs.send_message(QueueUrl=url, MessageBody=f"job {i}", MessageAttributes={
        "n": {"DataType": "Number", "StringValue": str(i)}})["MessageId"] for i in range(3)]
    (held,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"]
    ordered = [sqs.send_message(QueueUrl=fifo, MessageBody=f"step {i}", MessageGroupId="g",
                                MessageDeduplicationId=str(i))["MessageId"] for i in range(3)]
    first.stop()  # SIGTERM: a clean shutdown

    servers.append(second := start_server(data))
    sqs = second.client("sqs")
    assert sqs.get_queue_url(QueueName="jobs")["QueueUrl"] == f"{second.endpoint}/000000000000/jobs"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core"}
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "2"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["MessageId"] for m in messages) == sorted(set(sent) - {held["MessageId"]})
    assert all(m["MessageAttributes"]["n"]["DataType"] == "Number" for m in messages)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"])  # the old handle still works
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "2"
    again = sqs.send_message(QueueUrl=fifo, MessageBody="step 0", MessageGroupId="g", MessageDeduplicationId="0")
    assert again["MessageId"] == ordered[0]  # deduplication ids survive too
    steps = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
    assert [m["MessageId"] for m in steps] == ordered


def test_an_answered_send_survives_kill_9(tmp_path: Path, servers: list[Server]) -> None:
    data = tmp_path / "data"
    servers.append(first := start_server(data))
    sqs = first.client("sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]

    clients = [first.client("sqs") for _ in range(8)]

    def send(worker: int) -> list[str]:
        return [str(clients[worker].send_message(QueueUrl=url, MessageBody=f"m{worker}.{i}")["MessageId"])
                for i in range(25)]

    with ThreadPoolExecutor(8) as pool:  # concurrent sends share commits; each still waits for its own
        answered = {message_id for ids in pool.map(send, range(8)) for message_id in ids}
    assert len(answered) == 200
    first.stop(signal.SIGKILL)

    servers.append(second := start_server(data))
    sqs = second.client("sqs")
    found: set[str] = set()
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        found.update(m["MessageId"] for m in batch)
    assert found == answered
