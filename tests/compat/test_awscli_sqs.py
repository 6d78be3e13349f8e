"""``aws sqs`` (the AWS CLI from PyPI) against Lamina: the everyday commands, JSON out, AWS's errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, unique_name

AWS = str(Path(sys.executable).with_name("aws"))


class Sqs:
    """Runs ``aws sqs ...`` with ``--endpoint-url`` and throwaway credentials."""

    def __init__(self, server: Server, home: Path) -> None:
        self.endpoint = server.endpoint
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                         "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(home / "config"),
                         "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials")})

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AWS, "sqs", *args, "--endpoint-url", self.endpoint, "--output", "json"],
                              env=self.env, capture_output=True, text=True, timeout=60, check=False)

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture
def sqs_cli(server: Server, tmp_path: Path) -> Sqs:
    return Sqs(server, tmp_path)


def test_cli_queue_and_message_round_trip(sqs_cli: Sqs, server: Server, tmp_path: Path) -> None:
    name = unique_name("cli-q")
    url = sqs_cli.json("create-queue", "--queue-name", name, "--attributes", "VisibilityTimeout=60")["QueueUrl"]
    assert url == f"{server.endpoint}/000000000000/{name}"
    assert url in sqs_cli.json("list-queues", "--queue-name-prefix", name)["QueueUrls"]

    attributes = tmp_path / "attributes.json"
    attributes.write_text(json.dumps({"kind": {"DataType": "String", "StringValue": "greeting"}}))
    sent = sqs_cli.json("send-message", "--queue-url", url, "--message-body", "hello from the cli",
                        "--message-attributes", f"file://{attributes}")
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"hello from the cli").hexdigest()
    assert "MD5OfMessageAttributes" in sent

    received = sqs_cli.json("receive-message", "--queue-url", url, "--attribute-names", "All",
                            "--message-attribute-names", "All", "--wait-time-seconds", "1")
    (message,) = received["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "hello from the cli"
    assert message["MessageAttributes"]["kind"]["StringValue"] == "greeting"
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    assert sqs_cli.json("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"]) is None
    counted = sqs_cli.json("get-queue-attributes", "--queue-url", url, "--attribute-names",
                           "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    assert counted["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    assert sqs_cli.json("delete-queue", "--queue-url", url) is None


def test_cli_reports_aws_errors(sqs_cli: Sqs) -> None:
    done = sqs_cli.run("get-queue-url", "--queue-name", unique_name("missing"))
    assert done.returncode != 0  # 255 from CLI v1, 254 from v2
    assert "AWS.SimpleQueueService.NonExistentQueue" in done.stderr
    assert "The specified queue does not exist." in done.stderr
