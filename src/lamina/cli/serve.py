"""Running the server: uvicorn over the raw ASGI app, with a clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from lamina import __version__
from lamina.app import Platform
from lamina.config import Settings
from lamina.server import LaminaApp


def run(settings: Settings, examples: Path | None = None) -> None:
    import uvicorn

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    platform = Platform(settings, examples=examples)
    config = uvicorn.Config(
        LaminaApp(platform), host=settings.host, port=settings.port, lifespan="on",
        loop="uvloop", http="httptools", log_level="warning", access_log=False,
        backlog=4096,
        # In-flight invocations get this long to finish on SIGINT/SIGTERM; then environments are killed.
        timeout_graceful_shutdown=30,
    )
    typer.echo(f"Lamina {__version__} listening on {settings.endpoint} (region {settings.region}, "
               f"data in {settings.data_dir})")
    typer.echo(f"  export AWS_ENDPOINT_URL={settings.endpoint}")
    uvicorn.Server(config).run()
