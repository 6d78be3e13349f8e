"""Where an HTTP request for a trigger is recognised, on the one port every AWS API shares.

Two ways in for each kind (browsers and curl resolve ``*.localhost`` to the loopback address):

==================  =================================================  ===================================
kind                host form                                          path form (any host)
==================  =================================================  ===================================
function URL        ``<url-id>.lambda-url.<region>.localhost[:port]``  ``/_lamina/url/<url-id>/<path>``
HTTP API            ``<api-id>.execute-api.localhost[:port]``           ``/_lamina/api/<api-id>/<path>``
==================  =================================================  ===================================

In the path form of an API, ``<path>`` is what the host form's path would be (``/prod/items`` for
stage ``prod``); ``/_lamina/api/<api-id>/$default/<path>`` names the ``$default`` stage explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.triggers.gateway import responses
from lamina.triggers.gateway.function_urls import FunctionUrlGateway
from lamina.triggers.gateway.http import GatewayRequest, GatewayResponse
from lamina.triggers.gateway.http_api import HttpApiGateway
from lamina.triggers.gateway.model import DEFAULT_STAGE

URL_PREFIX = "/_lamina/url/"
API_PREFIX = "/_lamina/api/"
#: HTTP APIs take request bodies up to 10 MB
#: (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
HTTP_API_MAX_BODY = 10 * 1024 * 1024
_DEFAULT_SEGMENTS = ("$default", "%24default", "%24DEFAULT")


@dataclass(frozen=True, slots=True)
class Target:
    """A recognised trigger request: ``kind`` ``"url"`` or ``"api"``, the id, and the raw path the
    trigger serves. ``region`` is the host form's region (URLs); ``stage`` a stage the path named."""

    kind: str
    id: str
    path: str
    region: str | None = None
    stage: str | None = None


def target_of(hostname: str, raw_path: str) -> Target | None:
    """The trigger a request is for, or None when it is for the AWS APIs. ``hostname`` has no port."""
    if raw_path.startswith(URL_PREFIX):
        ident, path = _split(raw_path[len(URL_PREFIX):])
        return Target("url", ident, path) if ident else None
    if raw_path.startswith(API_PREFIX):
        ident, path = _split(raw_path[len(API_PREFIX):])
        if not ident:
            return None
        first, _, rest = path[1:].partition("/")
        if first in _DEFAULT_SEGMENTS:
            return Target("api", ident, "/" + rest, stage=DEFAULT_STAGE)
        return Target("api", ident, path)
    parts = hostname.lower().split(".")
    if len(parts) == 4 and parts[1] == "lambda-url" and parts[3] == "localhost":
        return Target("url", parts[0], raw_path or "/", region=parts[2])
    if parts[1:2] == ["execute-api"] and parts[-1] == "localhost" and len(parts) in (3, 4):
        return Target("api", parts[0], raw_path or "/")
    return None


def _split(rest: str) -> tuple[str, str]:
    ident, slash, path = rest.partition("/")
    return ident.lower(), "/" + path if slash else "/"


class Gateway:
    """Every HTTP trigger of the node behind one ``handle``."""

    def __init__(self, urls: FunctionUrlGateway, apis: HttpApiGateway, *, url_max_body: int) -> None:
        self._urls = urls
        self._apis = apis
        self._url_max_body = url_max_body

    def max_body(self, target: Target) -> int:
        """The largest request body ``target`` takes (function URLs: the synchronous payload limit)."""
        return self._url_max_body if target.kind == "url" else HTTP_API_MAX_BODY

    def too_large(self, target: Target) -> GatewayResponse:
        return responses.too_large()

    async def handle(self, target: Target, request: GatewayRequest) -> GatewayResponse:
        if target.kind == "url":
            return await self._urls.handle(target.id, request, target.region)
        return await self._apis.handle(target.id, request, target.stage)
