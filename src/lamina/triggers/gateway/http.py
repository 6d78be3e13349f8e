"""The HTTP exchange as the gateway sees it: plain values built by the transport, no sockets.

A :class:`GatewayRequest` keeps every header line (a name may repeat: payload 1.0 reports each value,
2.0 joins them with commas), the raw path the trigger serves (the path form's prefix removed) and the
path the client actually requested (what a SigV4 signature covers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from lamina.httpd import header_value

#: Media types whose bodies reach the function as text; anything else (including no Content-Type)
#: is base64-encoded with ``isBase64Encoded: true``, as API Gateway and function URLs deliver
#: binary payloads (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads).
_TEXT_APPLICATION = frozenset({"application/json", "application/javascript", "application/xml",
                               "application/x-javascript", "application/ecmascript"})


# Not frozen, by convention never changed: built per invocation, and frozen costs ~5x to build
# (docs/performance.md, "Late evening: telemetry in its own process").
@dataclass(slots=True)
class GatewayRequest:
    """One HTTP request to a function URL or an HTTP API.

    ``path`` is the raw (percent-encoded) path the trigger serves, ``/`` at least; ``query`` the raw
    query string without ``?``; ``headers`` every header line in order, names lower-cased;
    ``signed_path`` the raw path the client requested (with the ``/_lamina/...`` prefix of the path
    form), which is what a SigV4 signature covers; ``domain`` the host name without the port.
    """

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    signed_path: str = ""
    domain: str = ""

    def header(self, name: str) -> str | None:
        """Header ``name`` (lower-case), repeated lines joined with ``,``; None when absent."""
        return header_value(self.headers, name)


@dataclass(slots=True)
class GatewayResponse:
    """What goes back to the client. Header names keep their case; a name may repeat (Set-Cookie)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


def json_response(status: int, document: object, headers: Sequence[tuple[str, str]] = ()) -> GatewayResponse:
    """A JSON answer of the gateway itself (errors), compact as API Gateway writes them."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return GatewayResponse(status, [("Content-Type", "application/json"), *headers], body)


def joined_headers(request: GatewayRequest) -> dict[str, str]:
    """Headers by (lower-case) name, repeated headers joined with commas."""
    out: dict[str, str] = {}
    for name, value in request.headers:
        if name in out:
            out[name] = f"{out[name]},{value}"
        else:
            out[name] = value
    return out


def multi_headers(request: GatewayRequest) -> dict[str, list[str]]:
    """Payload 1.0 ``multiValueHeaders``: every value of every header, in order."""
    out: dict[str, list[str]] = {}
    for name, value in request.headers:
        out.setdefault(name, []).append(value)
    return out


def query_pairs(query: str) -> list[tuple[str, str]]:
    """Decoded ``(key, value)`` pairs in order; a key without ``=`` has the value ``""``."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote_plus(key) if "%" in key or "+" in key else key,
                      unquote_plus(value) if "%" in value or "+" in value else value))
    return pairs


def is_text(content_type: str | None) -> bool:
    """Whether a body of this Content-Type reaches the function as text rather than base64."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    if media.startswith("text/") or media in _TEXT_APPLICATION:
        return True
    # Structured syntax suffixes (RFC 6839): application/problem+json, application/atom+xml ...
    return media.endswith(("+json", "+xml"))
