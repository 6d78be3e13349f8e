"""CloudWatch metrics, the domain: series of statistic sets, queried by period and statistic.

A series is (region, namespace, metric name, dimensions). Data is kept per minute (CloudWatch's
standard resolution) and, for high-resolution metrics (``StorageResolution`` 1), per second for the
last three hours, as CloudWatch keeps them. Each bucket holds SampleCount, Sum, Minimum, Maximum and,
in memory, up to :data:`MAX_VALUES` raw values for percentiles (``p99``). Minutes are written to the
store in batches (:meth:`MetricStore.persist`) and read back at start for the retention window.

Thread-safe: embedded-metric lines arrive from the log flusher's worker thread.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lamina.store.observability import MetricTables

Dimensions = tuple[tuple[str, str], ...]
MAX_VALUES = 5000
HIGH_RES_KEEP_S = 3 * 3600


def dimensions(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Dimensions:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((str(k), str(v)) for k, v in items))


class Stats:
    __slots__ = ("count", "maximum", "minimum", "sum", "values")

    def __init__(self) -> None:
        self.count = 0.0
        self.sum = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf
        self.values: list[float] | None = []

    def add(self, value: float, count: float = 1.0) -> None:
        self.count += count
        self.sum += value * count
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        values = self.values
        if values is not None and len(values) < MAX_VALUES and count == int(count):
            values.extend([value] * min(int(count), MAX_VALUES - len(values)))

    def add_values(self, values: list[float]) -> None:
        """Many values at once (the same as ``add`` for each, at C speed)."""
        if not values:
            return
        self.count += len(values)
        self.sum += sum(values)
        self.minimum = min(self.minimum, min(values))
        self.maximum = max(self.maximum, max(values))
        if self.values is not None and len(self.values) < MAX_VALUES:
            self.values.extend(values[:MAX_VALUES - len(self.values)])

    def copy(self) -> Stats:
        twin = Stats()
        twin.count, twin.sum, twin.minimum, twin.maximum = self.count, self.sum, self.minimum, self.maximum
        twin.values = None if self.values is None else list(self.values)
        return twin

    def merge(self, other: Stats) -> None:
        self.count += other.count
        self.sum += other.sum
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if self.values is not None and other.values is not None:
            self.values.extend(other.values[:MAX_VALUES - len(self.values)])
        else:
            self.values = None

    def add_set(self, count: float, total: float, minimum: float, maximum: float) -> None:
        """A pre-aggregated statistic set: percentiles are no longer available for this bucket."""
        self.count += count
        self.sum += total
        self.minimum = min(self.minimum, minimum)
        self.maximum = max(self.maximum, maximum)
        self.values = None

    def statistic(self, name: str) -> float | None:
        if self.count <= 0:
            return None
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.sum
        if name == "Average":
            return self.sum / self.count
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        if name.startswith("p") and self.values:
            rank = float(name[1:]) / 100
            ordered = sorted(self.values)
            return ordered[min(len(ordered) - 1, max(0, math.ceil(rank * len(ordered)) - 1))]
        return None


@dataclass(slots=True)
class Series:
    unit: str = "None"
    minutes: dict[int, Stats] = field(default_factory=dict)
    seconds: dict[int, Stats] | None = None
    last_put: float = 0.0


SeriesKey = tuple[str, str, str, Dimensions]


class MetricStore:
    def __init__(self, tables: MetricTables | None = None, retention_days: int = 15) -> None:
        self._tables = tables
        self._retention_s = retention_days * 86400
        self._lock = threading.Lock()
        self._series: dict[SeriesKey, Series] = {}
        self._dirty: set[tuple[SeriesKey, int]] = set()
        self._forgot_at = 0.0

    # -- writing ----------------------------------------------------------------------------------

    def put(self, region: str, namespace: str, name: str, dims: Dimensions, timestamp: float, *,
            values: Sequence[float] = (), counts: Sequence[float] | None = None, unit: str | None = None,
            statistic_set: tuple[float, float, float, float] | None = None, high_resolution: bool = False) -> None:
        """Record ``values`` (each weighted by ``counts``) or one ``statistic_set`` =
        (SampleCount, Sum, Minimum, Maximum) at ``timestamp`` (epoch seconds)."""
        key = (region, namespace, name, dims)
        second = int(timestamp)
        minute = second - second % 60
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series(unit or "None")
            elif unit and series.unit == "None":
                series.unit = unit
            series.last_put = max(series.last_put, timestamp)
            buckets = [series.minutes.setdefault(minute, Stats())]
            if high_resolution:
                if series.seconds is None:
                    series.seconds = {}
                buckets.append(series.seconds.setdefault(second, Stats()))
            for bucket in buckets:
                if statistic_set is not None:
                    bucket.add_set(*statistic_set)
                for index, value in enumerate(values):
                    bucket.add(value, counts[index] if counts else 1.0)
            self._dirty.add((key, minute))

    def add_stats(self, region: str, namespace: str, name: str, dims: Dimensions, minute: int, stats: Stats,
                  unit: str) -> None:
        """Merge a whole minute bucket (the invoker's aggregates, made off the lock)."""
        key = (region, namespace, name, dims)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series(unit)
            series.last_put = max(series.last_put, minute + 59.0)
            bucket = series.minutes.get(minute)
            if bucket is None:
                series.minutes[minute] = stats
            else:
                bucket.merge(stats)
            self._dirty.add((key, minute))

    # -- reading ----------------------------------------------------------------------------------

    def buckets(self, region: str, namespace: str, name: str, dims: Dimensions, start: float, end: float,
                period: int, unit: str | None = None) -> list[tuple[int, Stats]]:
        """(period start, merged stats) for each period in [start, end) holding data, in time order.
        Periods start at ``start`` rounded down to the minute (or second, for periods under 60)."""
        with self._lock:
            series = self._series.get((region, namespace, name, dims))
            if series is None or (unit and unit != series.unit):
                return []
            resolution = 60 if period >= 60 else 1
            source = series.minutes if resolution == 60 else (series.seconds or {})
            origin = int(start) - int(start) % resolution
            merged: dict[int, Stats] = {}
            for moment, stats in source.items():
                if origin <= moment < end:
                    slot = origin + (moment - origin) // period * period
                    target = merged.get(slot)
                    if target is None:
                        target = merged[slot] = Stats()
                    target.merge(stats)
            return sorted(merged.items())

    def unit(self, region: str, namespace: str, name: str, dims: Dimensions) -> str:
        with self._lock:
            series = self._series.get((region, namespace, name, dims))
            return series.unit if series else "None"

    def list(self, region: str, namespace: str | None = None, name: str | None = None,
             filters: Sequence[tuple[str, str | None]] = (), active_since: float | None = None
             ) -> list[tuple[str, str, Dimensions]]:
        """Metrics of ``region`` matching every filter: (dimension name, value or None for any)."""
        with self._lock:
            found = []
            for (series_region, series_namespace, series_name, dims), series in self._series.items():
                if series_region != region or (namespace and series_namespace != namespace):
                    continue
                if (name and series_name != name) or (active_since and series.last_put < active_since):
                    continue
                present = dict(dims)
                if all(key in present and (value is None or present[key] == value) for key, value in filters):
                    found.append((series_namespace, series_name, dims))
            return sorted(found)

    # -- persistence ------------------------------------------------------------------------------

    def load(self, now: float) -> None:
        if self._tables is None:
            return
        since = int(now - self._retention_s)
        rows = self._tables.load(since - since % 60)
        with self._lock:
            for row in rows:
                dims = tuple((str(k), str(v)) for k, v in json.loads(row["dimensions"]))
                key = (row["region"], row["namespace"], row["name"], dims)
                series = self._series.setdefault(key, Series(row["unit"]))
                stats = Stats()
                stats.add_set(row["count"], row["sum"], row["minimum"], row["maximum"])
                series.minutes[row["minute"]] = stats
                series.last_put = max(series.last_put, float(row["minute"]))

    def persist(self, now: float) -> None:
        """Write the minutes changed since the last call, and forget data past the retention."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            rows = []
            for key, minute in dirty:
                series = self._series.get(key)
                stats = series.minutes.get(minute) if series else None
                if series is None or stats is None or stats.count <= 0:
                    continue
                region, namespace, name, dims = key
                rows.append({"region": region, "namespace": namespace, "name": name,
                             "dimensions": json.dumps([list(pair) for pair in dims]), "minute": minute,
                             "unit": series.unit, "count": stats.count, "sum": stats.sum,
                             "minimum": stats.minimum, "maximum": stats.maximum})
            # Forgetting walks every bucket: every ten minutes is often enough.
            forget = now - self._forgot_at >= 600
            if forget:
                self._forgot_at = now
                self._forget(now)
        if self._tables is not None:
            try:
                self._tables.put(rows)
                if forget:
                    self._tables.expire(int(now - self._retention_s) // 60 * 60)
            except Exception:
                with self._lock:
                    self._dirty |= dirty
                raise

    def _forget(self, now: float) -> None:
        oldest_minute = now - self._retention_s
        oldest_second = now - HIGH_RES_KEEP_S
        for series in self._series.values():
            for minute in [m for m in series.minutes if m < oldest_minute]:
                del series.minutes[minute]
            if series.seconds:
                for second in [s for s in series.seconds if s < oldest_second]:
                    del series.seconds[second]
