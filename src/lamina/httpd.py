"""Lamina's HTTP/1.1 server: an ``asyncio.Protocol`` over httptools, no ASGI.

Every request the platform serves (the AWS APIs, HTTP triggers, ``/_lamina/``) arrives here, and the
warm Invoke path is most of what the server does, so the transport is the smallest thing that is
correct: one parser per connection, whole request bodies, whole responses with ``Content-Length``
(Lamina never streams), keep-alive and pipelining (requests on one connection are answered in
order), ``Expect: 100-continue``, and a body limit checked from the headers before the body is read.
uvicorn's ASGI cycle cost 38 to 68 µs of CPU per request on this machine (docs/performance.md,
"Throughput"); the measured cost of this server is in the same document.

Contract with the application (:class:`Handler`): ``limit(request)`` is asked once the headers are
in and says how many body bytes the request may carry; ``handle(request)`` answers a complete
request. A body over the limit is answered ``too_large(request)`` at once; the rest of the body is
read and dropped, then the connection is closed. Shutdown (:meth:`HttpServer.shutdown`) stops
accepting, closes idle connections, lets in-flight requests finish (their connections close after
the response), and gives up after a grace period.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httptools

log = logging.getLogger(__name__)

_REASONS = {100: b"Continue", 200: b"OK", 201: b"Created", 202: b"Accepted", 204: b"No Content",
            206: b"Partial Content", 301: b"Moved Permanently", 302: b"Found", 304: b"Not Modified",
            307: b"Temporary Redirect", 308: b"Permanent Redirect", 400: b"Bad Request", 401: b"Unauthorized",
            403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed", 409: b"Conflict",
            410: b"Gone", 411: b"Length Required", 412: b"Precondition Failed", 413: b"Payload Too Large",
            415: b"Unsupported Media Type", 429: b"Too Many Requests", 500: b"Internal Server Error",
            501: b"Not Implemented", 502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout"}
#: Requests parsed ahead of the one being answered before the connection stops reading.
_PIPELINE_DEPTH = 16
#: How far past its limit a refused body is still read (and dropped) before the connection is cut.
_DRAIN_BYTES = 16 << 20
#: A keep-alive connection with no request for this long is closed (swept, not timed per request).
IDLE_SECONDS = 75.0


@dataclass(slots=True)
class Request:
    """One request as it came off the wire.

    ``path`` is the raw (percent-encoded) path without the query, ``query`` the raw query string
    without ``?``, ``headers`` every header line in order with lower-case names.
    """

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    client: str = "127.0.0.1"
    http_version: str = "1.1"
    #: The application's own note about the request, made in ``limit`` and read in ``handle``.
    # Any rather than object: mypyc (lamina.native) cannot resolve ``object`` in a dataclass field.
    note: Any = None

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """Header ``name`` (lower-case) of lines with lower-case names; repeated lines joined with ``,``
    as HTTP allows; None when absent."""
    values = [value for key, value in headers if key == name]
    if not values:
        return None
    return values[0] if len(values) == 1 else ",".join(values)


@dataclass(slots=True)
class Response:
    """A whole response; header names keep their case, and ``Content-Length`` is added here."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class Handler(Protocol):
    """The application behind the server."""

    def limit(self, request: Request) -> int:
        """How many body bytes ``request`` (headers only, no body yet) may carry."""

    def too_large(self, request: Request) -> Response:
        """The answer to a request whose body is over :meth:`limit`."""

    async def handle(self, request: Request) -> Response:
        """Answer a complete request. An exception becomes a logged 500."""


