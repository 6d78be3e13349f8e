"""A framed channel between the platform and Lamina's own Python bootstrap.

The Runtime API is HTTP because every runtime speaks it (awslambdaric, custom ``provided``
runtimes, Node.js), and :mod:`lamina.sandbox.runtime_api` keeps serving it. Lamina's own bootstrap
runs in an environment the zygote forked, and it is handed one end of a Unix socket pair instead:
each warm invocation then costs one frame each way in place of two HTTP requests and two HTTP
responses parsed and built on both sides (docs/performance.md, "Throughput").

A frame is ``kind (1 byte) | header length (u32) | body length (u32) | header | body``, big-endian.
The header is UTF-8 fields separated by NUL bytes.

platform → runtime
    ``I``  an invocation: fields are header names and values, alternating, as the Runtime API's
           ``GET next`` would answer them (lower-case names); the body is the event.
    ``S``  a refused result: fields ``[status, message]`` (the HTTP answer would have been 4xx).
runtime → platform
    ``N``  ready for the next invocation (the Runtime API's ``GET next``).
    ``R``  a result: fields ``[request id, content type, peak]``; the body is the payload.
    ``E``  an invocation error: fields ``[request id, error type, X-Ray cause, peak]``; body as
           POSTed.
    ``X``  an init error: fields ``[error type]``.

``peak`` is the environment's peak memory so far in bytes, decimal, as the bootstrap measured it
(its own peak resident set, and its cgroup's high-water mark when it has one); it may be missing.

The bootstrap sends ``R``/``E`` and ``N`` in one write. The semantics are the Runtime API's: the
same :class:`~lamina.sandbox.runtime_api.RuntimeApiHandler` calls, the same limits.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from collections.abc import Callable
from typing import cast

from lamina.sandbox.runtime_api import RuntimeApiHandler

HEAD = struct.Struct("!cII")
_ACCEPTED = 202
_REFUSALS = {400: "Invalid request ID", 403: "Invalid state transition", 413: "Payload Too Large"}


def frame(kind: bytes, fields: list[bytes], body: bytes = b"") -> bytes:
    """One frame's bytes."""
    header = b"\0".join(fields)
    return HEAD.pack(kind, len(header), len(body)) + header + body


class FramedReply:
    """The parked answer to an ``N`` frame (the framed counterpart of :class:`runtime_api.Reply`)."""

    __slots__ = ("_channel",)

    def __init__(self, channel: FramedChannel) -> None:
        self._channel = channel

    @property
    def open(self) -> bool:
        return not self._channel.closed

    def invocation(self, payload: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        fields: list[bytes] = [b"content-type", b"application/json"]
        for name, value in headers:
            fields.append(name.lower())
            fields.append(value)
        self._channel.write(frame(b"I", fields, payload))


class FramedChannel(asyncio.Protocol):
    """The platform's end of one environment's socket pair."""

    def __init__(self, handler: RuntimeApiHandler, max_response_bytes: int,
                 on_peak: Callable[[int], None] | None = None) -> None:
        self._handler = handler
        self._max = max_response_bytes
        #: Told the peak memory (bytes) a result or error frame carries, before the handler sees it.
        self._on_peak = on_peak
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        #: Body bytes of an oversized frame still to skip, and that frame's header.
        self._skip = 0
        self._skipped: tuple[bytes, list[bytes]] | None = None
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        self.closed = True

    def read_pending(self) -> None:
        """Handle now what the runtime wrote and the event loop has not read yet. Call it once the
        runtime has exited, before deciding what its exit means: the Python bootstrap sends its init
        error and exits without waiting, and the news of the exit can arrive before the frame is read."""
        if self._transport is None or self.closed:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            return
        fd = sock.fileno()
        while not self.closed:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:  # nothing more waiting (the socket is non-blocking), or it is gone
                return
            if not data:
                return
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self._skip:
            taken = min(self._skip, len(data))
            self._skip -= taken
            data = data[taken:]
            if not self._skip:
                self._oversized()
        buffer = self._buffer
        buffer += data
        offset = 0
        size = HEAD.size
        while len(buffer) - offset >= size:
            kind, header_length, body_length = HEAD.unpack_from(buffer, offset)
            if body_length > self._max:
                # A result over the limit: skip it as it streams in, never hold it.
                start = offset + size
                available = len(buffer) - start - header_length
                if available < 0:
                    break  # the header itself is not all here yet
                fields = bytes(buffer[start:start + header_length]).split(b"\0")
                taken = min(available, body_length)
                self._skip = body_length - taken
                self._skipped = (kind, fields)
                offset = start + header_length + taken
                if not self._skip:
                    self._oversized()
                continue
            end = offset + size + header_length + body_length
            if len(buffer) < end:
                break
            start = offset + size
            fields = bytes(buffer[start:start + header_length]).split(b"\0") if header_length else []
            body = bytes(buffer[start + header_length:end])
            offset = end
            self._dispatch(kind, fields, body)
        if offset:
            del buffer[:offset]

    def _dispatch(self, kind: bytes, fields: list[bytes], body: bytes) -> None:
        handler = self._handler
        if kind == b"N":
            handler.on_next(FramedReply(self))
        elif kind == b"R" and fields:
            if len(fields) > 2:
                self._peak(fields[2])
            self._answer(handler.on_response(fields[0].decode("latin-1"), body))
        elif kind == b"E" and fields:
            if len(fields) > 3:
                self._peak(fields[3])
            error_type = fields[1].decode("utf-8", "replace") if len(fields) > 1 else ""
            self._answer(handler.on_error(fields[0].decode("latin-1"), body, error_type))
        elif kind == b"X":
            handler.on_init_error(body, fields[0].decode("utf-8", "replace") if fields else "")
        else:
            self._refuse(400, f"Unknown frame {kind!r}")

    def _peak(self, field: bytes) -> None:
        if field.isdigit() and self._on_peak is not None:
            self._on_peak(int(field))

    def _oversized(self) -> None:
        """The result just skipped was over the limit: the invocation fails as on AWS."""
        assert self._skipped is not None
        kind, fields = self._skipped
        self._skipped = None
        if kind not in (b"R", b"E") or not fields:
            self._refuse(400, "Unknown frame")
            return
        self._handler.on_error(fields[0].decode("latin-1"), json.dumps({
            "errorMessage": f"Response payload size exceeded maximum allowed payload size ({self._max} bytes).",
            "errorType": "Function.ResponseSizeTooLarge"}).encode(), "Function.ResponseSizeTooLarge")
        self._refuse(413, f"Exceeded maximum allowed payload size ({self._max} bytes).")

    def _answer(self, status: int) -> None:
        if status != _ACCEPTED:
            self._refuse(status, _REFUSALS.get(status, "Invalid state transition"))

    def _refuse(self, status: int, message: str) -> None:
        self.write(frame(b"S", [b"%d" % status, message.encode()]))
