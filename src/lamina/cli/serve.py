"""Running the server: Lamina's HTTP server (:mod:`lamina.httpd`) on uvloop, with a clean shutdown on
SIGINT/SIGTERM: stop accepting, let in-flight requests finish (30 s at most), stop the platform
(environments, zygotes, stores), exit 0.

With ``--examples`` the example templates are deployed once the server listens, in the background
(:class:`lamina.examples.ExampleDeployer`). ``--output json`` prints one JSON line saying where the
server listens instead of the two lines of text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import typer

from lamina import __version__, priority
from lamina.app import Platform
from lamina.config import Settings
from lamina.httpd import HttpServer
from lamina.server import LaminaApp

log = logging.getLogger(__name__)

#: In-flight invocations get this long to finish on SIGINT/SIGTERM; then environments are killed.
GRACE_SECONDS = 30.0


async def _serve(settings: Settings, examples: Path | None, output: str) -> int:
    # First, in the loop's own thread: only this thread is raised (see lamina.priority).
    state, why = priority.raise_to_realtime(settings.realtime)
    log.info("Scheduling (%s): %s", state, why)
    platform = Platform(settings)
    try:
        await platform.start()
    except Exception:
        log.exception("Lamina failed to start")
        await platform.stop()
        return 1
    server = HttpServer(LaminaApp(platform))
    try:
        await server.start(settings.host, settings.port)
    except OSError as error:
        typer.echo(f"Lamina cannot listen on {settings.host}:{settings.port}: {error.strerror or error}", err=True)
        await platform.stop()
        return 1
    # Before saying where it listens: whoever reads that line may signal at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if output == "json":
        typer.echo(json.dumps({"version": __version__, "endpoint": settings.endpoint, "region": settings.region,
                               "accountId": settings.account_id, "dataDir": str(settings.data_dir)}))
    else:
        typer.echo(f"Lamina {__version__} listening on {settings.endpoint} (region {settings.region}, "
                   f"data in {settings.data_dir})")
        typer.echo(f"  export AWS_ENDPOINT_URL={settings.endpoint}")
    sys.stdout.flush()
    deployer = None
    if examples is not None:
        from lamina.examples import ExampleDeployer

        deployer = ExampleDeployer(examples, settings)
        deployer.start()
    await stop.wait()
    if deployer is not None:
        # Asked first, so a deploy the shutdown cuts short is not logged as a failure; joined after the
        # server stopped answering it, which ends its last call.
        deployer.cancel()
    await server.shutdown(GRACE_SECONDS)
    if deployer is not None:
        await asyncio.to_thread(deployer.join)
    await platform.stop()
    return 0


def run(settings: Settings, examples: Path | None = None, output: str = "table") -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step is noise
    import uvloop

    code = uvloop.run(_serve(settings, examples, output))
    if code:
        raise typer.Exit(code)
