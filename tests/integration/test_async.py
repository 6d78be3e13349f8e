"""Asynchronous invocation on a live server: Event invokes, event invoke configs (boto3 and the AWS
CLI), and the whole retry → dead-letter queue → destinations path on a server whose retry waits are
scaled down (LAMINA_ASYNC_RETRY_SCALE), so AWS's one- and two-minute waits take a second."""

from __future__ import annotations

import datetime
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_awscli import Cli
from tests.conftest import (
    BEACON_CODE,
    Beacon,
    Server,
    create_python_function,
    http_request,
    start_server,
    wait_for,
)

REPORTER = BEACON_CODE + '''
import os

def handler(event, context):
    beacon(os.environ["BEACON"], request_id=context.aws_request_id, event=event,
           arn=context.invoked_function_arn)
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("asked to fail: " + str(event.get("n")))
    return {"ok": event.get("n") if isinstance(event, dict) else None}
'''


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on which a minute of retry wait is 0.3 s and six hours 108 s."""
    server = start_server(tmp_path_factory.mktemp("fast") / "data", env={"LAMINA_ASYNC_RETRY_SCALE": "0.005"})
    yield server
    server.stop(signal.SIGTERM)


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(sqs: Any, url: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   MessageAttributeNames=["All"]).get("Messages", [])
    return got


def test_event_invoke_answers_202_and_runs_with_the_request_id(server: Server, beacon: Beacon) -> None:
    client = server.client()
    name = create_python_function(client, REPORTER, Environment={"Variables": {"BEACON": beacon.url}})
    answer = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 1}))
    assert answer["StatusCode"] == 202
    assert answer["Payload"].read() == b""
    (seen,) = beacon.wait(lambda m: m["event"] == {"n": 1})
    assert seen["request_id"] == answer["ResponseMetadata"]["RequestId"]
    assert seen["arn"].endswith(f":function:{name}")


def test_event_invoke_config_operations(server: Server) -> None:
    client = server.client()
    sqs = server.client("sqs")
    name = create_python_function(client, "def handler(e, c):\n    return e\n")
    other = create_python_function(client, "def handler(e, c):\n    return e\n")
    _, records = queue(sqs, f"{name}-records")
    with pytest.raises(ClientError) as missing:
        client.get_function_event_invoke_config(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    put = client.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": records}})
    assert put["FunctionArn"].endswith(f":function:{name}:$LATEST")
    assert put["MaximumRetryAttempts"] == 1 and put["MaximumEventAgeInSeconds"] == 120
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": records}}
    other_arn = client.get_function(FunctionName=other)["Configuration"]["FunctionArn"]
    updated = client.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": other_arn}})
    assert updated["MaximumRetryAttempts"] == 1  # untouched
    assert updated["DestinationConfig"] == {"OnSuccess": {"Destination": other_arn},
                                            "OnFailure": {"Destination": records}}
    got = client.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")
    assert got["DestinationConfig"] == updated["DestinationConfig"]
    listed = client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [put["FunctionArn"]]
    client.delete_function_event_invoke_config(FunctionName=name)
    assert client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


@pytest.mark.parametrize(("params", "code", "message"), [
    ({}, "InvalidParameterValueException", "You must specify at least one of error handling or destination"),
    ({"MaximumRetryAttempts": 3}, "ValidationException", "maximumRetryAttempts"),
    ({"MaximumEventAgeInSeconds": 21_601}, "ValidationException", "maximumEventAgeInSeconds"),
    ({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:nope"}}},
     "InvalidParameterValueException", "does not exist"),
    ({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:nope"}}},
     "InvalidParameterValueException", "is invalid"),
    ({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sns:us-east-1:000000000000:topic"}}},
     "InvalidParameterValueException", "not supported"),
])
def test_event_invoke_config_validation(server: Server, params: dict[str, Any], code: str, message: str) -> None:
    client = server.client()
    name = create_python_function(client, "def handler(e, c):\n    return e\n")
    with pytest.raises(ClientError) as error:
        client.put_function_event_invoke_config(FunctionName=name, **params)
    assert error.value.response["Error"]["Code"] == code
    assert message.lower() in error.value.response["Error"]["Message"].lower()
    with pytest.raises(ClientError):
        client.get_function_event_invoke_config(FunctionName=name)  # nothing was stored


def test_a_function_cannot_be_its_own_destination(server: Server) -> None:
    client = server.client()
    name = create_python_function(client, "def handler(e, c):\n    return e\n")
    arn = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as error:
        client.put_function_event_invoke_config(FunctionName=name,
                                                DestinationConfig={"OnSuccess": {"Destination": arn}})
    assert error.value.response["Error"]["Message"] == "You can't specify the function as a destination for itself."
    with pytest.raises(ClientError) as missing:
        client.put_function_event_invoke_config(FunctionName="no-such-function", MaximumRetryAttempts=0)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_event_invoke_with_a_missing_dead_letter_queue_is_refused(server: Server) -> None:
    client = server.client()
    name = create_python_function(client, "def handler(e, c):\n    return e\n",
                                  DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:000000000000:gone-dlq"})
    with pytest.raises(ClientError) as error:
        client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "gone-dlq" in error.value.response["Error"]["Message"]


def test_event_invoke_config_through_the_aws_cli(server: Server, tmp_path: Path) -> None:
    cli = Cli(server, tmp_path)
    name = create_python_function(server.client(), "def handler(e, c):\n    return e\n")
    put = cli.json("lambda", "put-function-event-invoke-config", "--function-name", name,
                   "--maximum-retry-attempts", "0", "--maximum-event-age-in-seconds", "300")
    assert put["MaximumRetryAttempts"] == 0 and put["FunctionArn"].endswith(":$LATEST")
    got = cli.json("lambda", "get-function-event-invoke-config", "--function-name", name)
    assert got["MaximumEventAgeInSeconds"] == 300
    listed = cli.json("lambda", "list-function-event-invoke-configs", "--function-name", name)
    assert len(listed["FunctionEventInvokeConfigs"]) == 1
    assert cli.run("lambda", "delete-function-event-invoke-config", "--function-name", name).returncode == 0
    failed = cli.run("lambda", "get-function-event-invoke-config", "--function-name", name)
    assert failed.returncode != 0 and "ResourceNotFoundException" in failed.stderr


def test_function_errors_retry_then_dead_letter_and_destinations(fast: Server, beacon: Beacon) -> None:
    client, sqs = fast.client(), fast.client("sqs")
    dlq_url, dlq = queue(sqs, "async-dlq")
    records_url, records = queue(sqs, "async-failures")
    env = {"Variables": {"BEACON": beacon.url}}
    on_success = create_python_function(client, REPORTER, Environment=env)
    name = create_python_function(client, REPORTER, Environment=env, DeadLetterConfig={"TargetArn": dlq})
    success_arn = client.get_function(FunctionName=on_success)["Configuration"]["FunctionArn"]
    client.put_function_event_invoke_config(FunctionName=name, DestinationConfig={
        "OnFailure": {"Destination": records}, "OnSuccess": {"Destination": success_arn}})

    failing = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": True, "n": 7}))
    request_id = failing["ResponseMetadata"]["RequestId"]
    attempts = beacon.wait(lambda m: m["event"] == {"fail": True, "n": 7}, count=3, timeout=20)
    assert {m["request_id"] for m in attempts} == {request_id}  # the same id on every attempt

    (dead,) = drain(sqs, dlq_url, 1)
    assert json.loads(dead["Body"]) == {"fail": True, "n": 7}  # the original event, unchanged
    attributes = {k: v.get("StringValue") for k, v in dead["MessageAttributes"].items()}
    assert attributes == {"RequestID": request_id, "ErrorCode": "200", "ErrorMessage": "asked to fail: 7"}
    assert dead["MessageAttributes"]["ErrorCode"]["DataType"] == "Number"

    (failure,) = drain(sqs, records_url, 1)
    record = json.loads(failure["Body"])
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {"requestId": request_id, "condition": "RetriesExhausted",
                                        "functionArn": f"{success_arn.rsplit(':', 1)[0]}:{name}:$LATEST",
                                        "approximateInvokeCount": 3}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"

    ok = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 8}))
    (delivered,) = beacon.wait(lambda m: isinstance(m["event"], dict) and "requestContext" in m["event"], timeout=20)
    success = delivered["event"]
    assert success["requestContext"]["requestId"] == ok["ResponseMetadata"]["RequestId"]
    assert success["requestContext"]["condition"] == "Success"
    assert success["requestPayload"] == {"n": 8} and success["responsePayload"] == {"ok": 8}


def test_throttled_events_expire_with_event_age_exceeded(fast: Server) -> None:
    client, sqs = fast.client(), fast.client("sqs")
    records_url, records = queue(sqs, "async-expired")
    name = create_python_function(client, "def handler(e, c):\n    return e\n")
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60,
                                            DestinationConfig={"OnFailure": {"Destination": records}})
    answer = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"late": true}')
    (message,) = drain(sqs, records_url, 1)  # 60 s at this scale: 0.3 s of backoff retries
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == answer["ResponseMetadata"]["RequestId"]
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == {"late": True}
    assert "responseContext" not in record


def prometheus_value(server: Server, metric: str, name: str) -> float:
    body = http_request(server, "GET", "/metrics").body.decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(metric + "{") and f'function="{name}"' in line)


def test_async_events_through_an_alias_count_under_its_version(fast: Server, beacon: Beacon) -> None:
    client = fast.client()
    name = create_python_function(client, REPORTER, Environment={"Variables": {"BEACON": beacon.url}})
    version = client.publish_version(FunctionName=name)["Version"]
    client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    client.invoke(FunctionName=name, Qualifier="live", InvocationType="Event", Payload=json.dumps({"n": 1}))
    (heard,) = beacon.wait(lambda m: m["event"] == {"n": 1}, count=1, timeout=20)
    assert heard["arn"].endswith(f"{name}:live")
    cloudwatch = fast.client("cloudwatch")
    now = datetime.datetime.now(datetime.UTC)
    window = {"StartTime": now - datetime.timedelta(minutes=10), "EndTime": now + datetime.timedelta(minutes=10),
              "Period": 1200, "Namespace": "AWS/Lambda", "MetricName": "AsyncEventsReceived", "Statistics": ["Sum"]}

    def received(executed_version: str) -> list[dict[str, Any]]:
        dimensions = [{"Name": "FunctionName", "Value": name},
                      {"Name": "Resource", "Value": f"{name}:{executed_version}"},
                      {"Name": "ExecutedVersion", "Value": executed_version}]
        points: list[dict[str, Any]] = cloudwatch.get_metric_statistics(Dimensions=dimensions, **window)["Datapoints"]
        return points

    assert wait_for(lambda: [p["Sum"] for p in received(version)] == [1.0], timeout=10)
    assert received("live") == []  # the alias is not a version


def test_async_metrics_received_dropped_age_dead_letters(fast: Server, beacon: Beacon) -> None:
    client, sqs = fast.client(), fast.client("sqs")
    dlq_url, dlq = queue(sqs, "metrics-dlq")
    gone_url, gone = queue(sqs, "metrics-gone-dlq")
    env = {"Variables": {"BEACON": beacon.url}}
    delivered = create_python_function(client, REPORTER, Environment=env, DeadLetterConfig={"TargetArn": dlq})
    lost = create_python_function(client, REPORTER, Environment=env, DeadLetterConfig={"TargetArn": gone})
    for name in (delivered, lost):
        client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": True, "n": name}))
    # Invoke refuses a function whose DLQ is gone; once the event is accepted, its loss is counted.
    beacon.wait(lambda m: m["event"] == {"fail": True, "n": lost}, count=1, timeout=20)
    sqs.delete_queue(QueueUrl=gone_url)
    beacon.wait(lambda m: m["event"] == {"fail": True, "n": delivered}, count=3, timeout=20)
    beacon.wait(lambda m: m["event"] == {"fail": True, "n": lost}, count=3, timeout=20)
    assert len(drain(sqs, dlq_url, 1)) == 1

    # Prometheus: an age sample per attempt, the dead-lettered event, the event the DLQ refused.
    assert wait_for(lambda: prometheus_value(fast, "lamina_async_dead_letter_errors_total", lost) == 1, timeout=10)
    assert prometheus_value(fast, "lamina_async_dead_lettered_total", delivered) == 1
    assert prometheus_value(fast, "lamina_async_dead_lettered_total", lost) == 0
    assert prometheus_value(fast, "lamina_async_dead_letter_errors_total", delivered) == 0
    assert prometheus_value(fast, "lamina_async_event_age_seconds_count", delivered) == 3
    for name in (delivered, lost):
        assert prometheus_value(fast, "lamina_async_events_received_total", name) == 1
        assert prometheus_value(fast, "lamina_async_events_dropped_total", name) == 1
    assert "lamina_async_oldest_event_age_seconds " in http_request(fast, "GET", "/metrics").body.decode()

    # CloudWatch: AsyncEventAge (milliseconds, one sample per attempt) and DeadLetterErrors.
    cloudwatch = fast.client("cloudwatch")
    now = datetime.datetime.now(datetime.UTC)
    window = {"StartTime": now - datetime.timedelta(minutes=10), "EndTime": now + datetime.timedelta(minutes=10),
              "Period": 1200, "Namespace": "AWS/Lambda"}
    (age,) = cloudwatch.get_metric_statistics(MetricName="AsyncEventAge", Statistics=["SampleCount", "Maximum"],
                                              Dimensions=[{"Name": "FunctionName", "Value": delivered}],
                                              **window)["Datapoints"]
    assert age["SampleCount"] == 3 and age["Unit"] == "Milliseconds" and age["Maximum"] > 0
    (errors,) = cloudwatch.get_metric_statistics(MetricName="DeadLetterErrors", Statistics=["Sum"],
                                                 Dimensions=[{"Name": "FunctionName", "Value": lost}],
                                                 **window)["Datapoints"]
    assert errors["Sum"] == 1
    for metric in ("AsyncEventsReceived", "AsyncEventsDropped"):
        (point,) = cloudwatch.get_metric_statistics(MetricName=metric, Statistics=["Sum"],
                                                    Dimensions=[{"Name": "FunctionName", "Value": delivered}],
                                                    **window)["Datapoints"]
        assert point["Sum"] == 1, metric
    assert cloudwatch.get_metric_statistics(MetricName="DeadLetterErrors", Statistics=["Sum"],
                                            Dimensions=[{"Name": "FunctionName", "Value": delivered}],
                                            **window)["Datapoints"] == []
