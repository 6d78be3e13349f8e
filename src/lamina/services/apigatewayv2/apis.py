"""HTTP APIs: CreateApi (with quick create), GetApi, GetApis, UpdateApi, DeleteApi, DeleteCorsConfiguration.

Quick create (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop.html#http-api-examples.cli.quick-create):
``Target`` (a Lambda function ARN) makes an AWS_PROXY integration with payload format 2.0, a route
(``RouteKey``, else ``$default``) and the ``$default`` stage with AutoDeploy, all marked
``ApiGatewayManaged``; UpdateApi's ``Target`` and ``RouteKey`` then change that route and integration.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import BadRequestException, ConflictException
from lamina.services.apigatewayv2.base import ApiGatewayV2Base, cors_config, listing, new_id
from lamina.triggers.gateway.model import DEFAULT_STAGE, HttpApi, Integration, Route, Stage, function_ref
from lamina.triggers.gateway.routes import DEFAULT, RouteKeyError, parse_route_key

ROUTE_SELECTION = "$request.method $request.path"
_ROUTE_SELECTION_FORMS = (ROUTE_SELECTION, "${request.method} ${request.path}")


def check_route_key(key: str) -> str:
    try:
        parse_route_key(key)
    except RouteKeyError as error:
        raise BadRequestException(str(error)) from None
    return key


def check_target(target: str) -> str:
    if function_ref(target) is None:
        raise BadRequestException(f"Invalid target specified: {target}. Lamina's quick create takes a Lambda "
                                  "function ARN (arn:aws:lambda:<region>:<account>:function:<name>)")
    return target


class ApisApi(ApiGatewayV2Base):
    def _shape(self, api: HttpApi) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ApiEndpoint": self._endpoint(api), "ApiId": api.id, "Name": api.name, "ProtocolType": "HTTP",
            "ApiKeySelectionExpression": "$request.header.x-api-key", "CreatedDate": api.created,
            "DisableExecuteApiEndpoint": api.disable_execute_api_endpoint, "IpAddressType": "ipv4",
            "RouteSelectionExpression": ROUTE_SELECTION, "Tags": dict(api.tags),
        }
        if api.description is not None:
            out["Description"] = api.description
        if api.version is not None:
            out["Version"] = api.version
        if api.cors is not None:
            out["CorsConfiguration"] = api.cors.to_wire()
        return out

    async def create_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params["ProtocolType"] != "HTTP":
            raise BadRequestException(f"Lamina implements HTTP APIs; ProtocolType {params['ProtocolType']} "
                                      "is not supported.")
        _check_selection(params.get("RouteSelectionExpression"))
        if params.get("RouteKey") and not params.get("Target"):
            raise BadRequestException("RouteKey can only be specified together with Target (quick create).")
        now = self._clock.time()
        api = HttpApi(id=self._unused_id(), region=ctx.region, account_id=ctx.account_id, name=params["Name"],
                      created=now, description=params.get("Description"), version=params.get("Version"),
                      cors=cors_config(params.get("CorsConfiguration")), tags=dict(params.get("Tags") or {}),
                      disable_execute_api_endpoint=bool(params.get("DisableExecuteApiEndpoint", False)))
        target = params.get("Target")
        if target:
            integration = Integration(new_id(7), check_target(target), "2.0", managed=True)
            route = Route(new_id(7), check_route_key(params.get("RouteKey") or DEFAULT),
                          f"integrations/{integration.id}", managed=True)
            stage = Stage(DEFAULT_STAGE, now, now, auto_deploy=True, deployment_id=new_id(6), managed=True)
            api = api.replace(quick_create=True, routes={route.id: route},
                              integrations={integration.id: integration}, stages={stage.name: stage})
        return self._shape(await self._apis.create(api))

    async def get_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._shape(self._api(ctx, params["ApiId"]))

    async def get_apis(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return listing([self._shape(api) for api in self._apis.in_region(ctx.region)], params)

    async def update_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _check_selection(params.get("RouteSelectionExpression"))
        cors = cors_config(params.get("CorsConfiguration")) if "CorsConfiguration" in params else None
        target = check_target(params["Target"]) if params.get("Target") else None
        route_key = check_route_key(params["RouteKey"]) if params.get("RouteKey") else None

        def change(api: HttpApi) -> HttpApi:
            changes: dict[str, Any] = {}
            for member, name in (("Name", "name"), ("Description", "description"), ("Version", "version")):
                if member in params:
                    changes[name] = params[member]
            if "DisableExecuteApiEndpoint" in params:
                changes["disable_execute_api_endpoint"] = bool(params["DisableExecuteApiEndpoint"])
            if "CorsConfiguration" in params:
                changes["cors"] = cors
            if target or route_key:
                changes.update(_quick_change(api, target, route_key))
            return api.replace(**changes)

        return self._shape(await self._change(ctx, params["ApiId"], change))

    async def delete_api(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        self._api(ctx, params["ApiId"])
        await self._apis.delete(params["ApiId"])

    async def delete_cors_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._change(ctx, params["ApiId"], lambda api: api.replace(cors=None))

    def _unused_id(self) -> str:
        while True:
            candidate = new_id(10)
            if self._apis.get(candidate) is None:
                return candidate


def _check_selection(expression: str | None) -> None:
    if expression is not None and expression not in _ROUTE_SELECTION_FORMS:
        raise BadRequestException("Only $request.method $request.path is supported for HTTP APIs")


def _quick_change(api: HttpApi, target: str | None, route_key: str | None) -> dict[str, Any]:
    if not api.quick_create:
        raise BadRequestException("Target and RouteKey can only be updated on an API made by quick create.")
    changes: dict[str, Any] = {}
    if target:
        changes["integrations"] = {i.id: dataclasses.replace(i, uri=target) if i.managed else i
                                   for i in api.integrations.values()}
    if route_key:
        if any(r.key == route_key and not r.managed for r in api.routes.values()):
            raise ConflictException(f"Route with key {route_key} already exists for this API")
        changes["routes"] = {r.id: dataclasses.replace(r, key=route_key) if r.managed else r
                             for r in api.routes.values()}
    return changes
