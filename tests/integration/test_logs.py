"""CloudWatch Logs through boto3 against a live server: invocation logs land in /aws/lambda/<fn>, one
event per line; groups, streams, events, filter patterns, tokens, retention, JSON LoggingConfig, and
nothing lost on a clean shutdown."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, create_python_function, invoke_json, log_tail, start_server, unique_name, wait_for

CHATTY = """
import json

def handler(event, context):
    print("order", event["n"], "received")
    print("two\\nlines")
    print(json.dumps({"level": "ERROR" if event["n"] % 2 else "INFO", "latency": event["n"] * 50}))
    return event["n"]
"""


@pytest.fixture(scope="module")
def chatty(server: Server) -> str:
    name = create_python_function(server.client(), CHATTY)
    for n in range(4):
        invoke_json(server.client(), name, {"n": n})
    return name


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_invocation_logs_land_in_the_function_group(server: Server, chatty: str) -> None:
    logs = server.client("logs")
    group = f"/aws/lambda/{chatty}"
    (found,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert found["logGroupName"] == group and found["arn"].endswith(f":log-group:{group}:*")
    (stream,) = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert stream["logStreamName"].startswith(time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()))
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                 startFromHead=True)["events"]
    messages = [e["message"] for e in events]
    assert len(messages) == 4 * 7
    assert messages[0].startswith("START RequestId: ") and messages[0].endswith(" Version: $LATEST\n")
    assert messages[1:4] == ["order 0 received\n", "two\n", "lines\n"]
    assert messages[6].startswith("REPORT RequestId: ") and "\tBilled Duration: " in messages[6]


def test_get_log_events_tokens_page_both_ways(server: Server, chatty: str) -> None:
    logs = server.client("logs")
    group = f"/aws/lambda/{chatty}"
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    latest = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=5)
    assert [e["message"][:6] for e in latest["events"]][-2:] == ["END Re", "REPORT"]
    back = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=5, nextToken=latest["nextBackwardToken"])
    assert back["events"][-1]["timestamp"] <= latest["events"][0]["timestamp"] and len(back["events"]) == 5
    assert latest["nextForwardToken"].startswith("f/") and latest["nextBackwardToken"].startswith("b/")
    end = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=latest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == latest["nextForwardToken"]
    # Reading forward until the token comes back unchanged, as the SDKs' log readers do.
    seen, token = 0, None
    while True:
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, limit=7,
                                   **({"nextToken": token} if token else {}))
        seen += len(page["events"])
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert seen == 28


@pytest.mark.parametrize(("pattern", "count"), [
    ("received", 4), ('"order 3"', 1), ("?two ?lines", 8), ("order -received", 0),
    ('{ $.level = "ERROR" }', 2), ("{ $.latency >= 100 }", 2), ('{ $.level = "INFO" && $.latency < 50 }', 1),
])
def test_filter_log_events_patterns(server: Server, chatty: str, pattern: str, count: int) -> None:
    answer = server.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{chatty}", filterPattern=pattern)
    assert len(answer["events"]) == count
    assert all(event["eventId"] and event["logStreamName"] for event in answer["events"])


def test_filter_log_events_pagination_and_times(server: Server, chatty: str) -> None:
    logs = server.client("logs")
    group = f"/aws/lambda/{chatty}"
    pages = list(logs.get_paginator("filter_log_events").paginate(logGroupName=group, PaginationConfig={"PageSize": 5}))
    ids = [e["eventId"] for page in pages for e in page["events"]]
    assert len(ids) == 28 == len(set(ids)) and len(pages) >= 5
    future = int(time.time() * 1000) + 60_000
    assert logs.filter_log_events(logGroupName=group, startTime=future)["events"] == []
    with pytest.raises(ClientError) as excinfo:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.level = ")
    assert error_of(excinfo)[0] == "InvalidParameterException"


def test_groups_streams_and_put_log_events(server: Server) -> None:
    logs = server.client("logs")
    group = f"/app/{unique_name('grp')}"
    logs.create_log_group(logGroupName=group, tags={"team": "core"})
    with pytest.raises(ClientError) as excinfo:
        logs.create_log_group(logGroupName=group)
    assert error_of(excinfo) == ("ResourceAlreadyExistsException", "The specified log group already exists", 400)
    logs.create_log_stream(logGroupName=group, logStreamName="web")
    now = int(time.time() * 1000)
    old = logs.put_log_events(logGroupName=group, logStreamName="web",
                              logEvents=[{"timestamp": now - 20 * 86_400_000, "message": "too old"}])
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    answer = logs.put_log_events(logGroupName=group, logStreamName="web", logEvents=[
        {"timestamp": now - 1000, "message": "first"},
        {"timestamp": now, "message": "second\nwith a newline"},
        {"timestamp": now + 3 * 3_600_000, "message": "too new"}])
    assert answer["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 2}
    with pytest.raises(ClientError) as excinfo:
        logs.put_log_events(logGroupName=group, logStreamName="web", logEvents=[
            {"timestamp": now - 25 * 3_600_000, "message": "a"}, {"timestamp": now, "message": "b"}])
    assert "cannot span more than 24 hours" in error_of(excinfo)[1]
    events = logs.get_log_events(logGroupName=group, logStreamName="web", startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["first", "second\nwith a newline"]
    with pytest.raises(ClientError) as excinfo:
        logs.put_log_events(logGroupName=group, logStreamName="web", logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        logs.put_log_events(logGroupName=group, logStreamName="nope", logEvents=[{"timestamp": now, "message": "x"}])
    assert error_of(excinfo) == ("ResourceNotFoundException", "The specified log stream does not exist.", 400)
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"team": "core"}
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 7
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    with pytest.raises(ClientError) as excinfo:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert error_of(excinfo)[0] == "InvalidParameterException"
    logs.delete_log_stream(logGroupName=group, logStreamName="web")
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    logs.delete_log_group(logGroupName=group)
    with pytest.raises(ClientError) as excinfo:
        logs.delete_log_group(logGroupName=group)
    assert error_of(excinfo) == ("ResourceNotFoundException", "The specified log group does not exist.", 400)


def test_describe_log_streams_orders_and_pages(server: Server) -> None:
    logs = server.client("logs")
    group = f"/app/{unique_name('order')}"
    logs.create_log_group(logGroupName=group)
    now = int(time.time() * 1000)
    for index, name in enumerate(["c", "a", "b"]):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(logGroupName=group, logStreamName=name,
                            logEvents=[{"timestamp": now - 10_000 + index, "message": name}])
    names = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert names == ["a", "b", "c"] and [s["logStreamName"] for s in by_time] == ["b", "a", "c"]
    first = logs.describe_log_streams(logGroupName=group, limit=2)
    rest = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=first["nextToken"])
    assert [s["logStreamName"] for s in first["logStreams"] + rest["logStreams"]] == names
    with pytest.raises(ClientError) as excinfo:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a")
    assert error_of(excinfo)[0] == "InvalidParameterException"


JSON_LOGGER = """
import logging
logger = logging.getLogger()

