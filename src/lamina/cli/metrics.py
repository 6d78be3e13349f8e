"""``lamina metrics FUNCTION``: a function's AWS/Lambda metrics over a recent window (GetMetricData)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import typer

from lamina.billing.report import parse_since
from lamina.cli import remote

#: (metric, statistic, column heading)
QUERIES = (("Invocations", "Sum", "invocations"), ("Errors", "Sum", "errors"), ("Throttles", "Sum", "throttles"),
           ("ColdStarts", "Sum", "cold starts"), ("Duration", "Average", "avg ms"), ("Duration", "p99", "p99 ms"),
           ("Duration", "Maximum", "max ms"), ("ConcurrentExecutions", "Maximum", "concurrency"))


def fetch(function: str, *, since: str, period: int, endpoint: str | None, region: str | None) -> dict[str, Any]:
    cloudwatch = remote.client("cloudwatch", remote.endpoint(endpoint), remote.region(region))
    now = time.time()
    start = parse_since(since, now)
    queries = [{"Id": f"q{i}", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                   "Dimensions": [{"Name": "FunctionName", "Value": function}]},
        "Period": period, "Stat": stat}} for i, (metric, stat, _) in enumerate(QUERIES)]
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=datetime.fromtimestamp(start, UTC),
                                        EndTime=datetime.fromtimestamp(now + 60, UTC), ScanBy="TimestampAscending")
    rows: dict[str, dict[str, float]] = {}
    for index, result in enumerate(answer["MetricDataResults"]):
        heading = QUERIES[index][2]
        for moment, value in zip(result["Timestamps"], result["Values"], strict=True):
            rows.setdefault(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), {})[heading] = value
    return {"function": function, "period": period, "rows": [{"time": k, **v} for k, v in sorted(rows.items())]}


def run(function: str, *, since: str, period: int, output: str, endpoint: str | None, region: str | None) -> None:
    try:
        data = fetch(function, since=since, period=period, endpoint=endpoint, region=region)
    except ValueError:
        raise typer.BadParameter("--since takes 10m, 24h, 7d, 2w or a date such as 2026-11-20") from None
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{function}: AWS/Lambda metrics per {period} s (UTC)")
    table.add_column("time")
    for _, _, heading in QUERIES:
        table.add_column(heading, justify="right")
    for row in data["rows"]:
        cells = [row["time"]]
        for _, stat, heading in QUERIES:
            value = row.get(heading)
            cells.append("" if value is None else f"{value:.0f}" if stat == "Sum" or heading == "concurrency"
                         else f"{value:.2f}")
        table.add_row(*cells)
    console = Console()
    console.print(table if data["rows"] else f"No metrics for {function} since {since}.")
