"""Running the server: uvicorn over the raw ASGI app, with a clean shutdown on SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from pathlib import Path
from types import FrameType

import typer
import uvicorn

from lamina import __version__
from lamina.app import Platform
from lamina.config import Settings
from lamina.server import LaminaApp


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, so the process would die of the
    signal; a clean shutdown is a success and exits 0."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def run(settings: Settings, examples: Path | None = None) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step is noise
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
    _Server(config).run()