def handler(event, context):
    logger.debug("debug detail")
    logger.warning("careful")
    print("plain print")
    return "ok"
"""


def test_json_logging_config(server: Server) -> None:
    client = server.client()
    group = f"/custom/{unique_name('json')}"
    name = create_python_function(client, JSON_LOGGER, LoggingConfig={
        "LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO", "LogGroup": group})
    answer = client.invoke(FunctionName=name, LogType="Tail")
    records = [json.loads(line) for line in log_tail(answer).splitlines()]
    kinds = [r.get("type") for r in records]
    assert kinds == ["platform.initStart", "platform.initReport", "platform.start", None, "platform.report"]
    assert records[3]["message"] == "careful"   # the DEBUG line and the print (INFO) are dropped
    report = records[4]["record"]
    assert report["status"] == "success" and report["metrics"]["memorySizeMB"] == 128
    assert report["metrics"]["billedDurationMs"] >= 1 and "initDurationMs" in report["metrics"]
    events = server.client("logs").filter_log_events(logGroupName=group, filterPattern='{ $.type = "platform.report" }')
    assert len(events["events"]) == 1


def test_system_log_level_filters_platform_records(server: Server) -> None:
    """SystemLogLevel WARN drops the platform's INFO records (start, report, init) and keeps the
    function's own; DEBUG adds the runtimeDone records INFO leaves out."""
    client = server.client()
    quiet = create_python_function(client, JSON_LOGGER, LoggingConfig={
        "LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"})
    lines = log_tail(client.invoke(FunctionName=quiet, LogType="Tail")).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r.get("type") for r in records] == [None], records
    assert records[0]["message"] == "careful"
    chatty = create_python_function(client, JSON_LOGGER, LoggingConfig={
        "LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "DEBUG"})
    lines = log_tail(client.invoke(FunctionName=chatty, LogType="Tail")).splitlines()
    kinds = [json.loads(line).get("type") for line in lines]
    assert "platform.runtimeDone" in kinds and "platform.report" in kinds and "platform.start" in kinds, kinds


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path / "data", env={"LAMINA_LOG_RETENTION_SWEEP": "0.3"})
    yield running
    running.stop()


def test_retention_sweep_and_nothing_lost_on_shutdown(own_server: Server, tmp_path: Path) -> None:
    logs = own_server.client("logs")
    logs.create_log_group(logGroupName="/old")
    logs.create_log_stream(logGroupName="/old", logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/old", logStreamName="s",
                        logEvents=[{"timestamp": now - 3 * 86_400_000, "message": "three days old"}])
    logs.put_log_events(logGroupName="/old", logStreamName="s", logEvents=[{"timestamp": now, "message": "fresh"}])
    logs.put_retention_policy(logGroupName="/old", retentionInDays=1)

    def swept() -> bool:
        events = logs.get_log_events(logGroupName="/old", logStreamName="s", startFromHead=True)["events"]
        return [e["message"] for e in events] == ["fresh"]

    assert wait_for(swept, timeout=10)
    name = create_python_function(own_server.client(), CHATTY)
    invoke_json(own_server.client(), name, {"n": 7})
    assert own_server.stop() == 0          # SIGTERM right after the answer: the pending batch is written
    again = start_server(own_server.data_dir)
    try:
        answer = again.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="received")
        assert [e["message"] for e in answer["events"]] == ["order 7 received\n"]
    finally:
        again.stop()
