"""A UDP listener that speaks the X-Ray daemon's protocol, so aws-xray-sdk and Powertools Tracer
inside functions can send their segments (``AWS_XRAY_DAEMON_ADDRESS`` points here).

Each datagram is ``{"format": "json", "version": 1}\\n`` followed by one segment or subsegment
document (X-Ray developer guide, "Sending segment documents to the X-Ray daemon"). Documents become
spans of the same trace (X-Ray ids map to OpenTelemetry ids by dropping the dashes); nested
``subsegments`` become child spans; documents still ``in_progress`` are skipped (the SDK sends them
again, complete). The socket is bound when the platform is built, so the port (possibly a free one
picked by the system) is known before any environment starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

from lamina.observability.tracing import SPAN_CLIENT, STATUS_ERROR, STATUS_OK, Span, otel_trace_id

log = logging.getLogger(__name__)
HEADER = b'{"format":"json","version":1}'


def bind(host: str, port: int) -> socket.socket:
    """A bound UDP socket on ``port``; a free port instead when it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError:
        if port == 0:
            sock.close()
            raise
        log.warning("X-Ray daemon port %s:%s is taken; listening on a free port instead", host, port)
        sock.bind((host, 0))
    sock.setblocking(False)
    return sock


def spans_of(datagram: bytes) -> list[Span]:
    """The spans in one datagram; empty for anything that is not a complete segment document."""
    head, _, body = datagram.partition(b"\n")
    try:
        if json.loads(head).get("format") != "json":
            return []
        document = json.loads(body)
    except (ValueError, AttributeError):
        return []
    if not isinstance(document, dict):
        return []
    spans: list[Span] = []
    _convert(document, str(document.get("trace_id", "")), document.get("parent_id"), spans)
    return spans


def _convert(document: dict[str, Any], trace_id: str, parent: Any, spans: list[Span]) -> None:
    if document.get("in_progress") or not trace_id or "id" not in document:
        return
    start = float(document.get("start_time", 0.0))
    end = float(document.get("end_time", start))
    attributes: dict[str, Any] = {"xray.type": document.get("type", "segment")}
    for key, value in (document.get("annotations") or {}).items():
        attributes[f"xray.annotation.{key}"] = value
    if document.get("namespace"):
        attributes["xray.namespace"] = document["namespace"]
    for section in ("http", "aws", "sql"):
        if isinstance(document.get(section), dict):
            attributes[f"xray.{section}"] = json.dumps(document[section], default=str)
    if document.get("metadata"):
        attributes["xray.metadata"] = json.dumps(document["metadata"], default=str)
    failed = bool(document.get("error") or document.get("fault"))
    cause = document.get("cause")
    message = ""
    if isinstance(cause, dict) and cause.get("exceptions"):
        first = cause["exceptions"][0]
        message = f"{first.get('type', '')}: {first.get('message', '')}".strip(": ")
    span = Span(otel_trace_id(trace_id), str(document["id"]), str(parent) if parent else None,
                str(document.get("name", "")), start, end,
                SPAN_CLIENT if document.get("namespace") in ("aws", "remote") else 1, attributes,
                STATUS_ERROR if failed else STATUS_OK, message, origin="xray")
    spans.append(span)
    for child in document.get("subsegments") or ():
        if isinstance(child, dict):
            _convert(child, trace_id, span.span_id, spans)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, sink: Callable[[list[Span]], None]) -> None:
        self._sink = sink

    def datagram_received(self, data: bytes, addr: Any) -> None:
        spans = spans_of(data)
        if spans:
            self._sink(spans)


class XRayListener:
    """Receives segment documents on a pre-bound socket and hands their spans to ``sink``."""

    def __init__(self, sock: socket.socket, sink: Callable[[list[Span]], None]) -> None:
        self._sock = sock
        self._sink = sink
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"{host}:{port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self._sink), sock=self._sock)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        else:
            self._sock.close()
