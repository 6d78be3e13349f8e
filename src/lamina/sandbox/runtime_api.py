"""The Lambda Runtime API (2018-06-01), served to one execution environment.

Each environment gets its own listener on a loopback port, named in ``AWS_LAMBDA_RUNTIME_API``, so
a request's connection says which environment is asking. The server is a small ``asyncio.Protocol``
over httptools rather than a framework: it sits on the warm-invoke hot path twice per invocation
(``GET next`` and ``POST response``). Routes and headers follow
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Protocol, cast

import httptools

PREFIX = b"/2018-06-01/runtime/"
_REASONS = {200: b"OK", 202: b"Accepted", 400: b"Bad Request", 403: b"Forbidden", 404: b"Not Found",
            405: b"Method Not Allowed", 413: b"Payload Too Large", 500: b"Internal Server Error"}


class Parked(Protocol):
    """A runtime waiting for work: :class:`Reply` here, or a framed channel's (:mod:`.channel`)."""

    @property
    def open(self) -> bool:
        """False once the runtime's connection is gone."""

    def invocation(self, payload: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """Hand the runtime one invocation."""


class RuntimeApiHandler(Protocol):
    """What the environment behind a Runtime API listener must do. Calls arrive on the loop."""

    def on_next(self, reply: Parked) -> None:
        """The runtime is ready for work; answer with ``reply.invocation(...)`` when there is some."""

    def on_response(self, request_id: str, body: bytes) -> int:
        """The handler returned ``body``; answer an HTTP status (202 accepted, 400 unknown id)."""

    def on_error(self, request_id: str, body: bytes, error_type: str) -> int:
        """The handler failed."""

    def on_init_error(self, body: bytes, error_type: str) -> int:
        """Initialisation failed."""


class Reply:
    """The parked answer to one ``GET invocation/next``."""

    __slots__ = ("_connection", "keep_alive")

    def __init__(self, connection: _Connection, keep_alive: bool) -> None:
        self._connection = connection
        self.keep_alive = keep_alive

    @property
    def open(self) -> bool:
        return not self._connection.closed

    def invocation(self, payload: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        # Content-Type is required: awslambdaric crashes on a next-invocation reply without it.
        self._connection.parked = False
        self._connection.send(200, payload, [(b"Content-Type", b"application/json"), *headers],
                              self.keep_alive)


class RuntimeApiServer:
    """One loopback listener; ``address`` is the value of ``AWS_LAMBDA_RUNTIME_API``."""

    def __init__(self, handler: RuntimeApiHandler, max_response_bytes: int) -> None:
        self.handler = handler
        self.max_response_bytes = max_response_bytes
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self.address = ""

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", 0, backlog=16)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        return self.address

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self._connections):
            connection.abort()


class _Connection(asyncio.Protocol):
    """One runtime's connection.

    Answers produced while a read is being handled are written together at its end, and held back
    while this connection has a ``GET next`` parked: a runtime that pipelines ``POST response`` and
    ``GET next`` in one write (Lamina's Python bootstrap does) then gets the 202 and its next
    invocation in one write. Every process wake-up costs tens of microseconds on a small VM; this
    saves two per invocation. Runtimes that wait for the 202 first (awslambdaric) get it at once,
    because their POST arrives alone.
    """

    __slots__ = ("_api", "_body", "_close_after", "_headers", "_out", "_oversized", "_parser", "_reading",
                 "_transport", "_url", "closed", "parked")

    def __init__(self, api: RuntimeApiServer) -> None:
        self._api = api
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._oversized = False
        self.closed = False
        self._out: list[bytes] = []
        self._reading = False
        self._close_after = False
        #: A ``GET next`` of this connection is waiting for an invocation.
        self.parked = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._api._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._api._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._reading = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.send(400, b'{"errorMessage":"malformed request","errorType":"InvalidRequest"}', [], False)
        finally:
            self._reading = False
        if not self.parked:
            self._flush()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._oversized = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        if self._oversized:
            return
        self._body.append(body)
        if sum(map(len, self._body)) > self._api.max_response_bytes:
            self._oversized = True
            self._body = []

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        keep_alive = self._parser.should_keep_alive()
        self._route(method, self._url, keep_alive)

    def _route(self, method: bytes, url: bytes, keep_alive: bool) -> None:
        handler = self._api.handler
        path = url.split(b"?", 1)[0]
        if not path.startswith(PREFIX):
            self._error(404, "Unknown Runtime API path", "InvalidRequest", keep_alive)
            return
        rest = path[len(PREFIX):]
        if rest == b"invocation/next":
            if method != b"GET":
                self._error(405, "Method not allowed", "InvalidRequest", keep_alive)
                return
            self.parked = True
            handler.on_next(Reply(self, keep_alive))
            return
        if method != b"POST":
            self._error(405, "Method not allowed", "InvalidRequest", keep_alive)
            return
        error_type = self._headers.get(b"lambda-runtime-function-error-type", b"").decode("latin-1")
        body = b"".join(self._body)
        if rest == b"init/error":
            self._accepted(handler.on_init_error(body, error_type), keep_alive)
            return
        parts = rest.split(b"/")
        if len(parts) == 3 and parts[0] == b"invocation":
            request_id = parts[1].decode("latin-1")
            if parts[2] == b"response":
                if self._oversized:
                    limit = self._api.max_response_bytes
                    handler.on_error(request_id, json.dumps({
                        "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                                        f"({limit} bytes).",
                        "errorType": "Function.ResponseSizeTooLarge"}).encode(),
                        "Function.ResponseSizeTooLarge")
                    self._error(413, f"Exceeded maximum allowed payload size ({limit} bytes).",
                                "RequestEntityTooLarge", keep_alive)
                    return
                self._accepted(handler.on_response(request_id, body), keep_alive)
                return
            if parts[2] == b"error":
                self._accepted(handler.on_error(request_id, body, error_type), keep_alive)
                return
        self._error(404, "Unknown Runtime API path", "InvalidRequest", keep_alive)

    def _accepted(self, status: int, keep_alive: bool) -> None:
        if status == 202:
            self.send(202, b'{"status":"OK"}', [(b"Content-Type", b"application/json")], keep_alive)
        elif status == 400:
            self._error(400, "Invalid request ID", "InvalidRequestID", keep_alive)
        else:
            self._error(status, "Invalid state transition", "InvalidStateTransition", keep_alive)

    def _error(self, status: int, message: str, error_type: str, keep_alive: bool) -> None:
        body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
        self.send(status, body, [(b"Content-Type", b"application/json")], keep_alive)

    def send(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> None:
        if self._transport is None or self.closed:
            return
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown")),
                b"Content-Length: %d\r\n" % len(body)]
        head.extend(b"%s: %s\r\n" % pair for pair in headers)
        if not keep_alive:
            head.append(b"Connection: close\r\n")
            self._close_after = True
        head.append(b"\r\n")
        # Headers and body in one write: no Nagle stall between them.
        self._out.append(b"".join(head) + body)
        if not self._reading:
            self._flush()

    def _flush(self) -> None:
        if self._out and self._transport is not None and not self.closed:
            self._transport.write(self._out[0] if len(self._out) == 1 else b"".join(self._out))
            self._out.clear()
            if self._close_after:
                self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
