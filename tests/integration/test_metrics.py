"""Metrics against a live server: Prometheus /metrics, CloudWatch AWS/Lambda metrics through boto3
(GetMetricStatistics, GetMetricData, ListMetrics), PutMetricData, Embedded Metric Format lines,
and ``lamina metrics``."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import threading
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Server, create_python_function, http_request, invoke_json, unique_name

WORKER = """
import json, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("bad input")
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
        {"Namespace": "Lamina/Tests", "Dimensions": [["route"]],
         "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "route": "/orders", "Latency": [10, 30]}))
    return "ok"
"""
NOW = datetime.datetime.now(datetime.UTC)
WINDOW = {"StartTime": NOW - datetime.timedelta(minutes=10), "EndTime": NOW + datetime.timedelta(minutes=10)}


@pytest.fixture(scope="module")
def worker(server: Server) -> str:
    client = server.client()
    name = create_python_function(client, WORKER)
    for event in ({}, {}, {"fail": True}, {}):
        invoke_json(client, name, event)
    threads = [threading.Thread(target=invoke_json, args=(server.client(), name, {"sleep": 1.6})) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    once = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError):
        once.invoke(FunctionName=name)
    client.delete_function_concurrency(FunctionName=name)
    return name


def statistics(server: Server, name: str, metric: str, **extra: Any) -> list[dict[str, Any]]:
    dims = extra.pop("Dimensions", [{"Name": "FunctionName", "Value": name}])
    params = {"Namespace": "AWS/Lambda", "Period": 1200, "Statistics": ["Sum", "SampleCount", "Average", "Maximum"],
              **WINDOW, **extra}
    params = {key: value for key, value in params.items() if value is not None}
    answer = server.client("cloudwatch").get_metric_statistics(MetricName=metric, Dimensions=dims, **params)
    datapoints: list[dict[str, Any]] = answer["Datapoints"]
    return datapoints


def test_prometheus_exposition(server: Server, worker: str) -> None:
    answer = http_request(server, "GET", "/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.body.decode()
    labels = f'region="us-east-1",function="{worker}",version="$LATEST"'
    assert f'lamina_invocations_total{{{labels},outcome="success"}} 6\n' in text
    assert f'lamina_invocations_total{{{labels},outcome="error"}} 1\n' in text
    assert f"lamina_errors_total{{{labels}}} 1\n" in text
    assert f'lamina_throttles_total{{region="us-east-1",function="{worker}",reason=' in text
    assert f"lamina_duration_seconds_count{{{labels}}} 7\n" in text
    assert f'lamina_duration_seconds_bucket{{{labels},le="+Inf"}} 7\n' in text
    assert re.search(rf"lamina_cold_starts_total{{{re.escape(labels)}}} [1-4]\n", text)
    assert "# TYPE lamina_concurrent_executions gauge" in text and "lamina_build_info{version=" in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{.*\})? [-+0-9.eInfa]+', line), line


def test_lambda_metrics_through_get_metric_statistics(server: Server, worker: str) -> None:
    (invocations,) = statistics(server, worker, "Invocations")
    assert (invocations["Sum"], invocations["Unit"]) == (7.0, "Count")
    (errors,) = statistics(server, worker, "Errors")
    assert errors["Sum"] == 1.0 and errors["Average"] == pytest.approx(1 / 7)
    (throttles,) = statistics(server, worker, "Throttles")
    assert throttles["Sum"] == 1.0
    (duration,) = statistics(server, worker, "Duration", Statistics=None, ExtendedStatistics=["p50", "p99"])
    assert duration["ExtendedStatistics"]["p99"] >= 1600 > duration["ExtendedStatistics"]["p50"]
    (concurrency,) = statistics(server, worker, "ConcurrentExecutions")
    assert concurrency["Maximum"] >= 2
    resource = [{"Name": "FunctionName", "Value": worker}, {"Name": "Resource", "Value": worker}]
    assert statistics(server, worker, "Invocations", Dimensions=resource)[0]["Sum"] == 7.0
    everything = statistics(server, worker, "Invocations", Dimensions=[])
    assert everything[0]["Sum"] >= 7.0


def test_get_metric_data_and_list_metrics(server: Server, worker: str) -> None:
    cloudwatch = server.client("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": worker}]
    answer = cloudwatch.get_metric_data(MetricDataQueries=[
        {"Id": "calls", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                                  "Dimensions": dims}, "Period": 60, "Stat": "Sum"}},
        {"Id": "slowest", "Label": "max ms",
         "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Duration", "Dimensions": dims},
                        "Period": 1200, "Stat": "Maximum"}}], **WINDOW)
    calls, slowest = answer["MetricDataResults"]
    assert sum(calls["Values"]) == 7.0 and calls["StatusCode"] == "Complete" and calls["Label"] == "Invocations"
    assert calls["Timestamps"] == sorted(calls["Timestamps"], reverse=True)
    assert slowest["Label"] == "max ms" and slowest["Values"][0] >= 1600
    listed = cloudwatch.list_metrics(Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": worker}])
    names = {m["MetricName"] for m in listed["Metrics"]}
    assert {"Invocations", "Errors", "Duration", "Throttles", "ConcurrentExecutions", "ColdStarts"} <= names
    assert all({"Name": "FunctionName", "Value": worker} in m["Dimensions"] for m in listed["Metrics"])


def test_embedded_metric_format_lines_become_metrics(server: Server, worker: str) -> None:
    (latency,) = statistics(server, worker, "Latency", Namespace="Lamina/Tests",
                            Dimensions=[{"Name": "route", "Value": "/orders"}])
    assert latency["Unit"] == "Milliseconds" and latency["Maximum"] == 30.0 and latency["Average"] == 20.0


def test_a_metric_query_sees_the_embedded_metrics_of_the_invocation_just_answered(server: Server) -> None:
    """Logs are written once a second, and EMF lines become metrics as they are written: a query
    must not answer before the logs it has already received are read."""
    client = server.client()
    name = create_python_function(client, WORKER.replace('"/orders"', '"/fresh"'))
    invoke_json(client, name, {})
    (latency,) = statistics(server, name, "Latency", Namespace="Lamina/Tests",
                            Dimensions=[{"Name": "route", "Value": "/fresh"}])
    assert latency["SampleCount"] == 2.0 and latency["Maximum"] == 30.0


def test_put_metric_data_round_trip_and_errors(server: Server) -> None:
    cloudwatch = server.client("cloudwatch")
    namespace = f"App/{unique_name('ns')}"
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Orders", "Dimensions": [{"Name": "shop", "Value": "eu"}], "Values": [1, 2], "Counts": [3, 1],
         "Unit": "Count"},
        {"MetricName": "Orders", "Dimensions": [{"Name": "shop", "Value": "eu"}],
         "StatisticValues": {"SampleCount": 2, "Sum": 10, "Minimum": 4, "Maximum": 6}, "Unit": "Count"}])
    (point,) = statistics(server, "", "Orders", Namespace=namespace, Dimensions=[{"Name": "shop", "Value": "eu"}],
                          Statistics=["Sum", "SampleCount", "Minimum", "Maximum"])
    assert (point["Sum"], point["SampleCount"], point["Minimum"], point["Maximum"]) == (15.0, 6.0, 1.0, 6.0)
    assert cloudwatch.list_metrics(Namespace=namespace)["Metrics"] == [
        {"Namespace": namespace, "MetricName": "Orders", "Dimensions": [{"Name": "shop", "Value": "eu"}]}]
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[{"MetricName": "X", "Value": 1}])
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as excinfo:
        statistics(server, "x", "Invocations", Period=45)
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        statistics(server, "x", "Invocations", Period=60, StartTime=NOW - datetime.timedelta(days=2))
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_lamina_metrics_command(server: Server, worker: str) -> None:
    done = subprocess.run([sys.executable, "-m", "lamina", "metrics", worker, "--since", "15m", "--output", "json",
                           "--endpoint", server.endpoint], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert sum(row.get("invocations", 0) for row in rows) == 7 and sum(row.get("errors", 0) for row in rows) == 1
    table = subprocess.run([sys.executable, "-m", "lamina", "metrics", worker, "--endpoint", server.endpoint],
                           capture_output=True, text=True, timeout=60, check=False,
                           env={**os.environ, "COLUMNS": "200"})
    assert table.returncode == 0 and "invocations" in table.stdout and "AWS/Lambda" in table.stdout
