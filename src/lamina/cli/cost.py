"""``lamina cost``: what the invocations would have cost on AWS, per function, version and day."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import typer

from lamina.cli import remote


def fetch(*, function: str | None, since: str, region: str | None, endpoint: str | None) -> dict[str, Any]:
    query = {"since": since}
    if function:
        query["function"] = function
    if region:
        query["region"] = region
    data: dict[str, Any] = remote.get_json(f"{remote.endpoint(endpoint)}/_lamina/cost?{urlencode(query)}")
    return data


def run(*, function: str | None, since: str, region: str | None, output: str, endpoint: str | None) -> None:
    try:
        data = fetch(function=function, since=since, region=region, endpoint=endpoint)
    except RuntimeError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Cost at AWS prices, {data['since']} to {data['until']} (USD)")
    for heading in ("date", "function", "version", "arch", "requests", "GB-s", "requests $", "compute $", "total $",
                    "cold", "errors", "peak MB"):
        table.add_column(heading, justify="left" if heading in ("date", "function", "version", "arch") else "right")
    for row in data["rows"]:
        table.add_row(row["date"], row["function"], row["version"], row["architecture"], str(row["requests"]),
                      row["gbSeconds"], row["requestCost"], row["computeCost"], row["cost"], str(row["coldStarts"]),
                      str(row["errors"]), f"{row['peakMemoryMB']}/{row['memoryMB']}")
    total = data["total"]
    table.add_row("total", "", "", "", str(total["requests"]), total["gbSeconds"], total["requestCost"],
                  total["computeCost"], total["cost"], "", "", "", style="bold")
    console.print(table)
    for month in data["freeTier"]:
        console.print(f"Free tier {month['month']}: {month['freeRequests']} requests and {month['freeGbSeconds']} "
                      f"GB-s free, worth ${month['credit']}")
    console.print(f"After the free tier: ${data['costAfterFreeTier']}")
