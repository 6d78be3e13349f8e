"""The HTTP edge: one ASGI app on one port for every AWS service and Lamina's own endpoints.

A raw ASGI callable rather than a framework: the invoke path runs through here and a framework's
routing and middleware cost measurable latency (see docs/performance.md). Lamina's own endpoints
live under ``/_lamina/``, a prefix no AWS API uses. HTTP triggers (function URLs, HTTP APIs) are
recognised by host (``*.lambda-url.<region>.localhost``, ``*.execute-api.localhost``) or by path
(``/_lamina/url/``, ``/_lamina/api/``) before the AWS dispatcher sees the request.
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
from lamina.observability import endpoints as observability_endpoints
from lamina.triggers.gateway import responses
from lamina.triggers.gateway.edge import API_PREFIX, URL_PREFIX, Target, target_of
from lamina.triggers.gateway.http import GatewayRequest

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_CODE_PATH = re.compile(r"/_lamina/code/([0-9a-f]{64})\.zip")
_GATEWAY_PREFIXES = (URL_PREFIX, API_PREFIX)


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
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_path = (scope.get("raw_path") or path.encode()).decode("latin-1")
        # HTTP triggers (function URLs, HTTP APIs) by host or path form: one suffix test and one
        # prefix test, so AWS API requests pay nothing more.
        hostname = headers.get("host", "").partition(":")[0]
        if hostname.endswith(".localhost") or path.startswith(_GATEWAY_PREFIXES):
            target = target_of(hostname, raw_path)
            if target is not None:
                await self._gateway(target, scope, receive, send, raw_path, hostname)
                return
        body = await self._body(receive, self._max_body)
        if body is None:
            await _respond(send, 413, [(b"content-type", b"application/json"),
                                       (b"x-amzn-errortype", b"RequestTooLargeException")],
                           json.dumps({"Type": "User", "message": "Request must be smaller than "
                                       f"{self._max_body} bytes."}).encode())
            return
        # Prometheus scrapes /metrics unsigned; a signed request there is an AWS API call (an S3 bucket).
        if path.startswith("/_lamina/") or (path == "/metrics" and "authorization" not in headers):
            await self._internal(path, send, scope["query_string"].decode("latin-1"))
            return
        request = HttpRequest(scope["method"], raw_path, scope["query_string"].decode("latin-1"), headers, body)
        host = headers.get("host") or f"{self.platform.settings.host}:{self.platform.settings.port}"
        settings = self.platform.settings
        response = await self.platform.dispatcher.handle(
            request, default_region=settings.region, account_id=settings.account_id,
            endpoint=f"http://{host}")
        await _respond(send, response.status,
                       [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
                       response.body)

    async def _gateway(self, target: Target, scope: Scope, receive: Receive, send: Send, raw_path: str,
                       hostname: str) -> None:
        """A request for a function URL or an HTTP API (see :mod:`lamina.triggers.gateway.edge`)."""
        gateway = self.platform.gateway
        body = await self._body(receive, gateway.max_body(target))
        if body is None:
            response = gateway.too_large(target)
        else:
            client = scope.get("client")
            request = GatewayRequest(
                scope["method"], target.path, scope["query_string"].decode("latin-1"),
                tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]), body,
                source_ip=client[0] if client else "127.0.0.1", protocol=f"HTTP/{scope.get('http_version', '1.1')}",
                signed_path=raw_path, domain=hostname)
            try:
                response = await gateway.handle(target, request)
            except Exception:
                log.exception("HTTP trigger %s %s failed", target.kind, target.id)
                response = responses.server_error()
        await _respond(send, response.status, [(k.encode(), v.encode()) for k, v in response.headers], response.body)

    async def _body(self, receive: Receive, limit: int) -> bytes | None:
        """The whole request body, or None when it exceeds ``limit`` bytes."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _internal(self, path: str, send: Send, query: str = "") -> None:
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
        platform = self.platform
        answer = await observability_endpoints.handle(platform.telemetry, platform.settings, platform.clock, path,
                                                      query)
        if answer is not None:
            await _respond(send, *answer)
            return
        await _respond(send, 404, [(b"content-type", b"application/json")],
                       json.dumps({"message": f"Not found: {path}"}).encode())


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
