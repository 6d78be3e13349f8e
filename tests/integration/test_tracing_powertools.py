"""A Powertools for AWS Lambda function: its Logger lines, Metrics (EMF) and Tracer subsegments land in
the log group, CloudWatch metrics and Lamina's trace, unmodified.

The function runs on Lamina's own interpreter (the runtime of the same Python version), whose
site-packages hold aws-lambda-powertools and aws-xray-sdk (the ``dev`` extra).
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any

import pytest

from tests.conftest import Server, create_python_function, http_request, invoke_json, wait_for

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
POWERTOOLS = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="orders")
tracer = Tracer(service="orders")
metrics = Metrics(namespace="Lamina/Powertools", service="orders")


@tracer.capture_method
def price(quantity):
    tracer.put_annotation("quantity", quantity)
    return quantity * 5


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=event["quantity"])
    if event.get("broken"):
        logger.error("order rejected", extra={"quantity": event["quantity"]})
    else:
        logger.info("order placed", extra={"quantity": event["quantity"]})
    return {"total": price(event["quantity"])}
"""


@pytest.fixture(scope="module")
def orders(server: Server) -> str:
    name = create_python_function(server.client(), POWERTOOLS, Runtime=RUNTIME, Timeout=30,
                                  TracingConfig={"Mode": "Active"})
    for event in ({"quantity": 2}, {"quantity": 3, "broken": True}):
        _, payload = invoke_json(server.client(), name, event)
        assert payload == {"total": event["quantity"] * 5}, payload
    return name


def test_logger_lines_are_structured_events(server: Server, orders: str) -> None:
    answer = server.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{orders}",
                                                     filterPattern='{ $.level = "ERROR" && $.service = "orders" }')
    (event,) = answer["events"]
    line = json.loads(event["message"])
    assert line["message"] == "order rejected" and line["quantity"] == 3 and line["function_name"] == orders
    assert line["xray_trace_id"].startswith("1-") and line["cold_start"] is False


def test_metrics_become_cloudwatch_metrics(server: Server, orders: str) -> None:
    now = datetime.datetime.now(datetime.UTC)
    answer = server.client("cloudwatch").get_metric_statistics(
        Namespace="Lamina/Powertools", MetricName="OrdersPlaced", Dimensions=[{"Name": "service", "Value": "orders"}],
        StartTime=now - datetime.timedelta(minutes=10), EndTime=now + datetime.timedelta(minutes=10), Period=1200,
        Statistics=["Sum", "SampleCount"])
    (point,) = answer["Datapoints"]
    assert point["Sum"] >= 5.0 and point["Unit"] == "Count"


def test_tracer_subsegments_join_the_invocation_trace(server: Server, orders: str) -> None:
    answer = server.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{orders}",
                                                     filterPattern='{ $.message = "order placed" }')
    root = json.loads(answer["events"][0]["message"])["xray_trace_id"]

    def spans() -> list[dict[str, Any]]:
        found = http_request(server, "GET", f"/_lamina/traces/{root}")
        return found.json()["spans"] if found.status == 200 else []

    assert wait_for(lambda: {"## handler", "## app.price"} <= {s["name"] for s in spans()}, timeout=10), spans()
    by_id = {s["spanId"]: s for s in spans()}
    work = next(s for s in by_id.values() if s["name"] == "## app.price")
    assert work["origin"] == "xray" and work["attributes"]["xray.annotation.quantity"] == 2
    chain = [work["name"]]
    parent = work["parentSpanId"]
    while parent in by_id:
        chain.append(by_id[parent]["name"])
        parent = by_id[parent]["parentSpanId"]
    assert chain == ["## app.price", "## handler", "handler", orders]
