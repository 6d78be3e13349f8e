"""The HTTP edge: one ASGI app on one port for every AWS service and Lamina's own endpoints.

A raw ASGI callable rather than a framework: the invoke path runs through here and a framework's
routing and middleware cost measurable latency (see docs/performance.md). Lamina's own endpoints
live under ``/_lamina/``, a prefix no AWS API uses.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lamina import __version__
from lamina.app import Platform
from lamina.aws.http import HttpRequest

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_CODE_PATH = re.compile(r"/_lamina/code/([0-9a-f]{64})\.zip")


class LaminaApp:
    """ASGI application over a :class:`Platform`; starts and stops it with the lifespan."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._max_body = platform.settings.limits.create_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.platform.start()
                except Exception as error:
                    log.exception("Lamina failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.platform.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        body = await self._body(receive)
        if body is None:
            await _respond(send, 413, [(b"content-type", b"application/json"),
                                       (b"x-amzn-errortype", b"RequestTooLargeException")],
                           json.dumps({"Type": "User", "message": "Request must be smaller than "
                                       f"{self._max_body} bytes."}).encode())
            return
        if path.startswith("/_lamina/"):
            await self._internal(path, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_path = scope.get("raw_path") or path.encode()
        request = HttpRequest(scope["method"], raw_path.decode("latin-1"),
                              scope["query_string"].decode("latin-1"), headers, body)
        host = headers.get("host") or f"{self.platform.settings.host}:{self.platform.settings.port}"
        settings = self.platform.settings
        response = await self.platform.dispatcher.handle(
            request, default_region=settings.region, account_id=settings.account_id,
            endpoint=f"http://{host}")
        await _respond(send, response.status,
                       [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
                       response.body)

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole request body, or None when it exceeds the largest request any API takes."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _internal(self, path: str, send: Send) -> None:
        if path == "/_lamina/health":
            body = json.dumps({"status": "ok", "version": __version__}).encode()
            await _respond(send, 200, [(b"content-type", b"application/json")], body)
            return
        match = _CODE_PATH.fullmatch(path)
        if match:
            artifact = self.platform.code.get(match[1])
            if artifact is not None:
                data = artifact.zip_path.read_bytes()
                await _respond(send, 200, [(b"content-type", b"application/zip")], data)
                return
        await _respond(send, 404, [(b"content-type", b"application/json")],
                       json.dumps({"message": f"Not found: {path}"}).encode())


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
