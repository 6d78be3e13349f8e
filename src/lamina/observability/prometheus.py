"""A small Prometheus registry and its text exposition format, version 0.0.4.

Why not prometheus_client: the platform updates its metrics in batches off the invoke path, from one
thread, so a dict per metric is all it needs, and the text format is a page of code
(https://prometheus.io/docs/instrumenting/exposition_formats/). Names follow Prometheus's
conventions: a ``lamina_`` prefix, base units (``_seconds``, ``_bytes``), ``_total`` on counters,
no per-request labels.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence

Labels = tuple[str, ...]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _labels(names: Sequence[str], values: Iterable[str], extra: str = "") -> str:
    parts = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self.values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, labels: Labels = ()) -> float:
        return self.values.get(labels, 0.0)

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.labelnames, labels)} {_number(value)}"
                for labels, value in sorted(self.values.items())]


class Gauge(_Metric):
    """A gauge set directly, or read from ``collect`` at exposition time."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = (),
                 collect: Callable[[], dict[Labels, float]] | None = None) -> None:
        super().__init__(name, help_text, labelnames)
        self.values: dict[Labels, float] = {}
        self._collect = collect

    def set(self, labels: Labels, value: float) -> None:
        self.values[labels] = value

    def samples(self) -> list[str]:
        values = dict(self.values)
        if self._collect is not None:
            values.update(self._collect())
        return [f"{self.name}{_labels(self.labelnames, labels)} {_number(value)}"
                for labels, value in sorted(values.items())]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str], buckets: Sequence[float]) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        #: Per label set: [count per bucket (not cumulative) ..., count over the last bound], sum.
        self.counts: dict[Labels, list[int]] = {}
        self.sums: dict[Labels, float] = {}

    def observe(self, labels: Labels, value: float) -> None:
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.buckets) + 1)
            self.sums[labels] = 0.0
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] += value

    def observe_many(self, labels: Labels, values: Sequence[float], divisor: float = 1.0) -> None:
        """:meth:`observe` each of ``values`` divided by ``divisor`` (one lookup of the series for
        all; dividing, not multiplying by the inverse, so a value on a bucket bound stays on it)."""
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.buckets) + 1)
            self.sums[labels] = 0.0
        buckets = self.buckets
        where = bisect.bisect_left
        total = 0.0
        for value in values:
            value /= divisor
            counts[where(buckets, value)] += 1
            total += value
        self.sums[labels] += total

    def count(self, labels: Labels) -> int:
        return sum(self.counts.get(labels, ()))

    def samples(self) -> list[str]:
        lines = []
        for labels, counts in sorted(self.counts.items()):
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.labelnames, labels, le)} {running}")
            lines.append(f"{self.name}_sum{_labels(self.labelnames, labels)} {_number(self.sums[labels])}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, labels)} {running}")
        return lines


class Registry:
    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def register(self, metric: _Metric) -> None:
        self._metrics.append(metric)

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labelnames)
        self.register(metric)
        return metric

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = (),
              collect: Callable[[], dict[Labels, float]] | None = None) -> Gauge:
        metric = Gauge(name, help_text, labelnames, collect)
        self.register(metric)
        return metric

    def histogram(self, name: str, help_text: str, labelnames: Sequence[str], buckets: Sequence[float]) -> Histogram:
        metric = Histogram(name, help_text, labelnames, buckets)
        self.register(metric)
        return metric

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return ("\n".join(lines) + "\n").encode()
