"""Lambda's own metrics, from the invoker's invocation events: Prometheus series and the CloudWatch
namespace ``AWS/Lambda``.

CloudWatch (Lambda developer guide, "Types of metrics for Lambda functions"): ``Invocations``,
``Errors`` (one sample per invocation, 0 or 1, so Average is the error rate), ``Throttles``,
``Duration`` (ms), ``ConcurrentExecutions`` (sampled each second: read Maximum), and for
asynchronous invocation ``AsyncEventsReceived``, ``AsyncEventAge``, ``AsyncEventsDropped``,
``DeadLetterErrors`` (reported by the async engine: :meth:`LambdaMetrics.async_event`). Each is kept
per ``FunctionName``, per (``FunctionName``, ``Resource``), per (``FunctionName``, ``Resource``,
``ExecutedVersion``) for published versions, and across all functions (no dimension). Lamina adds
``ColdStarts`` and ``InitDuration`` beside them.

:meth:`LambdaMetrics.record` takes a batch of events and sums them per function version and minute
before touching the metric store, so its cost per invocation is a few dictionary updates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lamina.clock import Clock
from lamina.observability.cwmetrics import Dimensions, MetricStore, Stats
from lamina.observability.prometheus import Labels, Registry
from lamina.types import LATEST, FunctionErrorType

if TYPE_CHECKING:
    from lamina.observability.invocation import Invocation

NAMESPACE = "AWS/Lambda"
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                    900.0)
_UNITS = {"Invocations": "Count", "Errors": "Count", "Throttles": "Count", "Duration": "Milliseconds",
          "ColdStarts": "Count", "InitDuration": "Milliseconds", "ConcurrentExecutions": "Count"}


class _Minute:
    """One function version's invocations in one minute."""

    __slots__ = ("billed_ms", "cold", "durations", "errors", "init", "throttled", "timeouts")

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.billed_ms = 0
        self.errors = 0
        self.timeouts = 0
        self.cold = 0
        self.init: list[float] = []
        self.throttled: dict[str, int] = {}

    @property
    def invocations(self) -> int:
        return len(self.durations)

    @property
    def throttles(self) -> int:
        return sum(self.throttled.values())


def dimension_sets(name: str, version: str) -> list[Dimensions]:
    resource = name if version == LATEST else f"{name}:{version}"
    sets: list[Dimensions] = [(), (("FunctionName", name),), (("FunctionName", name), ("Resource", resource))]
    if version != LATEST:
        sets.append((("ExecutedVersion", version), ("FunctionName", name), ("Resource", resource)))
    return sets


