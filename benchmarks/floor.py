"""The floor: a "hello" application on Lamina's own HTTP server, measured with the same clients.

It is the least a request to ``lamina serve`` (uvloop + :mod:`lamina.httpd`) can cost on this
machine, so "Lamina / floor" says how much the platform adds on top of its HTTP server. The app
reads the request body, like an Invoke does, and answers a small JSON body. ``kind="uvicorn"`` runs
the same app as raw ASGI on uvicorn (uvloop + httptools), the server Lamina used before, for
comparison (``python -m benchmarks.floor`` prints both).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import PYTHON, ROOT, free_port, wait_until
from benchmarks.rawhttp import KeepAliveClient
from lamina.httpd import HttpServer, Request, Response

Message = MutableMapping[str, Any]
BODY = b'{"statusCode": 200, "body": "hello world"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


@dataclass(frozen=True)
class Floor:
    port: int
    pid: int


class _Hello:
    """The floor application for :mod:`lamina.httpd`."""

    def limit(self, request: Request) -> int:
        return 1 << 20

    def too_large(self, request: Request) -> Response:
        return Response(413)

    async def handle(self, request: Request) -> Response:
        return Response(200, [("content-type", "application/json")], BODY)


async def _serve_httpd(port: int) -> None:
    server = HttpServer(_Hello())
    await server.start("127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.shutdown(1)


@contextmanager
def floor_server(kind: str = "httpd") -> Iterator[Floor]:
    """Start the floor app on a free port: on ``lamina.httpd`` (as ``lamina serve``) or ``uvicorn``."""
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="lamina-floor-"))
    if kind == "uvicorn":
        command = [PYTHON, "-m", "uvicorn", "benchmarks.floor:app", "--host", "127.0.0.1", "--port", str(port),
                   "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
                   "--backlog", "4096", "--lifespan", "off"]
    else:
        command = [PYTHON, "-m", "benchmarks.floor", str(port)]
    with open(log_dir / "floor.log", "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")})
        try:
            def up() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"floor server exited: {(log_dir / 'floor.log').read_text()}")
                try:
                    with KeepAliveClient(port, timeout_s=1) as client:
                        return client.request("GET", "/").status == 200
                except OSError:
                    return False

            wait_until(up, 30, "the floor server", interval_s=0.02)
            yield Floor(port, process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    import sys

    import uvloop

    uvloop.run(_serve_httpd(int(sys.argv[1])))
