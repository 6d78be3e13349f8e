"""Stopping the server's side of the telemetry process just as that process is wanted: stop()
returns, whatever point the start of the process had reached, and leaves no process behind.

The case of ``turns=0`` hung ``lamina local invoke`` at exit (CI, 2026-11-27): Python 3.11's
``wait_for`` swallowed the cancellation, the process started during stop(), and stop() waited on
its reader, which ends only when the process does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lamina.clock import SystemClock
from lamina.config import Settings
from lamina.observability.link import TelemetryLink
from lamina.store.db import Store


@pytest.mark.parametrize("turns", range(4))
def test_stop_returns_when_the_process_is_wanted_as_it_begins(tmp_path: Path, turns: int) -> None:
    settings = Settings().replace(data_dir=tmp_path, xray_port=-1)
    store = Store(settings.db_url)
    store.migrate()  # the telemetry process opens the platform's database
    store.close()

    async def main() -> None:
        link = TelemetryLink(settings, SystemClock())
        await link.start()
        for _ in range(3):  # the task that starts the process on demand is waiting
            await asyncio.sleep(0)
        # The process is wanted (as by a first invocation or query) just as stop() begins, or a few
        # turns of the loop before: the waiting task must not start a process stop() then waits on.
        link._wanted.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        stopping = asyncio.ensure_future(link.stop())
        done, _ = await asyncio.wait({stopping}, timeout=20)  # asyncio.wait: no cancelling it
        process = link._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
            pytest.fail("the telemetry process was left running")
        assert stopping in done, "stop() did not return"

    asyncio.run(main())
