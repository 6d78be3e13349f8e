"""HTTP APIs: ``AWS::ApiGatewayV2::Api`` / ``Stage`` / ``Route`` / ``Integration``, and REST APIs
(``AWS::ApiGateway::RestApi`` / ``Deployment`` / ``Stage``) mapped onto HTTP APIs.

An API with a ``Body`` (what SAM generates from ``HttpApi`` and ``Api`` events) gets one
integration per distinct function and one route per path and method; later deploys change only
the routes that differ (see :func:`sync_routes`). An API with ``Target`` is a quick create.

Lamina has no REST API service. A REST API becomes an HTTP API whose integrations use payload
format 1.0, the event shape of REST API Lambda proxy integrations, and each
``AWS::ApiGateway::Stage`` a stage of it (``/Prod/...``). What REST APIs have beyond routing to
functions (API keys, usage plans, request validation, mock integrations) is not served.
``AWS::ApiGateway::Deployment`` is recorded without effect: Lamina serves every change at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from lamina.deploy.handlers import openapi
from lamina.deploy.handlers.base import (
    Applied,
    Context,
    DeployError,
    Handler,
    drop_none,
    ignore_missing,
    tag_dict,
)
from lamina.deploy.handlers.functions import as_int
from lamina.deploy.handlers.openapi import RouteSpec
from lamina.deploy.model import Resource, Stack
from lamina.deploy.state import ResourceState

_DEFAULT_TIMEOUT_MS = 30_000


def _items(call: Any, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated Get* list call of apigatewayv2."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        answer = call(**params, **({"NextToken": token} if token else {}))
        found.extend(answer.get("Items") or ())
        token = answer.get("NextToken")
        if not token:
            return found


def sync_routes(ctx: Context, api_id: str, specs: list[RouteSpec], data: Mapping[str, Any]) -> dict[str, Any]:
    """Make the API's body-defined routes ``specs``; returns the new bookkeeping.

    ``data`` names the route keys and integration ids earlier deploys made from the body: routes
    no longer wanted are deleted, then integrations of ours no route uses. Routes and integrations
    made by separate Route/Integration resources are left alone.
    """
    apigw = ctx.clients.apigatewayv2
    integrations: dict[tuple[str, str, int], str] = {}
    for item in _items(apigw.get_integrations, ApiId=api_id):
        key = (item.get("IntegrationUri", ""), item.get("PayloadFormatVersion", "1.0"),
               int(item.get("TimeoutInMillis", _DEFAULT_TIMEOUT_MS)))
        integrations.setdefault(key, item["IntegrationId"])
    ours = set(data.get("integrations") or ())
    for spec in specs:
        key = (spec.function_arn, spec.payload_format_version, spec.timeout_ms or _DEFAULT_TIMEOUT_MS)
        if key not in integrations:
            made = apigw.create_integration(**drop_none({
                "ApiId": api_id, "IntegrationType": "AWS_PROXY", "IntegrationUri": spec.function_arn,
                "PayloadFormatVersion": spec.payload_format_version, "TimeoutInMillis": spec.timeout_ms}))
            integrations[key] = made["IntegrationId"]
            ours.add(made["IntegrationId"])
    existing = {route["RouteKey"]: route for route in _items(apigw.get_routes, ApiId=api_id)}
    for spec in specs:
        target = "integrations/" + integrations[(spec.function_arn, spec.payload_format_version,
                                                 spec.timeout_ms or _DEFAULT_TIMEOUT_MS)]
        route = existing.get(spec.key)
        if route is None:
            existing[spec.key] = apigw.create_route(ApiId=api_id, RouteKey=spec.key, Target=target)
        elif route.get("Target") != target:
            existing[spec.key] = apigw.update_route(ApiId=api_id, RouteId=route["RouteId"], Target=target)
    wanted = {spec.key for spec in specs}
    for key in data.get("routes") or ():
        if key not in wanted and key in existing:
            ignore_missing(partial(apigw.delete_route, ApiId=api_id, RouteId=existing.pop(key)["RouteId"]))
    used = {str(route.get("Target", "")).removeprefix("integrations/") for route in existing.values()}
    for ident in sorted(ours - used):
        ignore_missing(partial(apigw.delete_integration, ApiId=api_id, IntegrationId=ident))
    return {"routes": sorted(wanted), "integrations": sorted(ours & used)}


def _check_body(resource: Resource, rest: bool) -> None:
    props = resource.properties
    if "BodyS3Location" in props:
        raise DeployError("BodyS3Location is not supported; give the definition inline as Body")
    body = props.get("Body")
    if body is not None:
        if not isinstance(body, Mapping):
            raise DeployError("Body must be an OpenAPI/Swagger object")
        openapi.routes(body, rest=rest, checking=True)


def _api_applied(answer: Mapping[str, Any]) -> Applied:
    api_id = answer["ApiId"]
    return Applied(api_id, {"Ref": api_id, "ApiId": api_id, "ApiEndpoint": answer["ApiEndpoint"],
                            "RootResourceId": api_id})


class HttpApiHandler(Handler):
    type = "AWS::ApiGatewayV2::Api"
    attributes = frozenset({"ApiEndpoint", "ApiId"})

    def check(self, resource: Resource, stack: Stack) -> None:
        protocol = resource.properties.get("ProtocolType", "HTTP")
        if protocol != "HTTP":
            raise DeployError(f"ProtocolType {protocol} is not supported; Lamina implements HTTP APIs")
        _check_body(resource, rest=False)

    def _params(self, ctx: Context, props: Mapping[str, Any]) -> dict[str, Any]:
        body = props.get("Body") or {}
        return drop_none({
            "Name": props.get("Name") or openapi.title(body) or ctx.generated_name(128),
            "Description": props.get("Description"),
            "CorsConfiguration": props.get("CorsConfiguration") or openapi.cors(body),
            "DisableExecuteApiEndpoint": props.get("DisableExecuteApiEndpoint"),
            "Version": props.get("Version")})

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        apigw = ctx.clients.apigatewayv2
        quick = drop_none({"Target": props.get("Target"), "RouteKey": props.get("RouteKey")})
        tags = tag_dict(props.get("Tags"))
        answer = apigw.create_api(ProtocolType="HTTP", **self._params(ctx, props), **quick,
                                  **({"Tags": tags} if tags else {}))
        applied = _api_applied(answer)
        if props.get("Body"):
            ctx.record(applied)
            applied.data = sync_routes(ctx, applied.physical_id, openapi.routes(props["Body"], rest=False), {})
        return applied

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        apigw = ctx.clients.apigatewayv2
        api_id = prior.physical_id
        params = self._params(ctx, props)
        cors = params.pop("CorsConfiguration", None)
        quick = drop_none({"Target": props.get("Target"), "RouteKey": props.get("RouteKey")})
        apigw.update_api(ApiId=api_id, **params, **quick, **({"CorsConfiguration": cors} if cors else {}))
        if cors is None and prior.properties.get("CorsConfiguration") is not None:
            ignore_missing(lambda: apigw.delete_cors_configuration(ApiId=api_id))
        data = dict(prior.data)
        if "Body" in changed:
            data = sync_routes(ctx, api_id, openapi.routes(props.get("Body") or {}, rest=False), prior.data)
        return Applied(api_id, dict(prior.attributes), data)

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.apigatewayv2.delete_api(ApiId=prior.physical_id))


def _variables(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, str]:
    # UpdateStage merges stage variables; an empty value removes one.
    merged = {str(k): "" for k in before or {}}
    merged.update({str(k): str(v) for k, v in (after or {}).items()})
    return merged


class StageHandler(Handler):
    """A stage of an HTTP API (``AWS::ApiGatewayV2::Stage``) or of a REST API mapped onto one
    (``AWS::ApiGateway::Stage``: ``RestApiId``, ``Variables``)."""

    type = "AWS::ApiGatewayV2::Stage"
    replace_on = frozenset({"ApiId", "RestApiId", "StageName"})
    _api_key = "ApiId"
    _variables_key = "StageVariables"

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        api_id, name = str(props[self._api_key]), str(props.get("StageName") or "$default")
        tags = tag_dict(props.get("Tags"))
        ctx.clients.apigatewayv2.create_stage(**drop_none({
            "ApiId": api_id, "StageName": name, "AutoDeploy": props.get("AutoDeploy"),
            "StageVariables": _variables(None, props.get(self._variables_key)) or None,
            "Description": props.get("Description"), "Tags": tags or None}))
        return Applied(name, {"Ref": name}, {"api": api_id})

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        ctx.clients.apigatewayv2.update_stage(**drop_none({
            "ApiId": prior.data["api"], "StageName": prior.physical_id, "AutoDeploy": props.get("AutoDeploy"),
            "StageVariables": _variables(prior.properties.get(self._variables_key), props.get(self._variables_key)),
            "Description": props.get("Description", "")}))
        return Applied(prior.physical_id, dict(prior.attributes), dict(prior.data))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.apigatewayv2.delete_stage(ApiId=prior.data["api"],
                                                                     StageName=prior.physical_id))


class RestStageHandler(StageHandler):
    type = "AWS::ApiGateway::Stage"
    _api_key = "RestApiId"
    _variables_key = "Variables"


class IntegrationHandler(Handler):
    type = "AWS::ApiGatewayV2::Integration"
    replace_on = frozenset({"ApiId"})
    _FIELDS = ("IntegrationType", "IntegrationUri", "PayloadFormatVersion", "TimeoutInMillis", "Description",
               "IntegrationMethod")

    def _fields(self, props: Mapping[str, Any]) -> dict[str, Any]:
        fields = drop_none({key: props.get(key) for key in self._FIELDS})
        if "TimeoutInMillis" in fields:
            fields["TimeoutInMillis"] = as_int(fields["TimeoutInMillis"])
        return fields

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        api_id = str(props["ApiId"])
        ident = ctx.clients.apigatewayv2.create_integration(ApiId=api_id, **self._fields(props))["IntegrationId"]
        return Applied(ident, {"Ref": ident}, {"api": api_id})

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        ctx.clients.apigatewayv2.update_integration(ApiId=prior.data["api"], IntegrationId=prior.physical_id,
                                                    **self._fields(props))
        return Applied(prior.physical_id, dict(prior.attributes), dict(prior.data))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.apigatewayv2.delete_integration(ApiId=prior.data["api"],
                                                                           IntegrationId=prior.physical_id))


class RouteHandler(Handler):
    type = "AWS::ApiGatewayV2::Route"
    replace_on = frozenset({"ApiId"})

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        api_id = str(props["ApiId"])
        ident = ctx.clients.apigatewayv2.create_route(**drop_none({
            "ApiId": api_id, "RouteKey": props["RouteKey"], "Target": props.get("Target"),
            "AuthorizationType": props.get("AuthorizationType"), "OperationName": props.get("OperationName")}
        ))["RouteId"]
        return Applied(ident, {"Ref": ident}, {"api": api_id})

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        ctx.clients.apigatewayv2.update_route(**drop_none({
            "ApiId": prior.data["api"], "RouteId": prior.physical_id, "RouteKey": props["RouteKey"],
            "Target": props.get("Target", ""), "OperationName": props.get("OperationName")}))
        return Applied(prior.physical_id, dict(prior.attributes), dict(prior.data))

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.apigatewayv2.delete_route(ApiId=prior.data["api"],
                                                                     RouteId=prior.physical_id))


class RestApiHandler(Handler):
    """A REST API defined by its ``Body`` (Swagger 2.0 or OpenAPI 3), served as an HTTP API with
    payload format 1.0 integrations (see the module docstring)."""

    type = "AWS::ApiGateway::RestApi"
    attributes = frozenset({"RootResourceId", "ApiEndpoint"})

    def check(self, resource: Resource, stack: Stack) -> None:
        if resource.properties.get("Body") is None and "BodyS3Location" not in resource.properties:
            raise DeployError("a REST API needs its definition as Body (what SAM generates); Lamina does not "
                              "build REST APIs from AWS::ApiGateway::Resource and Method resources")
        _check_body(resource, rest=True)

    def create(self, ctx: Context, props: Mapping[str, Any]) -> Applied:
        body = props["Body"]
        tags = tag_dict(props.get("Tags"))
        answer = ctx.clients.apigatewayv2.create_api(ProtocolType="HTTP", **drop_none({
            "Name": props.get("Name") or openapi.title(body) or ctx.generated_name(128),
            "Description": props.get("Description"), "Tags": tags or None}))
        applied = _api_applied(answer)
        ctx.record(applied)
        applied.data = sync_routes(ctx, applied.physical_id, openapi.routes(body, rest=True), {})
        return applied

    def update(self, ctx: Context, props: Mapping[str, Any], prior: ResourceState,
               changed: frozenset[str]) -> Applied:
        api_id = prior.physical_id
        body = props["Body"]
        ctx.clients.apigatewayv2.update_api(ApiId=api_id, **drop_none({
            "Name": props.get("Name") or openapi.title(body) or ctx.generated_name(128),
            "Description": props.get("Description")}))
        data = sync_routes(ctx, api_id, openapi.routes(body, rest=True), prior.data)
        return Applied(api_id, dict(prior.attributes), data)

    def delete(self, ctx: Context, prior: ResourceState) -> None:
        ignore_missing(lambda: ctx.clients.apigatewayv2.delete_api(ApiId=prior.physical_id))
