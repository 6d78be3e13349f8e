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
def version() -> None:
    """Print Lamina's version."""
    typer.echo(__version__)


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
        help="Deploy the example functions in this folder at start (skips ones that exist)")] = None,
) -> None:
    """Start the Lamina server."""
    from lamina.cli.serve import run
    from lamina.config import Settings

    settings = Settings.from_environ(os.environ, host=host, port=port, data_dir=data_dir, region=region,
                                     account_id=account_id)
    run(settings, examples)


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


def main() -> None:
    app()
