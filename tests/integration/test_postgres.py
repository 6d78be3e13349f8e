"""Lamina on PostgreSQL (``LAMINA_DATABASE_URL``) instead of the embedded SQLite.

A real cluster (:mod:`tests.postgres`) and a real server. Both of the server's writers use it: the
server (functions, queues, asynchronous events) and its telemetry process (log chunks, metric
minutes, usage records). Each test also reads the tables back with psycopg, so a silent fallback to
SQLite would fail it.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import (
    Beacon,
    Server,
    create_python_function,
    free_port,
    http_request,
    invoke_json,
    start_server,
    wait_for,
)
from tests.postgres import cluster

CODE = """\
import json
import signal

def handler(event, context):
    print("pg-marker", json.dumps(event))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"seen": event}
"""

BEACONING = """\
import json, os, urllib.request

def handler(event, context):
    request = urllib.request.Request(os.environ["BEACON"], data=json.dumps(event).encode(), method="POST")
    urllib.request.urlopen(request, timeout=10).read()
    return "ok"
"""


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with cluster(free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lamina-pg") / "data"


@pytest.fixture(scope="module")
def pg_server(database: str, data_dir: Path) -> Iterator[Server]:
    running = start_server(data_dir, env={"LAMINA_DATABASE_URL": database})
    yield running
    running.stop()


def rows(database: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return connection.execute(sql, params).fetchall()


def metric_sum(cloudwatch: Any, name: str, metric: str) -> float:
    now = time.time()
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=now - 600, EndTime=now + 60, Period=60, Statistics=["Sum"])["Datapoints"]
    return float(sum(point["Sum"] for point in points))


def test_invocations_logs_metrics_and_usage(pg_server: Server, database: str) -> None:
    lam = pg_server.client()
    name = create_python_function(lam, CODE)
    for index in range(3):
        answer, payload = invoke_json(lam, name, {"n": index})
        assert answer["StatusCode"] == 200 and payload == {"seen": {"n": index}}
    failed, error = invoke_json(lam, name, {"fail": True})
    assert failed["FunctionError"] == "Unhandled" and error["errorType"] == "ValueError"

    logs = pg_server.client("logs")

    def printed() -> list[str]:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"pg-marker"')["events"]
        return sorted(event["message"] for event in events)

    assert wait_for(lambda: len(printed()) == 4, timeout=20), printed()
    assert 'pg-marker {"n": 1}' in "".join(printed())
    cloudwatch = pg_server.client("cloudwatch")
    assert wait_for(lambda: metric_sum(cloudwatch, name, "Invocations") == 4, timeout=20)
    assert metric_sum(cloudwatch, name, "Errors") == 1
    records = http_request(pg_server, "GET", f"/_lamina/usage?function={name}").json()["records"]
    assert sorted(record["outcome"] for record in records) == ["error", "success", "success", "success"]

    # The rows are in PostgreSQL, written by the server and by its telemetry process.
    assert rows(database, "SELECT count(*) FROM function_versions WHERE name = %s", name) == [(1,)]
    assert rows(database, 'SELECT count(*) FROM log_streams WHERE "group" = %s',
                f"/aws/lambda/{name}")[0][0] >= 1
    assert rows(database, "SELECT sum(requests) FROM usage_daily WHERE function = %s", name) == [(4,)]


def test_async_events_and_queues(pg_server: Server, database: str, beacon: Beacon) -> None:
    lam = pg_server.client()
    name = create_python_function(lam, BEACONING, Environment={"Variables": {"BEACON": beacon.url}})
    for index in range(20):
        assert lam.invoke(FunctionName=name, InvocationType="Event",
                          Payload=json.dumps({"n": index}))["StatusCode"] == 202
    heard = beacon.wait(count=20, timeout=60)
    assert sorted(item["n"] for item in heard) == list(range(20))
    assert wait_for(lambda: rows(database, "SELECT count(*) FROM async_events")[0][0] == 0, timeout=20)

    sqs = pg_server.client("sqs")
    url = sqs.create_queue(QueueName=f"pg-{name}")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
    assert rows(database, "SELECT count(*) FROM sqs_messages")[0][0] >= 5
    got: list[str] = []
    deadline = time.monotonic() + 20
    while len(got) < 5 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
            got.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sorted(got) == [f"m{i}" for i in range(5)]


def test_a_restarted_server_finds_everything(pg_server: Server, database: str, data_dir: Path) -> None:
    lam = pg_server.client()
    name = create_python_function(lam, CODE)
    invoke_json(lam, name, {"before": "restart"})
    lam.publish_version(FunctionName=name)
    assert pg_server.stop() == 0  # a clean stop: the telemetry process writes what it holds
    again = start_server(data_dir, env={"LAMINA_DATABASE_URL": database})
    try:
        lam = again.client()
        assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1"]
        answer, payload = invoke_json(lam, name, {"after": "restart"}, Qualifier="1")
        assert answer["StatusCode"] == 200 and payload == {"seen": {"after": "restart"}}
        logs = again.client("logs")

        def printed() -> str:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"pg-marker"')["events"]
            return "".join(event["message"] for event in events)

        assert wait_for(lambda: "before" in printed() and "after" in printed(), timeout=20), printed()
        records = http_request(again, "GET", f"/_lamina/usage?function={name}").json()["records"]
        assert len(records) == 2
    finally:
        again.stop()


def test_a_node_takes_over_the_events_of_a_node_that_died(database: str, beacon: Beacon,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("lamina-pg-nodes") / "data"
    env = {"LAMINA_DATABASE_URL": database, "LAMINA_ASYNC_LEASE_S": "2", "LAMINA_ASYNC_RETRY_SCALE": "0.005"}
    first = start_server(data, env=env)
    try:
        lam = first.client()
        name = create_python_function(lam, BEACONING, Environment={"Variables": {"BEACON": beacon.url}})
        # Accepted, then throttled and kept: the events stay queued on the first node.
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        for index in range(5):
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": index}))
        queued = "SELECT count(*) FROM async_events WHERE function_name = %s"
        assert rows(database, queued, name) == [(5,)]
        (owner,) = {row[0] for row in rows(database, "SELECT owner FROM async_events WHERE function_name = %s", name)}
    finally:
        first.stop(signal.SIGKILL)  # no clean release: only the lease running out frees the events
    second = start_server(data, env=env)
    try:
        lam = second.client()
        lam.delete_function_concurrency(FunctionName=name)
        heard = beacon.wait(count=5, timeout=60)
        assert sorted(item["n"] for item in heard) == list(range(5))
        assert wait_for(lambda: rows(database, queued, name) == [(0,)], timeout=20)
        assert owner not in {row[0] for row in rows(database, "SELECT node_id FROM async_nodes")}
    finally:
        second.stop()
