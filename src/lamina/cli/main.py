"""The ``lamina`` command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lamina import __version__

app = typer.Typer(help="Lamina: a self-hosted serverless platform that speaks AWS Lambda's language.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """Lamina command-line interface."""


@app.command()
def version(output: Annotated[str, typer.Option(help="text or json")] = "text") -> None:
    """Print Lamina's version."""
    if output == "json":
        import json

        typer.echo(json.dumps({"version": __version__}))
    elif output in ("text", "table"):
        typer.echo(__version__)
    else:
        raise typer.BadParameter(f"--output is text or json, not {output}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [env LAMINA_HOST; default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port for every AWS API [env LAMINA_PORT; default 4566]")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Where state and code live [env LAMINA_DATA_DIR; default ./.lamina]")] = None,
    region: Annotated[str | None, typer.Option(help="Default region [env LAMINA_REGION; default us-east-1]")] = None,
    account_id: Annotated[str | None, typer.Option(
        "--account-id", help="Account id in ARNs [env LAMINA_ACCOUNT_ID; default 000000000000]")] = None,
    examples: Annotated[Path | None, typer.Option(
        help="Deploy every example template in this folder (stack = folder name) once listening")] = None,
    output: Annotated[str, typer.Option(help="table, or json: one JSON line saying where it listens")] = "table",
) -> None:
    """Start the Lamina server."""
    _check_output(output)
    from lamina.cli.serve import run
    from lamina.config import Settings

    settings = Settings.from_environ(os.environ, host=host, port=port, data_dir=data_dir, region=region,
                                     account_id=account_id)
    run(settings, examples, output)


