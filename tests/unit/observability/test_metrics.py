"""Prometheus exposition, the CloudWatch metric store, Embedded Metric Format, Lambda's own metrics."""

from __future__ import annotations

import json
import math

from lamina.clock import FakeClock
from lamina.observability import emf
from lamina.observability.cwmetrics import MetricStore, Stats, dimensions
from lamina.observability.lambdametrics import NAMESPACE, LambdaMetrics, dimension_sets
from lamina.observability.prometheus import Registry
from lamina.store.db import Store
from lamina.store.observability import MetricTables
from tests.unit.observability.events import invocation_event, throttle_event


def test_exposition_format() -> None:
    registry = Registry()
    counter = registry.counter("lamina_things_total", "Things.", ("function",))
    counter.inc(('we"ird\\fn',), 2)
    histogram = registry.histogram("lamina_duration_seconds", "Durations.", ("function",), (0.1, 1.0))
    for value in (0.05, 0.5, 5.0):
        histogram.observe(("f",), value)
    registry.gauge("lamina_up", "Up.", (), lambda: {(): 1.0})
    text = registry.render().decode()
    assert '# TYPE lamina_things_total counter\nlamina_things_total{function="we\\"ird\\\\fn"} 2\n' in text
    assert 'lamina_duration_seconds_bucket{function="f",le="0.1"} 1\n' in text
    assert 'lamina_duration_seconds_bucket{function="f",le="1"} 2\n' in text
    assert 'lamina_duration_seconds_bucket{function="f",le="+Inf"} 3\n' in text
    assert 'lamina_duration_seconds_count{function="f"} 3\nlamina_duration_seconds_sum' not in text
    assert 'lamina_duration_seconds_sum{function="f"} 5.55\n' in text
    assert "lamina_up 1\n" in text


def test_histogram_observe_many_matches_observe() -> None:
    registry = Registry()
    one = registry.histogram("a_seconds", "A.", ("f",), (0.005, 0.1, 1.0))
    many = registry.histogram("b_seconds", "B.", ("f",), (0.005, 0.1, 1.0))
    milliseconds = [0.4, 5.0, 99.9, 100.0, 250.0, 5000.0]   # 5 and 100 ms sit on bounds
    for value in milliseconds:
        one.observe(("f",), value / 1000)
    many.observe_many(("f",), milliseconds, 1000)
    assert many.counts == one.counts and many.sums == one.sums
    assert many.counts[("f",)] == [2, 2, 1, 1]


def test_stats_and_percentiles() -> None:
    stats = Stats()
    for value in range(1, 101):
        stats.add(float(value))
    assert (stats.statistic("SampleCount"), stats.statistic("Sum"), stats.statistic("Average")) == (100, 5050, 50.5)
    assert (stats.statistic("Minimum"), stats.statistic("Maximum"), stats.statistic("p99")) == (1, 100, 99)
    stats.add_set(10, 10, 1, 1)
    assert stats.statistic("p50") is None and stats.statistic("SampleCount") == 110


def test_store_buckets_periods_and_persistence(store: Store) -> None:
    metrics = MetricStore(MetricTables(store))
    dims = dimensions({"FunctionName": "f"})
    start = 1_800_000_000 - 1_800_000_000 % 3600
    for minute in range(5):
        metrics.put("us-east-1", "NS", "Latency", dims, start + minute * 60 + 1, values=(float(minute),),
                    unit="Milliseconds")
    buckets = metrics.buckets("us-east-1", "NS", "Latency", dims, start, start + 300, 120)
    assert [(t - start, s.count, s.sum) for t, s in buckets] == [(0, 2, 1.0), (120, 2, 5.0), (240, 1, 4.0)]
    assert metrics.buckets("us-east-1", "NS", "Latency", dims, start, start + 300, 60, "Count") == []
    assert metrics.list("us-east-1", filters=[("FunctionName", None)]) == [("NS", "Latency", dims)]
    metrics.persist(start + 300)
    reloaded = MetricStore(MetricTables(store))
    reloaded.load(start + 300)
    again = reloaded.buckets("us-east-1", "NS", "Latency", dims, start, start + 300, 300)
    assert [(s.count, s.sum, s.minimum, s.maximum) for _, s in again] == [(5, 10.0, 0.0, 4.0)]


def test_high_resolution_seconds() -> None:
    metrics = MetricStore()
    for second in range(10):
        metrics.put("r", "NS", "Hits", (), 1_800_000_000 + second, values=(1.0,), high_resolution=True)
    buckets = metrics.buckets("r", "NS", "Hits", (), 1_800_000_000, 1_800_000_010, 5)
    assert [s.sum for _, s in buckets] == [5.0, 5.0]


def test_embedded_metric_format() -> None:
    line = json.dumps({"_aws": {"Timestamp": 1_800_000_000_000, "CloudWatchMetrics": [
        {"Namespace": "Shop", "Dimensions": [["service"], ["service", "env"]],
         "Metrics": [{"Name": "Orders", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds",
                                                           "StorageResolution": 1}]}]},
        "service": "cart", "env": "prod", "Orders": [1, 2], "Latency": 12.5})
    data = emf.parse(line)
    assert {(d.name, d.dims, d.values, d.unit, d.high_resolution) for d in data} == {
        ("Orders", (("service", "cart"),), (1.0, 2.0), "Count", False),
        ("Orders", (("env", "prod"), ("service", "cart")), (1.0, 2.0), "Count", False),
        ("Latency", (("service", "cart"),), (12.5,), "Milliseconds", True),
        ("Latency", (("env", "prod"), ("service", "cart")), (12.5,), "Milliseconds", True)}
    assert all(d.timestamp == 1_800_000_000 for d in data)
    assert emf.parse('{"_aws": {"CloudWatchMetrics": []}}') == []
    assert emf.parse('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["x"]], '
                     '"Metrics": [{"Name": "M"}]}]}, "x": 5, "M": 1}') == []   # dimension values are strings
    assert emf.parse("not json") == []


def test_dimension_sets_follow_lambda() -> None:
    assert dimension_sets("f", "$LATEST") == [(), (("FunctionName", "f"),), (("FunctionName", "f"), ("Resource", "f"))]
    assert dimension_sets("f", "3")[-1] == (("ExecutedVersion", "3"), ("FunctionName", "f"), ("Resource", "f:3"))


def test_lambda_metrics_errors_average_is_the_error_rate() -> None:
    metrics = MetricStore()
    lm = LambdaMetrics(metrics, Registry(), FakeClock())
    events = [invocation_event(duration_ms=d, error=(i == 0), cold=(i == 0)) for i, d in enumerate((10.0, 20.0, 30.0,
                                                                                                  40.0))]
    lm.record([*events, throttle_event()])
    dims = (("FunctionName", "fn"),)
    minute = int(events[0].ended) // 60 * 60
    (_, errors), = metrics.buckets("us-east-1", NAMESPACE, "Errors", dims, minute, minute + 60, 60)
    assert errors.statistic("Average") == 0.25 and errors.statistic("Sum") == 1
    (_, duration), = metrics.buckets("us-east-1", NAMESPACE, "Duration", dims, minute, minute + 60, 60)
    assert duration.statistic("Maximum") == 40.0 and math.isclose(duration.statistic("Average") or 0, 25.0)
    assert lm.invocations.get(("us-east-1", "fn", "$LATEST", "error")) == 1
    assert lm.throttles.get(("us-east-1", "fn", "ReservedFunctionConcurrentInvocationLimitExceeded")) == 1
