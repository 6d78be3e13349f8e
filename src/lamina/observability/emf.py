"""Embedded Metric Format: metrics that functions print as JSON log lines (Powertools Metrics, the
aws-embedded-metrics libraries) become CloudWatch metrics.

The specification ("Specification: Embedded metric format", CloudWatch user guide): the root object
has ``_aws`` = ``{"Timestamp": <epoch ms>, "CloudWatchMetrics": [directive, ...]}``; each directive
names a ``Namespace``, ``Dimensions`` (a list of dimension sets, each a list of root member names
whose values are strings) and ``Metrics`` (``{"Name", "Unit"?, "StorageResolution"?}``, the value
being the root member of that name: a number or an array of up to 100 numbers). A document that
breaks these rules is not a metric document; its line stays a plain log line, as on AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lamina.observability.cwmetrics import Dimensions, dimensions

MAX_VALUES = 100
MAX_DIMENSIONS = 30


@dataclass(frozen=True, slots=True)
class Datum:
    namespace: str
    name: str
    dims: Dimensions
    values: tuple[float, ...]
    unit: str
    #: Epoch seconds.
    timestamp: float
    high_resolution: bool


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse(line: str) -> list[Datum]:
    """The metrics of one log line; empty when it is not a valid EMF document."""
    try:
        document = json.loads(line)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    meta = document.get("_aws")
    if not isinstance(meta, dict) or not _number(meta.get("Timestamp")):
        return []
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        return []
    timestamp = float(meta["Timestamp"]) / 1000.0
    found: list[Datum] = []
    for directive in directives:
        found.extend(_directive(document, directive, timestamp))
    return found


def _directive(document: dict[str, Any], directive: Any, timestamp: float) -> list[Datum]:
    if not isinstance(directive, dict):
        return []
    namespace = directive.get("Namespace")
    sets = directive.get("Dimensions")
    metrics = directive.get("Metrics")
    if not isinstance(namespace, str) or not namespace or not isinstance(sets, list) or not isinstance(metrics, list):
        return []
    dimension_sets: list[Dimensions] = []
    for names in sets or [[]]:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
            return []
        if not all(isinstance(name, str) and isinstance(document.get(name), str) for name in names):
            return []
        dimension_sets.append(dimensions({name: document[name] for name in names}))
    found = []
    for metric in metrics:
        if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
            continue
        name = metric["Name"]
        raw = document.get(name)
        values = raw if isinstance(raw, list) else [raw]
        if not values or len(values) > MAX_VALUES or not all(_number(v) for v in values):
            continue
        unit = metric.get("Unit") if isinstance(metric.get("Unit"), str) else "None"
        high = metric.get("StorageResolution") == 1
        for dims in dimension_sets:
            found.append(Datum(namespace, name, dims, tuple(float(v) for v in values if v is not None),
                               unit or "None", timestamp, high))
    return found
