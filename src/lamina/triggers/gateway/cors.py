"""CORS as function URLs and HTTP APIs apply it: the platform answers preflights and decorates answers.

With a CORS configuration (https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html#urls-cors,
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html):

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered by the
  platform without invoking the function. When the origin, the method and every requested header are
  allowed, the answer carries ``Access-Control-Allow-Origin/-Methods/-Headers`` (and ``-Max-Age``,
  ``-Allow-Credentials`` when configured); otherwise it carries none, and the browser refuses.
- Any other request with an allowed ``Origin`` gets ``Access-Control-Allow-Origin`` (and
  ``-Expose-Headers``, ``-Allow-Credentials``); CORS headers the function returned are replaced by
  the configured ones.

Origins match exactly (case-insensitively), ``*`` matches any, and ``https://*.example.com``
matches subdomains. With credentials allowed the origin is echoed, never ``*`` (browsers refuse
``*`` with credentials).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.triggers.gateway.http import GatewayRequest, GatewayResponse

#: AllowMethods values Lambda and API Gateway accept.
METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "*"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ORIGIN = re.compile(r"\*|[a-zA-Z][a-zA-Z0-9+.-]*://(\*\.)?[^\s/*]+")


@dataclass(frozen=True, slots=True)
class Cors:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int | None = None

    @classmethod
    def from_wire(cls, value: Mapping[str, Any]) -> Cors:
        """From the ``Cors`` / ``CorsConfiguration`` wire shape (model member names)."""
        return cls(tuple(value.get("AllowOrigins") or ()), tuple(value.get("AllowMethods") or ()),
                   tuple(value.get("AllowHeaders") or ()), tuple(value.get("ExposeHeaders") or ()),
                   bool(value.get("AllowCredentials", False)), value.get("MaxAge"))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.allow_credentials:
            out["AllowCredentials"] = True
        for member, items in (("AllowHeaders", self.allow_headers), ("AllowMethods", self.allow_methods),
                              ("AllowOrigins", self.allow_origins), ("ExposeHeaders", self.expose_headers)):
            if items:
                out[member] = list(items)
        if self.max_age is not None:
            out["MaxAge"] = self.max_age
        return out


def problem(cors: Cors) -> str | None:
    """Why ``cors`` is not a valid configuration, or None."""
    for method in cors.allow_methods:
        if method.upper() not in METHODS:
            return (f"Invalid value '{method}' in AllowMethods: each must be one of "
                    "GET, PUT, HEAD, POST, PATCH, DELETE, OPTIONS or *")
    for origin in cors.allow_origins:
        if not _ORIGIN.fullmatch(origin):
            return (f"Invalid value '{origin}' in AllowOrigins: each must be * or an origin "
                    "like https://www.example.com (scheme, host and optional port, no path)")
    for member, names in (("AllowHeaders", cors.allow_headers), ("ExposeHeaders", cors.expose_headers)):
        for name in names:
            if not _TOKEN.fullmatch(name):
                return f"Invalid value '{name}' in {member}: header names are HTTP tokens"
    if cors.max_age is not None and not 0 <= cors.max_age <= 86400:
        return "MaxAge must be between 0 and 86400 seconds"
    return None


def is_preflight(request: GatewayRequest) -> bool:
    return (request.method == "OPTIONS" and request.header("origin") is not None
            and request.header("access-control-request-method") is not None)


def preflight(cors: Cors, request: GatewayRequest, status: int) -> GatewayResponse:
    """The platform's answer to a preflight request (``status``: 200 for function URLs, 204 for APIs)."""
    origin = request.header("origin") or ""
    method = (request.header("access-control-request-method") or "").strip().upper()
    requested = [h.strip().lower() for h in (request.header("access-control-request-headers") or "").split(",")
                 if h.strip()]
    response = GatewayResponse(status, [])
    allowed_methods = {m.upper() for m in cors.allow_methods}
    allowed_headers = {h.lower() for h in cors.allow_headers}
    if (not _origin_allowed(cors, origin) or not ("*" in allowed_methods or method in allowed_methods)
            or not ("*" in allowed_headers or all(h in allowed_headers for h in requested))):
        return response
    headers = response.headers
    headers.append(("Access-Control-Allow-Origin", _allow_origin(cors, origin)))
    headers.append(("Access-Control-Allow-Methods", ",".join(cors.allow_methods)))
    if requested or cors.allow_headers:
        headers.append(("Access-Control-Allow-Headers",
                        ",".join(requested) if "*" in allowed_headers and requested else ",".join(cors.allow_headers)))
    if cors.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if cors.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    headers.append(("Vary", "Origin"))
    return response


def decorate(cors: Cors, request: GatewayRequest, response: GatewayResponse) -> None:
    """Replace the function's CORS headers with the configured ones when the origin is allowed."""
    origin = request.header("origin")
    response.headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
    if origin is None or not _origin_allowed(cors, origin):
        return
    response.headers.append(("Access-Control-Allow-Origin", _allow_origin(cors, origin)))
    if cors.expose_headers:
        response.headers.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))
    if cors.allow_credentials:
        response.headers.append(("Access-Control-Allow-Credentials", "true"))


def _allow_origin(cors: Cors, origin: str) -> str:
    if "*" in cors.allow_origins and not cors.allow_credentials:
        return "*"
    return origin


def _origin_allowed(cors: Cors, origin: str) -> bool:
    lowered = origin.lower()
    return any(_origin_matches(pattern.lower(), lowered) for pattern in cors.allow_origins)


def _origin_matches(pattern: str, origin: str) -> bool:
    if pattern in ("*", origin):
        return True
    scheme, sep, host = pattern.partition("://*.")
    if not sep:
        return False
    prefix = f"{scheme}://"
    return origin.startswith(prefix) and origin.endswith("." + host) and len(origin) > len(prefix) + len(host) + 1


def cors_of(value: Mapping[str, Any] | None) -> Cors | None:
    return Cors.from_wire(value) if value else None
