"""Lamina's own observability endpoints on the API port, beside ``/_lamina/health``:

- ``GET /metrics`` (and ``/_lamina/metrics``): Prometheus text format 0.0.4;
- ``GET /_lamina/cost?function=F&since=7d&until=2026-11-30&region=R``: the cost report (JSON);
- ``GET /_lamina/usage?function=F&limit=100``: the latest usage records;
- ``GET /_lamina/traces`` (recent trace ids) and ``GET /_lamina/traces/<trace id>`` (its spans; the
  id in OpenTelemetry or X-Ray form).

``handle`` answers None for a path that is not one of these.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

from lamina.billing.report import cost_report, parse_since
from lamina.clock import Clock
from lamina.config import Settings
from lamina.observability.prometheus import CONTENT_TYPE
from lamina.observability.telemetry import Telemetry

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
_PROMETHEUS = ("/metrics", "/_lamina/metrics")
_PATHS = (*_PROMETHEUS, "/_lamina/cost", "/_lamina/usage", "/_lamina/traces")
_JSON = [(b"content-type", b"application/json")]


def _json(status: int, body: Any) -> Answer:
    return status, list(_JSON), json.dumps(body, default=str).encode()


def serves(path: str) -> bool:
    """Whether ``path`` is one of these endpoints (checked in the server, answered by :func:`handle`
    in the telemetry process)."""
    return path in _PATHS or path.startswith("/_lamina/traces/")


def is_prometheus(path: str) -> bool:
    return path in _PROMETHEUS


async def handle(telemetry: Telemetry, settings: Settings, clock: Clock, path: str, query: str) -> Answer | None:
    if path in _PROMETHEUS:
        return 200, [(b"content-type", CONTENT_TYPE.encode())], telemetry.prometheus()
    args = {key: values[-1] for key, values in parse_qs(query).items()}
    if path == "/_lamina/cost":
        return await _cost(telemetry, settings, clock, args)
    if path == "/_lamina/usage":
        await telemetry.flush()
        limit = int(args.get("limit", "100")) if args.get("limit", "100").isdigit() else 100
        rows = await asyncio.to_thread(telemetry.meter.tables.records, args.get("function"), min(limit, 10_000))
        return _json(200, {"records": rows})
    if path == "/_lamina/traces":
        telemetry.process()
        return _json(200, {"traces": telemetry.traces.recent()})
    if path.startswith("/_lamina/traces/"):
        trace_id = path.rsplit("/", 1)[1]
        spans = telemetry.trace(trace_id)
        if not spans:
            return _json(404, {"message": f"No trace {trace_id} is kept here."})
        return _json(200, {"traceId": spans[0]["traceId"], "spans": spans})
    return None


async def _cost(telemetry: Telemetry, settings: Settings, clock: Clock, args: dict[str, str]) -> Answer:
    now = clock.time()
    try:
        since = parse_since(args.get("since", "30d"), now)
        until = parse_since(args["until"], now) if "until" in args else now
    except ValueError:
        return _json(400, {"message": "since and until take 10m, 24h, 7d, 2w or a date such as 2026-11-20"})
    await telemetry.flush()
    since_day, until_day = int(since // 86400), int(until // 86400)
    rows = await asyncio.to_thread(telemetry.meter.tables.daily, since_day, until_day, args.get("region"),
                                   args.get("function"))
    return _json(200, cost_report(rows, settings.prices, since_day, until_day))
