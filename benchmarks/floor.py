"""The floor: a bare uvicorn raw-ASGI "hello" app, measured with the same clients as Lamina.

It is the least any Python HTTP service on uvicorn (uvloop + httptools, as ``lamina serve`` runs)
can cost on this machine, so "Lamina / floor" says how much the platform adds on top of its HTTP
server. Run as ``python -m uvicorn benchmarks.floor:app``; the app reads the request body, like an
Invoke does, and answers a small JSON body.
"""

from __future__ import annotations

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


@contextmanager
def floor_server() -> Iterator[Floor]:
    """Start the floor app on a free port (uvicorn's settings as ``lamina serve`` uses)."""
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="lamina-floor-"))
    with open(log_dir / "uvicorn.log", "wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "benchmarks.floor:app", "--host", "127.0.0.1", "--port", str(port),
             "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
             "--backlog", "4096", "--lifespan", "off"],
            cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")})
        try:
            def up() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"floor server exited: {(log_dir / 'uvicorn.log').read_text()}")
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