class _Clock:
    """The ``Date`` header, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = 0
        self._value = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = email.utils.formatdate(now, usegmt=True).encode()
        return self._value


_CLOCK = _Clock()


def encode(response: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    """The response's bytes on the wire (status line, headers, body)."""
    body = response.body
    lines = [b"HTTP/1.1 %d %s\r\n" % (response.status, _REASONS.get(response.status, b"Unknown")),
             b"date: %s\r\ncontent-length: %d\r\n" % (_CLOCK.date(), len(body))]
    lines.extend(b"%s: %s\r\n" % (k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers)
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    if not head_only:
        lines.append(body)
    return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._handler = server.handler
        #: Made by the loop, which runs it. asyncio.get_running_loop() per request would cost a
        #: getpid() system call each time (CPython 3.11 checks for a fork on every call).
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = "127.0.0.1"
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._refused = False
        self._pending: Request | None = None
        self._queue: collections.deque[tuple[Request, bool]] = collections.deque()
        self._busy = False
        self._paused = False
        self.closed = False
        self.served = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self._client = peer[0]
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(501, b"Protocol upgrades are not supported")
        except httptools.HttpParserError as error:
            if not self._refused:
                self._fail(400, f"Malformed HTTP request: {error}".encode())

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        request = self._pending = self._request()
        self._limit = self._handler.limit(request)
        for name, value in self._headers:
            if name == "content-length":
                if value.isdigit() and int(value) > self._limit:
                    self._refuse(request)
                    return
            elif name == "expect" and value.lower() == "100-continue" and self._transport is not None:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._refused:
            # Read and drop the rest so closing does not reset the connection under a client that is
            # still sending (it would never see the 413); give up on bodies far over the limit.
            if self._size > self._limit + _DRAIN_BYTES and self._transport is not None:
                self._transport.abort()
                self.closed = True
            return
        if self._size > self._limit:
            self._refuse(self._pending or self._request())
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._refused:
            if self._transport is not None:
                self._transport.close()
                self.closed = True
            return
        request = self._pending or self._request()
        self._pending = None
        request.body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        keep_alive = self._parser.should_keep_alive() and not self._server.closing
        if self._busy:
            self._queue.append((request, keep_alive))
            if len(self._queue) >= _PIPELINE_DEPTH and self._transport is not None and not self._paused:
                self._paused = True
                self._transport.pause_reading()
            return
        self._busy = True
        self._loop.create_task(self._serve(request, keep_alive))

    # answering
    def _request(self) -> Request:
        url = self._url
        question = url.find(b"?")
        if question >= 0:
            path, query = url[:question].decode("latin-1"), url[question + 1:].decode("latin-1")
        else:
            path, query = url.decode("latin-1"), ""
        hash_at = query.find("#")
        if hash_at >= 0:
            query = query[:hash_at]
        return Request(self._parser.get_method().decode("latin-1"), path, query, self._headers, b"",
                       self._client, self._parser.get_http_version())

    async def _serve(self, request: Request, keep_alive: bool) -> None:
        """Answer ``request`` and every request pipelined behind it, in order."""
        server = self._server
        server.in_flight += 1
        try:
            while True:
                try:
                    response = await self._handler.handle(request)
                except Exception:
                    log.exception("%s %s failed", request.method, request.path)
                    response = Response(500, [("content-type", "application/json")],
                                        b'{"message": "Internal server error"}')
                self.served += 1
                keep_alive = keep_alive and not server.closing
                self._write(encode(response, keep_alive, request.method == "HEAD"), keep_alive)
                if not keep_alive or not self._queue or self.closed:
                    break
                request, keep_alive = self._queue.popleft()
                if self._paused and len(self._queue) < _PIPELINE_DEPTH // 2 and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
        finally:
            self._busy = False
            server.in_flight -= 1
            if server.closing and server.in_flight == 0:
                server.drained.set()

    def _write(self, data: bytes, keep_alive: bool) -> None:
        if self._transport is None or self.closed:
            return
        self._transport.write(data)
        if not keep_alive:
            self._transport.close()
            self.closed = True

    def _refuse(self, request: Request) -> None:
        """Answer a body over the limit now; the connection closes once the body has gone by."""
        self._refused = True
        if self._transport is not None and not self.closed:
            self._transport.write(encode(self._handler.too_large(request), False))

    def _fail(self, status: int, message: bytes) -> None:
        self._refused = True
        self._write(encode(Response(status, [("content-type", "text/plain")], message), False), False)

    def close_if_idle(self, served_before: int) -> bool:
        """Close the connection when nothing is in progress and nothing arrived since ``served_before``."""
        if not self._busy and self.served == served_before and self._transport is not None:
            self._transport.close()
            self.closed = True
            return True
        return False


class HttpServer:
    """The listening socket and its connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: set[_Connection] = set()
        self.in_flight = 0
        self.closing = False
        self.drained = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int, backlog: int = 4096) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=backlog,
                                                reuse_address=True)
        self._sweeper = loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        """Close keep-alive connections that served nothing for a whole sweep period."""
        seen: dict[_Connection, int] = {}
        while True:
            await asyncio.sleep(IDLE_SECONDS)
            for connection in list(self.connections):
                before = seen.get(connection)
                if before is not None and connection.close_if_idle(before):
                    continue
                seen[connection] = connection.served
            seen = {c: n for c, n in seen.items() if c in self.connections}

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop accepting, close idle connections, wait up to ``grace_seconds`` for in-flight requests."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_if_idle(connection.served)
        if self.in_flight:
            try:
                await asyncio.wait_for(self.drained.wait(), grace_seconds)
            except TimeoutError:
                log.warning("%d requests still running after %.0f s; stopping anyway", self.in_flight,
                            grace_seconds)
        for connection in list(self.connections):
            if connection._transport is not None:
                connection._transport.close()