class LambdaMetrics:
    def __init__(self, store: MetricStore, registry: Registry, clock: Clock) -> None:
        self.store = store
        self._clock = clock
        self.registry = registry
        labels = ("region", "function", "version")
        self.invocations = registry.counter("lamina_invocations_total", "Invocations that ran, by outcome.",
                                            (*labels, "outcome"))
        self.errors = registry.counter("lamina_errors_total", "Invocations that ended in a function error or timeout.",
                                       labels)
        self.throttles = registry.counter("lamina_throttles_total", "Invocations refused with 429, by reason.",
                                          ("region", "function", "reason"))
        self.cold_starts = registry.counter("lamina_cold_starts_total", "Invocations that started an environment.",
                                            labels)
        self.billed = registry.counter("lamina_billed_duration_seconds_total", "Billed duration (1 ms rounding).",
                                       labels)
        self.duration = registry.histogram("lamina_duration_seconds", "Handler duration of each invocation.",
                                           labels, _SECONDS_BUCKETS)
        self.event_age = registry.histogram(
            "lamina_async_event_age_seconds", "Time from accepting an asynchronous event to each attempt to run it.",
            ("region", "function"), _SECONDS_BUCKETS)
        self.events_received = registry.counter("lamina_async_events_received_total",
                                                "Asynchronous events accepted.", ("region", "function"))
        self.events_dropped = registry.counter("lamina_async_events_dropped_total",
                                               "Asynchronous events finished without running successfully.",
                                               ("region", "function"))
        self.dead_lettered = registry.counter("lamina_async_dead_lettered_total",
                                              "Asynchronous events sent to the function's dead-letter queue.",
                                              ("region", "function"))
        self.dead_letter_errors = registry.counter(
            "lamina_async_dead_letter_errors_total",
            "Asynchronous events that could not be sent to the dead-letter queue (AWS/Lambda DeadLetterErrors).",
            ("region", "function"))
        self.init_duration = registry.histogram("lamina_init_duration_seconds", "Init phase of cold starts.",
                                                labels, _SECONDS_BUCKETS)

    def record(self, events: Iterable[Invocation]) -> None:
        """Sum a batch of invocations per function version and minute, then update the Prometheus
        series and the CloudWatch minutes once per sum (per value only for the duration histograms)."""
        minutes: dict[tuple[str, str, str, int], _Minute] = {}
        timeout = FunctionErrorType.TIMEOUT.value
        for event in events:
            fn = event.function
            throttled = event.throttled
            # A throttled request has no time of its own: it counts in the minute it is recorded.
            moment = int(event.ended if throttled is None else self._clock.time())
            key = (fn.region, fn.name, event.executed_version, moment - moment % 60)
            bucket = minutes.get(key)
            if bucket is None:
                bucket = minutes[key] = _Minute()
            if throttled is not None:
                bucket.throttled[throttled] = bucket.throttled.get(throttled, 0) + 1
                continue
            bucket.durations.append(event.duration_ms)
            bucket.billed_ms += event.billed_ms
            if event.function_error is not None:
                if event.error_type == timeout:
                    bucket.timeouts += 1
                else:
                    bucket.errors += 1
            if event.cold_start:
                bucket.cold += 1
                if event.init_ms is not None:
                    bucket.init.append(event.init_ms)
        for (region, name, version, minute), bucket in minutes.items():
            self._prometheus(region, name, version, bucket)
            self._publish(region, name, version, minute, bucket)

    def _prometheus(self, region: str, name: str, version: str, bucket: _Minute) -> None:
        labels: Labels = (region, name, version)
        for reason, count in bucket.throttled.items():
            self.throttles.inc((region, name, reason), count)
        if not bucket.durations:
            return
        failed = bucket.errors + bucket.timeouts
        for outcome, count in (("success", len(bucket.durations) - failed), ("error", bucket.errors),
                               ("timeout", bucket.timeouts)):
            if count:
                self.invocations.inc((*labels, outcome), count)
        if failed:
            self.errors.inc(labels, failed)
        if bucket.cold:
            self.cold_starts.inc(labels, bucket.cold)
        self.billed.inc(labels, bucket.billed_ms / 1000)
        self.duration.observe_many(labels, bucket.durations, 1000)
        if bucket.init:
            self.init_duration.observe_many(labels, bucket.init, 1000)

    def _publish(self, region: str, name: str, version: str, minute: int, bucket: _Minute) -> None:
        metrics = [metric for metric, present in (
            ("Invocations", bucket.invocations), ("Errors", bucket.invocations), ("Duration", bucket.invocations),
            ("Throttles", bucket.throttles), ("ColdStarts", bucket.cold), ("InitDuration", bucket.init)) if present]
        for metric in metrics:
            stats = _stats(metric, bucket)
            for dims in dimension_sets(name, version):
                self.store.add_stats(region, NAMESPACE, metric, dims, minute, stats.copy(), _UNITS[metric])

    def concurrency(self, region: str, name: str | None, running: int, now: float) -> None:
        """A ConcurrentExecutions sample: for one function, or the whole region when ``name`` is None."""
        dims: Dimensions = () if name is None else (("FunctionName", name),)
        self.store.put(region, NAMESPACE, "ConcurrentExecutions", dims, now, values=(float(running),), unit="Count")

    def async_event(self, kind: str, region: str, name: str, version: str, value: float, now: float) -> None:
        """What the asynchronous engine reports: ``received`` (AsyncEventsReceived), ``age`` (seconds
        from acceptance to an attempt: AsyncEventAge), ``dropped`` (finished without success, sent to
        a DLQ or destination or not: AsyncEventsDropped), ``dead_lettered`` (sent to the DLQ) or
        ``dead_letter_error`` (could not be: DeadLetterErrors). AWS's definitions: Lambda developer
        guide, "Types of metrics for Lambda functions", asynchronous invocation metrics."""
        if kind == "received":
            self.events_received.inc((region, name), value)
            self.put(region, name, "AsyncEventsReceived", value, "Count", now, version)
        elif kind == "dropped":
            self.events_dropped.inc((region, name), value)
            self.put(region, name, "AsyncEventsDropped", value, "Count", now, version)
        elif kind == "age":
            self.event_age.observe((region, name), value)
            self.put(region, name, "AsyncEventAge", value * 1000, "Milliseconds", now, version)
        elif kind == "dead_lettered":
            self.dead_lettered.inc((region, name), value)
        elif kind == "dead_letter_error":
            self.dead_letter_errors.inc((region, name), value)
            self.put(region, name, "DeadLetterErrors", value, "Count", now, version)

    def put(self, region: str, name: str, metric: str, value: float, unit: str, now: float,
            version: str = LATEST) -> None:
        """A metric of the asynchronous engine (``AsyncEventAge`` ...), under every dimension set."""
        for dims in dimension_sets(name, version):
            self.store.put(region, NAMESPACE, metric, dims, now, values=(value,), unit=unit)


def _stats(metric: str, bucket: _Minute) -> Stats:
    stats = Stats()
    if metric == "Invocations":
        stats.add(1.0, bucket.invocations)
    elif metric == "Errors":
        failed = bucket.errors + bucket.timeouts
        if failed:
            stats.add(1.0, failed)
        if bucket.invocations > failed:
            stats.add(0.0, bucket.invocations - failed)
    elif metric == "Throttles":
        stats.add(1.0, bucket.throttles)
    elif metric == "ColdStarts":
        stats.add(1.0, bucket.cold)
    else:
        stats.add_values(bucket.durations if metric == "Duration" else bucket.init)
    return stats
