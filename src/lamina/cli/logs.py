"""``lamina logs FUNCTION``: a function's log events (FilterLogEvents), optionally followed."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import typer

from lamina.billing.report import parse_since
from lamina.cli import remote

POLL_S = 1.0


def _line(event: dict[str, Any]) -> str:
    moment = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{moment}Z {event['logStreamName']} {event['message'].rstrip()}"


def run(function: str, *, follow: bool, since: str, pattern: str | None, endpoint: str | None,
        region: str | None, log_group: str | None) -> None:
    logs = remote.client("logs", remote.endpoint(endpoint), remote.region(region))
    group = log_group or f"/aws/lambda/{function}"
    try:
        start = int(parse_since(since, time.time()) * 1000)
    except ValueError:
        raise typer.BadParameter("--since takes 10m, 24h, 7d, 2w or a date such as 2026-11-20") from None
    seen: set[str] = set()
    while True:
        params: dict[str, Any] = {"logGroupName": group, "startTime": start}
        if pattern:
            params["filterPattern"] = pattern
        try:
            while True:
                page = logs.filter_log_events(**params)
                for event in page["events"]:
                    if event["eventId"] in seen:
                        continue
                    seen.add(event["eventId"])
                    typer.echo(_line(event))
                    start = max(start, event["timestamp"])
                if not page.get("nextToken"):
                    break
                params["nextToken"] = page["nextToken"]
        except logs.exceptions.ResourceNotFoundException:
            if not follow:
                typer.echo(f"No log group {group} (the function has not run yet?)", err=True)
                raise typer.Exit(1) from None
        if not follow:
            return
        time.sleep(POLL_S)
