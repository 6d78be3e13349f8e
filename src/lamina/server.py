"""The HTTP edge: one application on one port for every AWS service and Lamina's own endpoints.

It sits directly behind Lamina's HTTP server (:mod:`lamina.httpd`), not behind ASGI or a framework:
the invoke path runs through here and their routing, middleware and message passing cost measurable
latency (see docs/performance.md). Lamina's own endpoints
live under ``/_lamina/``, a prefix no AWS API uses. HTTP triggers (function URLs, HTTP APIs) are
recognised by host (``*.lambda-url.<region>.localhost``, ``*.execute-api.localhost``) or by path
(``/_lamina/url/``, ``/_lamina/api/``) before the AWS dispatcher sees the request.
"""

from __future__ import annotations

import json
import logging
import re

from lamina import __version__
from lamina.app import Platform
from lamina.aws.http import HttpRequest
from lamina.deploy import endpoints as stack_endpoints
from lamina.httpd import Request, Response
from lamina.triggers.gateway import responses
from lamina.triggers.gateway.edge import API_PREFIX, URL_PREFIX, Target, target_of
from lamina.triggers.gateway.http import GatewayRequest, GatewayResponse

log = logging.getLogger(__name__)

_CODE_PATH = re.compile(r"/_lamina/code/([0-9a-f]{64})\.zip")
_GATEWAY_PREFIXES = (URL_PREFIX, API_PREFIX)
_JSON = ("content-type", "application/json")


class LaminaApp:
    """The application behind :class:`lamina.httpd.HttpServer`: routes each request to an HTTP trigger,
    Lamina's own endpoints or the AWS dispatcher (see :class:`lamina.httpd.Handler` for the contract)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._max_body = platform.settings.limits.create_request_bytes
        settings = platform.settings
        self._default_host = f"{settings.host}:{settings.port}"

    def _target(self, request: Request) -> Target | None:
        """The HTTP trigger a request is for, if any (worked out once, in :meth:`limit`): one suffix
        test and one prefix test, so AWS API requests pay nothing more."""
        if request.note is not None:
            return request.note if isinstance(request.note, Target) else None
        hostname = (request.header("host") or "").partition(":")[0]
        target = None
        if hostname.endswith(".localhost") or request.path.startswith(_GATEWAY_PREFIXES):
            target = target_of(hostname, request.path)
        request.note = target if target is not None else False
        return target

    def limit(self, request: Request) -> int:
        target = self._target(request)
        return self._max_body if target is None else self.platform.gateway.max_body(target)

    def too_large(self, request: Request) -> Response:
        target = self._target(request)
        if target is not None:
            return _from_gateway(self.platform.gateway.too_large(target))
        return Response(413, [_JSON, ("x-amzn-errortype", "RequestTooLargeException")],
                        json.dumps({"Type": "User", "message": "Request must be smaller than "
                                    f"{self._max_body} bytes."}).encode())

    async def handle(self, request: Request) -> Response:
        path = request.path
        target = self._target(request)
        if target is not None:
            return await self._gateway(target, request)
        headers: dict[str, str] = {}
        for name, value in request.headers:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        # Prometheus scrapes /metrics unsigned; a signed request there is an AWS API call (an S3 bucket).
        if path.startswith("/_lamina/") or (path == "/metrics" and "authorization" not in headers):
            return await self._internal(path, request.query, request.method, request.body, headers)
        settings = self.platform.settings
        response = await self.platform.dispatcher.handle(
            HttpRequest(request.method, path, request.query, headers, request.body),
            default_region=settings.region, account_id=settings.account_id,
            endpoint=f"http://{headers.get('host') or self._default_host}")
        return Response(response.status, response.headers, response.body)

    async def _gateway(self, target: Target, request: Request) -> Response:
        """A request for a function URL or an HTTP API (see :mod:`lamina.triggers.gateway.edge`)."""
        hostname = (request.header("host") or "").partition(":")[0]
        gateway_request = GatewayRequest(
            request.method, target.path, request.query, tuple(request.headers), request.body,
            source_ip=request.client, protocol=f"HTTP/{request.http_version}", signed_path=request.path,
            domain=hostname)
        try:
            return _from_gateway(await self.platform.gateway.handle(target, gateway_request))
        except Exception:
            log.exception("HTTP trigger %s %s failed", target.kind, target.id)
            return _from_gateway(responses.server_error())

    async def _internal(self, path: str, query: str = "", method: str = "GET", body: bytes = b"",
                        headers: dict[str, str] | None = None) -> Response:
        if path == "/_lamina/health":
            return Response(200, [_JSON], json.dumps({"status": "ok", "version": __version__}).encode())
        match = _CODE_PATH.fullmatch(path)
        if match:
            artifact = self.platform.code.get(match[1])
            if artifact is not None:
                return Response(200, [("content-type", "application/zip")], artifact.zip_path.read_bytes())
        platform = self.platform
        authenticator = platform.dispatcher.authenticator
        if authenticator is not None and path.startswith(stack_endpoints.PREFIX):
            # Stack records steer what `lamina deploy` and `lamina delete` change: with authentication
            # on they need a signed request, like the AWS APIs.
            refused = authenticator.check(HttpRequest(method, path, query, headers or {}, body))
            if refused is not None:
                return Response(refused.status, [_JSON, ("x-amzn-errortype", refused.code)],
                                 json.dumps({"Type": "User", "message": refused.message}).encode())
        stacks = await stack_endpoints.handle(platform.stacks, platform.settings, platform.clock, method, path, query,
                                              body)
        if stacks is not None:
            return _answer(stacks)
        answer = await platform.telemetry.endpoint(path, query)
        if answer is not None:
            return _answer(answer)
        return Response(404, [_JSON], json.dumps({"message": f"Not found: {path}"}).encode())


def _answer(answer: tuple[int, list[tuple[bytes, bytes]], bytes]) -> Response:
    status, headers, body = answer
    return Response(status, [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers], body)


def _from_gateway(response: GatewayResponse) -> Response:
    return Response(response.status, list(response.headers), response.body)
