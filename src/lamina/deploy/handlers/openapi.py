"""Routes of an API definition's ``Body``: OpenAPI 3 (HTTP APIs) or Swagger 2.0 (REST APIs), as SAM writes them.

Each operation carries an ``x-amazon-apigateway-integration`` of type ``aws_proxy`` whose ``uri``
is API Gateway's Lambda invocation URI
(``arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations``).
``x-amazon-apigateway-any-method`` is the ``ANY`` method, and the path ``$default`` the catch-all
route. Only Lambda proxy integrations exist in Lamina; anything else is refused by name, except
the ``mock`` OPTIONS operations SAM adds for REST API CORS, which are skipped (API Gateway answers
those itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.deploy.handlers.base import DeployError
from lamina.triggers.gateway.model import function_ref

ANY_METHOD = "x-amazon-apigateway-any-method"
INTEGRATION = "x-amazon-apigateway-integration"
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", ANY_METHOD})


@dataclass(frozen=True)
class RouteSpec:
    """One route: its key (``GET /items/{id}``, ``ANY /{proxy+}``, ``$default``) and the function
    (ARN, qualified for an alias or version) behind it with the integration's settings."""

    key: str
    function_arn: str
    payload_format_version: str
    timeout_ms: int | None = None

    @property
    def integration(self) -> tuple[str, str, int | None]:
        """What makes two routes share one integration."""
        return self.function_arn, self.payload_format_version, self.timeout_ms


def routes(body: Mapping[str, Any], *, rest: bool, checking: bool = False) -> list[RouteSpec]:
    """The routes of ``body``. REST APIs (``rest``) get payload format 1.0, the REST proxy event.

    ``checking``: the body is not resolved yet (uris are markers); refuse what cannot be served
    and skip routes whose function is not known yet.
    """
    found: list[RouteSpec] = []
    for path, item in (body.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        for method, operation in item.items():
            if method.lower() not in _METHODS or not isinstance(operation, Mapping):
                continue
            spec = _route(str(path), method.lower(), operation, rest=rest, checking=checking)
            if spec is not None:
                found.append(spec)
    return found


def _route(path: str, method: str, operation: Mapping[str, Any], *, rest: bool,
           checking: bool) -> RouteSpec | None:
    where = f"{method.upper()} {path}"
    if operation.get("security"):
        raise DeployError(f"{where} requires authorization (security); Lamina does not enforce authorizers "
                          "yet, so it refuses to serve the route unprotected")
    integration = operation.get(INTEGRATION)
    if not isinstance(integration, Mapping):
        raise DeployError(f"{where} has no {INTEGRATION}; Lamina routes to Lambda proxy integrations only")
    kind = str(integration.get("type", "")).lower()
    if kind == "mock" and method == "options":
        return None
    if kind != "aws_proxy":
        raise DeployError(f"{where}: integration type {kind or '(none)'} is not supported; Lamina serves Lambda "
                          "proxy integrations (aws_proxy)")
    uri = integration.get("uri")
    if checking and not isinstance(uri, str):
        return None
    ref = function_ref(uri) if isinstance(uri, str) else None
    if ref is None:
        raise DeployError(f"{where}: integration uri {uri!r} names no Lambda function")
    verb = "ANY" if method == ANY_METHOD else method.upper()
    key = "$default" if path == "$default" else f"{verb} {path}"
    version = "1.0" if rest else str(integration.get("payloadFormatVersion") or "2.0")
    timeout = integration.get("timeoutInMillis")
    return RouteSpec(key, ref.arn, version, int(timeout) if timeout is not None else None)


def cors(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """``x-amazon-apigateway-cors`` of an OpenAPI body as CreateApi's CorsConfiguration, or None."""
    value = body.get("x-amazon-apigateway-cors")
    if not isinstance(value, Mapping):
        return None
    names = {"allowOrigins": "AllowOrigins", "allowMethods": "AllowMethods", "allowHeaders": "AllowHeaders",
             "exposeHeaders": "ExposeHeaders", "maxAge": "MaxAge", "allowCredentials": "AllowCredentials"}
    return {names[key]: item for key, item in value.items() if key in names}


def title(body: Mapping[str, Any]) -> str | None:
    info = body.get("info")
    name = info.get("title") if isinstance(info, Mapping) else None
    return str(name) if name else None