@app.command()
def doctor(
    output: Annotated[str, typer.Option(help="table or json")] = "table",
    port: Annotated[int | None, typer.Option(help="Port to check [default 4566]")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory to check")] = None,
) -> None:
    """Report what works on this machine: runtimes, isolation features, port, data directory."""
    import json

    from lamina.cli.doctor import render, report
    from lamina.config import Settings

    settings = Settings.from_environ(os.environ, port=port, data_dir=data_dir)
    data = report(settings)
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
    else:
        render(data)


_ENDPOINT = typer.Option("--endpoint", help="Lamina's URL [env AWS_ENDPOINT_URL; default http://127.0.0.1:4566]")


@app.command()
def logs(
    function: Annotated[str, typer.Argument(help="Function name")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events")] = False,
    since: Annotated[str, typer.Option(help="How far back: 10m, 24h, 7d or a date")] = "10m",
    pattern: Annotated[str | None, typer.Option("--filter", help="CloudWatch Logs filter pattern")] = None,
    log_group: Annotated[str | None, typer.Option("--log-group", help="Default /aws/lambda/FUNCTION")] = None,
    endpoint: Annotated[str | None, _ENDPOINT] = None,
    region: Annotated[str | None, typer.Option(help="Region [env AWS_REGION; default us-east-1]")] = None,
    output: Annotated[str, typer.Option(
        help="table, or json: one document (with --follow, one JSON object per event and line)")] = "table",
) -> None:
    """Print a function's log events (START/END/REPORT and its output)."""
    _check_output(output)
    from lamina.cli.logs import run

    run(function, follow=follow, since=since, pattern=pattern, endpoint=endpoint, region=region,
        log_group=log_group, output=output)


@app.command()
def metrics(
    function: Annotated[str, typer.Argument(help="Function name")],
    since: Annotated[str, typer.Option(help="How far back: 10m, 24h, 7d or a date")] = "1h",
    period: Annotated[int, typer.Option(help="Seconds per row (60 or a multiple)")] = 60,
    output: Annotated[str, typer.Option(help="table or json")] = "table",
    endpoint: Annotated[str | None, _ENDPOINT] = None,
    region: Annotated[str | None, typer.Option(help="Region [env AWS_REGION; default us-east-1]")] = None,
) -> None:
    """Show a function's invocations, errors, throttles, durations and concurrency."""
    from lamina.cli.metrics import run

    run(function, since=since, period=period, output=output, endpoint=endpoint, region=region)


@app.command()
def cost(
    function: Annotated[str | None, typer.Option(help="Only this function")] = None,
    since: Annotated[str, typer.Option(help="How far back: 24h, 7d, 2w or a date")] = "7d",
    region: Annotated[str | None, typer.Option(help="Only this region")] = None,
    output: Annotated[str, typer.Option(help="table or json")] = "table",
    endpoint: Annotated[str | None, _ENDPOINT] = None,
) -> None:
    """What the invocations would cost on AWS, per function, version and day, and the free tier."""
    from lamina.cli.cost import run

    run(function=function, since=since, region=region, output=output, endpoint=endpoint)


@app.command()
def invoke(
    function: Annotated[str, typer.Argument(help="Function name or ARN")],
    payload: Annotated[str | None, typer.Option(help="The event as JSON [default {}]")] = None,
    event: Annotated[Path | None, typer.Option("--event", "-e", help="A file holding the event; - for stdin")] = None,
    qualifier: Annotated[str | None, typer.Option(help="Version or alias")] = None,
    asynchronous: Annotated[bool, typer.Option("--async", help="InvocationType Event: queue it, print the 202")
                            ] = False,
    tail: Annotated[bool, typer.Option("--tail", help="Show the last 4 KB of log and the REPORT figures")] = False,
    output: Annotated[str, typer.Option(help="table or json")] = "table",
    endpoint: Annotated[str | None, _ENDPOINT] = None,
    region: Annotated[str | None, typer.Option(help="Region [env AWS_REGION; default us-east-1]")] = None,
) -> None:
    """Invoke a function; the result goes to stdout, the log tail and REPORT to stderr (exit 1 on a function
    error, 2 on an API error)."""
    from lamina.cli.invoke import Request, read_payload, run

    request = Request(function, read_payload(payload, event), qualifier=qualifier, asynchronous=asynchronous,
                      tail=tail)
    run(request, output=output, endpoint=endpoint, region=region)


@app.command("generate-event")
def generate_event(
    service: Annotated[str, typer.Argument(help="apigateway, s3, sqs, kinesis, dynamodb, schedule or lex-v2")],
    kind: Annotated[str | None, typer.Argument(
        help="apigateway: http-api|rest; s3: put|delete; the others have one kind [default the first]")] = None,
    region: Annotated[str, typer.Option(help="Region in ARNs and records")] = "us-east-1",
    method: Annotated[str, typer.Option(help="apigateway: HTTP method")] = "GET",
    path: Annotated[str, typer.Option(help="apigateway: path, with ?query if any")] = "/",
    body: Annotated[str | None, typer.Option(help="apigateway, sqs: request or message body")] = None,
    bucket: Annotated[str, typer.Option(help="s3: bucket name")] = "example-bucket",
    key: Annotated[str, typer.Option(help="s3: object key")] = "test/key",
    size: Annotated[int, typer.Option(help="s3 put: object size in bytes")] = 1024,
    queue_arn: Annotated[str | None, typer.Option("--queue-arn", help="sqs: source queue ARN")] = None,
    data: Annotated[str, typer.Option(help="kinesis: record data (base64-encoded in the event)")
                    ] = "Hello, this is a test.",
    stream_arn: Annotated[str | None, typer.Option("--stream-arn", help="kinesis: stream ARN")] = None,
    intent: Annotated[str, typer.Option(help="lex-v2: intent name")] = "OrderFlowers",
    text: Annotated[str, typer.Option(help="lex-v2: what the user said")] = "I would like to order flowers",
    output: Annotated[str, typer.Option(help="json, the default and only format: an event is JSON")] = "json",
) -> None:
    """Print an AWS-shaped sample event as JSON on stdout (--output json is the default and only format)."""
    import json

    if output != "json":
        raise typer.BadParameter("generate-event prints JSON only (--output json)")

    from lamina.cli.events import Options, generate

    options = Options(region=region, method=method, path=path, body=body, bucket=bucket, key=key, size=size,
                      queue_arn=queue_arn, data=data, stream_arn=stream_arn, intent=intent, text=text)
    try:
        sample = generate(service, kind, options)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(json.dumps(sample, indent=2))


_OUTPUT = typer.Option(help="table or json")


def _check_output(output: str) -> None:
    if output not in ("table", "json"):
        raise typer.BadParameter(f"--output is table or json, not {output}")


@app.command()
def deploy(
    path: Annotated[Path, typer.Argument(
        help="Template file, or a folder holding template.yaml / template.json / serverless.yml")] = Path("."),
    stack_name: Annotated[str | None, typer.Option("--stack-name", help="Stack name [default: the folder's name]")
                          ] = None,
    parameter_overrides: Annotated[list[str] | None, typer.Option(
        "--parameter-overrides", help="Template parameters as Key=Value; repeat it or give several in one string")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build and print the plan; change nothing")] = False,
    output: Annotated[str, _OUTPUT] = "table",
    endpoint: Annotated[str | None, _ENDPOINT] = None,
    region: Annotated[str | None, typer.Option(help="Region [env AWS_REGION; default us-east-1]")] = None,
) -> None:
    """Deploy a SAM / CloudFormation template or a serverless.yml: build, plan, apply, print where things are
    (exit 2 when the template, the code, the server or a resource refuses)."""
    _check_output(output)
    from lamina.cli.deploy import DeployRequest, parse_overrides, run_deploy

    request = DeployRequest(path, stack_name, parse_overrides(parameter_overrides or []), dry_run, output)
    run_deploy(request, endpoint=endpoint, region=region)


@app.command()
def delete(
    stack: Annotated[str, typer.Argument(help="Stack name")],
    output: Annotated[str, _OUTPUT] = "table",
    endpoint: Annotated[str | None, _ENDPOINT] = None,
    region: Annotated[str | None, typer.Option(help="Region [env AWS_REGION; default us-east-1]")] = None,
) -> None:
    """Delete every resource a stack made (DeletionPolicy Retain ones stay), then the stack's record."""
    _check_output(output)
    from lamina.cli.deploy import run_delete

    run_delete(stack, output=output, endpoint=endpoint, region=region)


@app.command()
def stacks(
    output: Annotated[str, _OUTPUT] = "table",
    endpoint: Annotated[str | None, _ENDPOINT] = None,
    region: Annotated[str | None, typer.Option(help="Region [env AWS_REGION; default us-east-1]")] = None,
) -> None:
    """List the region's stacks, their status and number of resources."""
    _check_output(output)
    from lamina.cli.stacks import run

    run(output=output, endpoint=endpoint, region=region)


local_app = typer.Typer(help="Run a template without a server: an ephemeral Lamina in this process.",
                        no_args_is_help=True)
app.add_typer(local_app, name="local")

_TEMPLATE = typer.Option("--template", "-t", help="Template file, or a folder holding template.yaml / "
                         "template.json / serverless.yml")
_OVERRIDES = typer.Option("--parameter-overrides", help="Template parameters as Key=Value; repeat it or give several "
                          "in one string")


@local_app.command("invoke")
def local_invoke(
    function: Annotated[str | None, typer.Argument(
        help="Logical id or function name [default: the template's only function]")] = None,
    event: Annotated[Path | None, typer.Option("--event", "-e", help="A file holding the event; - for stdin")] = None,
    payload: Annotated[str | None, typer.Option(help="The event as JSON [default {}]")] = None,
    template: Annotated[Path, _TEMPLATE] = Path("."),
    parameter_overrides: Annotated[list[str] | None, _OVERRIDES] = None,
    output: Annotated[str, _OUTPUT] = "table",
) -> None:
    """Deploy the template into an ephemeral Lamina and invoke one function: the result on stdout, its log
    and REPORT on stderr (exit 1 on a function error, 2 when the template or the invoke is refused)."""
    _check_output(output)
    from lamina.cli.deploy import parse_overrides
    from lamina.cli.invoke import read_payload
    from lamina.cli.local import InvokeOptions, run_invoke

    run_invoke(InvokeOptions(function, read_payload(payload, event), template,
                             parse_overrides(parameter_overrides or []), output))


@local_app.command("start-api")
def local_start_api(
    template: Annotated[Path, _TEMPLATE] = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 3000,
    watch: Annotated[bool, typer.Option("--watch", help="Redeploy changed code or template before the next request")
                     ] = False,
    parameter_overrides: Annotated[list[str] | None, _OVERRIDES] = None,
    output: Annotated[str, typer.Option(help="table, or json: one JSON object per line")] = "table",
) -> None:
    """Deploy the template into an ephemeral Lamina and serve its HTTP APIs at http://HOST:PORT/<path> until
    Ctrl+C (several APIs share the port: the first with a route for the request answers)."""
    _check_output(output)
    from lamina.cli.deploy import parse_overrides
    from lamina.cli.local import ApiOptions, run_start_api

    run_start_api(ApiOptions(template, parse_overrides(parameter_overrides or []), host, port, watch, output))


def main() -> None:
    from lamina.config import SettingsError

    try:
        app()
    except SettingsError as error:  # a LAMINA_* variable or a flag with a value that cannot be used
        typer.echo(f"lamina: {error}", err=True)
        raise SystemExit(2) from None
