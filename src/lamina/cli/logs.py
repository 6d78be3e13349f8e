"""``lamina logs FUNCTION``: a function's log events (FilterLogEvents), optionally followed.

One line per event. ``--output json`` prints one document, ``{"logGroupName", "events": [{"timestamp",
"logStreamName", "message", "eventId"}]}``, or with ``--follow`` one such event object per line as
events arrive. Exit 1 (a message on stderr) when the log group does not exist and not following.
"""

from __future__ import annotations

import json
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


def _event(event: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": event["timestamp"], "logStreamName": event["logStreamName"],
            "message": event["message"].rstrip("\n"), "eventId": event["eventId"]}


def run(function: str, *, follow: bool, since: str, pattern: str | None, endpoint: str | None,
        region: str | None, log_group: str | None, output: str = "table") -> None:
    logs = remote.client("logs", remote.endpoint(endpoint), remote.region(region))
    group = log_group or f"/aws/lambda/{function}"
    try:
        start = int(parse_since(since, time.time()) * 1000)
    except ValueError:
        raise typer.BadParameter("--since takes 10m, 24h, 7d, 2w or a date such as 2026-11-20") from None
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
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
                    if output != "json":
                        typer.echo(_line(event))
                    elif follow:
                        typer.echo(json.dumps(_event(event)))
                    else:
                        found.append(_event(event))
                    start = max(start, event["timestamp"])
                if not page.get("nextToken"):
                    break
                params["nextToken"] = page["nextToken"]
        except logs.exceptions.ResourceNotFoundException:
            if not follow:
                typer.echo(f"No log group {group} (the function has not run yet?)", err=True)
                raise typer.Exit(1) from None
        if not follow:
            if output == "json":
                typer.echo(json.dumps({"logGroupName": group, "events": found}, indent=2))
            return
        time.sleep(POLL_S)
