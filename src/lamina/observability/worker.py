"""The telemetry process: ``python -m lamina.observability.worker SOCKET_FD [XRAY_FD]``.

Started by the server (:class:`~lamina.observability.link.TelemetryLink`) with one end of a socket
pair and, when the X-Ray daemon listener is on, its bound UDP socket. It runs the telemetry engine
(:class:`~lamina.observability.telemetry.Telemetry`: logs, metrics, usage records, traces) and the
CloudWatch Logs and CloudWatch providers, and answers the server's queries; the message format is
in :mod:`lamina.observability.wire`.

It ignores SIGINT and SIGTERM (a Ctrl-C in the terminal reaches the whole process group, and the
server stops it after sending what is pending). It stops, writing everything it holds, when the
server says ``stop`` or when the socket closes: the server is gone, even by SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
from typing import Any

from lamina.clock import SystemClock
from lamina.config import Settings
from lamina.errors import AwsError
from lamina.observability import endpoints, wire
from lamina.observability.invocation import Invocation
from lamina.observability.telemetry import Telemetry
from lamina.services.cloudwatch.provider import CloudWatchProvider
from lamina.services.logs.provider import LogsProvider
from lamina.store.db import Store

log = logging.getLogger("lamina.observability.worker")

GEN0_THRESHOLD = 20_000


class Worker:
    def __init__(self, settings: Settings, writer: asyncio.StreamWriter, xray_socket: socket.socket | None) -> None:
        self._settings = settings
        self._writer = writer
        self._clock = SystemClock()
        self._store = Store(settings.db_url)
        self.telemetry = Telemetry(settings, self._store, self._clock, xray_socket)
        self._providers: dict[str, Any] = {
            "logs": LogsProvider(self.telemetry.logs, self._clock),
            "cloudwatch": CloudWatchProvider(self.telemetry, self._clock),
        }
        self._calls: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader) -> None:
        await self.telemetry.start()
        # What start-up made lives as long as the process: keep collections from scanning it. Batches
        # keep thousands of young objects alive until they are processed; a larger first generation
        # lets most die before a collection looks at them.
        gc.freeze()
        gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
        try:
            while True:
                try:
                    message = await wire.read(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                kind = message[0]
                if kind == "batch":
                    self._batch(message[1], message[2])
                    self.telemetry.async_events(message[3])
                    for now, running in message[4]:
                        self.telemetry.running(now, running)
                elif kind == "call":
                    # Run concurrently (a slow query must not hold up batches), but started now:
                    # everything received before the call is already in the engine.
                    task = asyncio.get_running_loop().create_task(self._call(message[1], message[2], message[3]))
                    self._calls.add(task)
                    task.add_done_callback(self._calls.discard)
                elif kind == "stop":
                    return
        finally:
            if self._calls:
                await asyncio.wait(self._calls)
            await self.telemetry.stop()
            self._store.close()

    def _batch(self, events: list[tuple[Any, ...]], logs: list[tuple[str, str, float, str, str]]) -> None:
        self.telemetry.logs.write_many(logs)
        observe = self.telemetry.observe
        make = Invocation._make
        for row in events:
            observe(make(row))

    async def _call(self, call_id: int, target: str, args: tuple[Any, ...]) -> None:
        try:
            value = await self._run(target, args)
            reply: tuple[Any, ...] = ("reply", call_id, True, value)
        except AwsError as error:
            reply = ("reply", call_id, False, error)
        except Exception as error:
            log.exception("telemetry call %s failed", target)
            reply = ("reply", call_id, None, repr(error))
        try:
            frame = wire.frame(reply)
        except Exception as error:      # an answer that cannot be pickled is a bug: say so, once
            log.exception("telemetry answer to %s could not be sent", target)
            frame = wire.frame(("reply", call_id, None, repr(error)))
        with contextlib.suppress(ConnectionError):
            self._writer.write(frame)
            await self._writer.drain()

    async def _run(self, target: str, args: tuple[Any, ...]) -> Any:
        if target == "provider":
            service, operation, ctx, params = args
            return await getattr(self._providers[service], operation)(ctx, params)
        if target == "endpoint":
            path, query = args
            return await endpoints.handle(self.telemetry, self._settings, self._clock, path, query)
        raise ValueError(f"unknown telemetry call {target!r}")


async def _main(fd: int, xray_fd: int | None) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    first = await wire.read(reader)
    if first[0] != "start" or not isinstance(first[1], Settings):
        raise SystemExit(f"telemetry process: expected the start message, got {first[0]!r}")
    settings = first[1]
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    xray_socket = socket.socket(fileno=xray_fd) if xray_fd is not None else None
    worker = Worker(settings, writer, xray_socket)
    await worker.serve(reader)
    writer.close()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fds = [int(arg) for arg in argv]
    asyncio.run(_main(fds[0], fds[1] if len(fds) > 1 else None))


if __name__ == "__main__":
    main(sys.argv[1:])
