"""Routes and integrations of HTTP APIs: Create/Get/Update/Delete Route(s) and Integration(s).

Lamina serves Lambda proxy integrations (``AWS_PROXY``) with payload format 1.0 or 2.0 and routes
without authorization; anything else is refused with a message saying so rather than accepted and
ignored. Error wording for malformed route keys, duplicate keys, unknown integration ids, payload
format versions and timeouts follows API Gateway's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import BadRequestException, ConflictException, NotFoundException
from lamina.services.apigatewayv2.apis import check_route_key
from lamina.services.apigatewayv2.base import (
    ApiGatewayV2Base,
    integration_shape,
    listing,
    new_id,
    route_shape,
)
from lamina.triggers.gateway.model import HttpApi, Integration, Route, function_ref

_VERSIONS = ("1.0", "2.0")
_TIMEOUT_MIN_MS, _TIMEOUT_MAX_MS = 50, 30_000


def _route(api: HttpApi, route_id: str) -> Route:
    route = api.routes.get(route_id)
    if route is None:
        raise NotFoundException(f"Invalid Route identifier specified {route_id}", fields={"ResourceType": "Route"})
    return route


def _integration(api: HttpApi, integration_id: str) -> Integration:
    integration = api.integrations.get(integration_id)
    if integration is None:
        raise NotFoundException(f"Invalid Integration identifier specified {integration_id}",
                                fields={"ResourceType": "Integration"})
    return integration


def _check_target(api: HttpApi, target: str | None) -> str | None:
    if target is None:
        return None
    ident = target[len("integrations/"):] if target.startswith("integrations/") else None
    if not ident or ident not in api.integrations:
        raise BadRequestException("Invalid Integration identifier specified")
    return target


def _check_unique(api: HttpApi, key: str, route_id: str | None = None) -> None:
    if any(r.key == key and r.id != route_id for r in api.routes.values()):
        raise ConflictException(f"Route with key {key} already exists for this API")


def _check_authorization(params: dict[str, Any]) -> None:
    kind = params.get("AuthorizationType")
    if kind not in (None, "NONE"):
        raise BadRequestException(f"Lamina does not enforce route authorization yet; AuthorizationType {kind} "
                                  "is not supported (use NONE).")


def _integration_fields(params: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Checked integration fields from a Create/UpdateIntegration request."""
    kind = params.get("IntegrationType")
    if kind == "MOCK":
        raise BadRequestException("Integration type MOCK is not supported for HTTP APIs")
    if kind not in (None, "AWS_PROXY"):
        raise BadRequestException(f"Lamina supports Lambda proxy integrations (AWS_PROXY) only; "
                                  f"IntegrationType {kind} is not supported.")
    fields: dict[str, Any] = {}
    uri = params.get("IntegrationUri")
    if uri is not None or creating:
        if not uri or function_ref(uri) is None:
            raise BadRequestException("IntegrationUri must be a Lambda function ARN "
                                      "(arn:aws:lambda:<region>:<account>:function:<name>[:<alias>]) or its "
                                      "API Gateway invocation URI for AWS_PROXY integrations.")
        fields["uri"] = uri
    version = params.get("PayloadFormatVersion")
    if version is not None:
        if version not in _VERSIONS:
            raise BadRequestException(f"Invalid payload format version specified: {version}")
        fields["payload_format_version"] = version
    timeout = params.get("TimeoutInMillis")
    if timeout is not None:
        if not _TIMEOUT_MIN_MS <= timeout <= _TIMEOUT_MAX_MS:
            raise BadRequestException(f"TimeoutInMillis must be between {_TIMEOUT_MIN_MS} and {_TIMEOUT_MAX_MS}")
        fields["timeout_ms"] = timeout
    if "Description" in params:
        fields["description"] = params["Description"]
    return fields


class RoutesApi(ApiGatewayV2Base):
    # -- routes ----------------------------------------------------------------------------

    async def create_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = check_route_key(params["RouteKey"])
        _check_authorization(params)
        route_id = new_id(7)

        def change(api: HttpApi) -> HttpApi:
            _check_unique(api, key)
            route = Route(route_id, key, _check_target(api, params.get("Target")), params.get("OperationName"))
            return api.replace(routes={**api.routes, route.id: route})

        api = await self._change(ctx, params["ApiId"], change)
        return route_shape(api.routes[route_id])

    async def get_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return route_shape(_route(self._api(ctx, params["ApiId"]), params["RouteId"]))

    async def get_routes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api = self._api(ctx, params["ApiId"])
        return listing([route_shape(r) for r in api.routes.values()], params)

    async def update_route(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = check_route_key(params["RouteKey"]) if "RouteKey" in params else None
        _check_authorization(params)

        def change(api: HttpApi) -> HttpApi:
            route = _route(api, params["RouteId"])
            changes: dict[str, Any] = {}
            if key is not None:
                _check_unique(api, key, route.id)
                changes["key"] = key
            if "Target" in params:
                changes["target"] = _check_target(api, params["Target"] or None)
            if "OperationName" in params:
                changes["operation_name"] = params["OperationName"]
            return api.replace(routes={**api.routes, route.id: dataclasses.replace(route, **changes)})

        api = await self._change(ctx, params["ApiId"], change)
        return route_shape(api.routes[params["RouteId"]])

    async def delete_route(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        def change(api: HttpApi) -> HttpApi:
            route = _route(api, params["RouteId"])
            return api.replace(routes={k: v for k, v in api.routes.items() if k != route.id})

        await self._change(ctx, params["ApiId"], change)

    # -- integrations ----------------------------------------------------------------------

    async def create_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fields = _integration_fields(params, creating=True)
        integration = Integration(id=new_id(7), **fields)
        await self._change(ctx, params["ApiId"],
                           lambda api: api.replace(integrations={**api.integrations, integration.id: integration}))
        return integration_shape(integration)

    async def get_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return integration_shape(_integration(self._api(ctx, params["ApiId"]), params["IntegrationId"]))

    async def get_integrations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api = self._api(ctx, params["ApiId"])
        return listing([integration_shape(i) for i in api.integrations.values()], params)

    async def update_integration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fields = _integration_fields(params, creating=False)

        def change(api: HttpApi) -> HttpApi:
            current = _integration(api, params["IntegrationId"])
            updated = dataclasses.replace(current, **fields)
            return api.replace(integrations={**api.integrations, current.id: updated})

        api = await self._change(ctx, params["ApiId"], change)
        return integration_shape(api.integrations[params["IntegrationId"]])

    async def delete_integration(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        def change(api: HttpApi) -> HttpApi:
            integration = _integration(api, params["IntegrationId"])
            users = sorted(r.id for r in api.routes.values() if r.integration_id == integration.id)
            if users:
                raise ConflictException(f"Integration {integration.id} is the target of route(s) "
                                        f"{', '.join(users)}; change or delete them first.")
            return api.replace(integrations={k: v for k, v in api.integrations.items() if k != integration.id})

        await self._change(ctx, params["ApiId"], change)
