"""``lamina invoke FUNCTION``: call the Invoke API and show the result, the log tail and the REPORT figures.

The payload goes to stdout and everything else (status, function error, log tail, REPORT) to stderr,
as ``sam local invoke`` does, so ``lamina invoke fn | jq`` works. Exit codes: 0 success, 1 the function
failed (X-Amz-Function-Error), 2 the API refused the call (its error code and message on stderr).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from lamina.cli import remote

#: REPORT line field -> key in ``report``; the units (ms, MB) are fixed by the Lambda log format.
REPORT_FIELDS = {"Duration": "durationMs", "Billed Duration": "billedDurationMs", "Memory Size": "memorySizeMB",
                 "Max Memory Used": "maxMemoryUsedMB", "Init Duration": "initDurationMs"}
_FIGURE = re.compile(r"(Duration|Billed Duration|Memory Size|Max Memory Used|Init Duration): ([0-9.]+) (?:ms|MB)")


@dataclass(frozen=True)
class Request:
    function: str
    payload: bytes
    qualifier: str | None = None
    asynchronous: bool = False
    tail: bool = False


def read_payload(payload: str | None, event: Path | None) -> bytes:
    """The request body from ``--payload`` or ``--event`` (``-`` is stdin); ``{}`` when neither is given."""
    if payload is not None and event is not None:
        raise typer.BadParameter("give --payload or --event, not both")
    if event is not None:
        text = typer.get_text_stream("stdin").read() if str(event) == "-" else event.read_text()
    else:
        text = "{}" if payload is None else payload
    try:
        json.loads(text)
    except ValueError as error:
        # Lambda would refuse it too (InvalidRequestContentException); saying so locally is clearer.
        raise typer.BadParameter(f"the payload is not JSON: {error}") from None
    return text.encode()


def parse_report(log: str) -> dict[str, float]:
    """The figures of the last REPORT line in ``log``, keyed as in REPORT_FIELDS; {} when there is none."""
    lines = [line for line in log.splitlines() if line.startswith("REPORT ")]
    if not lines:
        return {}
    return {REPORT_FIELDS[name]: float(value) for name, value in _FIGURE.findall(lines[-1])}


def call(request: Request, *, endpoint: str | None, region: str | None) -> dict[str, Any]:
    """Invoke and return the JSON shape ``--output json`` prints; botocore's ClientError propagates."""
    client = remote.client("lambda", remote.endpoint(endpoint), remote.region(region))
    params: dict[str, Any] = {"FunctionName": request.function, "Payload": request.payload,
                              "InvocationType": "Event" if request.asynchronous else "RequestResponse"}
    if request.qualifier:
        params["Qualifier"] = request.qualifier
    if request.tail:
        params["LogType"] = "Tail"
    answer = client.invoke(**params)
    body = answer["Payload"].read().decode(errors="replace")
    try:
        payload: Any = json.loads(body) if body else None
    except ValueError:
        payload = body
    log = base64.b64decode(answer["LogResult"]).decode(errors="replace") if answer.get("LogResult") else None
    return {"statusCode": answer["StatusCode"], "executedVersion": answer.get("ExecutedVersion"),
            "functionError": answer.get("FunctionError"), "payload": payload, "log": log,
            "report": parse_report(log or ""), "requestId": answer["ResponseMetadata"].get("RequestId")}


def _show(result: dict[str, Any], request: Request) -> None:
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if request.asynchronous:
        err.print(f"[green]{result['statusCode']} Accepted[/] request id {result['requestId']}")
        return
    payload = result["payload"]
    if payload is not None:
        typer.echo(payload if isinstance(payload, str) else json.dumps(payload, indent=2))
    if result["log"]:
        err.rule("log tail (last 4 KB)")
        err.print(result["log"].rstrip(), markup=False)
    if result["report"]:
        names = {key: name for name, key in REPORT_FIELDS.items()}
        figures = "  ".join(f"{names[key]}: {value:g} {'MB' if key.endswith('MB') else 'ms'}"
                            for key, value in result["report"].items())
        err.print(f"[bold]REPORT[/] {figures}")
    version = result["executedVersion"] or "?"
    if result["functionError"]:
        err.print(f"[red]Function error ({result['functionError']})[/] status {result['statusCode']}, "
                  f"version {version}, request id {result['requestId']}")
    else:
        err.print(f"status {result['statusCode']}, version {version}, request id {result['requestId']}")


def run(request: Request, *, output: str, endpoint: str | None, region: str | None) -> None:
    if request.asynchronous and request.tail:
        # AWS refuses LogType=Tail for Event invocations; say so before the round trip.
        raise typer.BadParameter("--tail needs a synchronous invoke (drop --async)")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result = call(request, endpoint=endpoint, region=region)
    except ClientError as error:
        details = error.response.get("Error", {})
        typer.echo(f"{details.get('Code', 'Error')}: {details.get('Message', str(error))}", err=True)
        raise typer.Exit(2) from None
    except BotoCoreError as error:
        typer.echo(f"cannot invoke {request.function}: {error}", err=True)
        raise typer.Exit(2) from None
    if output == "json":
        typer.echo(json.dumps(result, indent=2))
    else:
        _show(result, request)
    if result["functionError"]:
        raise typer.Exit(1)
