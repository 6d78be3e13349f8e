"""What every part of the apigatewayv2 service shares: lookups, wire shapes, ids, pagination."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lamina.aws.protocol import RequestContext
from lamina.clock import Clock
from lamina.config import Settings
from lamina.errors import BadRequestException, NotFoundException
from lamina.triggers.gateway.cors import Cors, problem
from lamina.triggers.gateway.model import HttpApi, Integration, Route, Stage
from lamina.triggers.gateway.registry import HttpApiRegistry

T = TypeVar("T")
_ID_CHARS = string.ascii_lowercase + string.digits


def new_id(length: int) -> str:
    """A random id of lowercase letters and digits (API ids are 10 long, the others 7)."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


class ApiGatewayV2Base:
    def __init__(self, settings: Settings, apis: HttpApiRegistry, clock: Clock) -> None:
        self._settings = settings
        self._apis = apis
        self._clock = clock

    def _api(self, ctx: RequestContext, api_id: str) -> HttpApi:
        api = self._apis.get(api_id)
        if api is None or api.region != ctx.region:
            raise NotFoundException(f"Invalid API identifier specified {ctx.account_id}:{api_id}",
                                    fields={"ResourceType": "Api"})
        return api

    async def _change(self, ctx: RequestContext, api_id: str, change: Callable[[HttpApi], HttpApi]) -> HttpApi:
        """Apply ``change`` to the API atomically (see :meth:`HttpApiRegistry.update`)."""
        self._api(ctx, api_id)
        changed = await self._apis.update(api_id, change)
        if changed is None:
            raise NotFoundException(f"Invalid API identifier specified {ctx.account_id}:{api_id}",
                                    fields={"ResourceType": "Api"})
        return changed

    def _endpoint(self, api: HttpApi) -> str:
        return f"http://{api.id}.execute-api.localhost:{self._settings.port}"


def cors_config(value: dict[str, Any] | None) -> Cors | None:
    if not value:
        return None
    cors = Cors.from_wire(value)
    message = problem(cors)
    if message is not None:
        raise BadRequestException(message)
    return cors


def page(items: Sequence[T], params: dict[str, Any]) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` by MaxResults (a string in this model) and NextToken."""
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["i"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise BadRequestException(f"Invalid NextToken: {token}") from None
    size = 100
    if params.get("MaxResults"):
        try:
            size = int(params["MaxResults"])
        except ValueError:
            raise BadRequestException(f"Invalid MaxResults: {params['MaxResults']}") from None
        if size < 1:
            raise BadRequestException("MaxResults must be a positive number")
    end = start + size
    following = base64.urlsafe_b64encode(json.dumps({"i": end}).encode()).decode() if end < len(items) else None
    return items[start:end], following


def listing(items: Sequence[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    found, following = page(items, params)
    answer: dict[str, Any] = {"Items": list(found)}
    if following:
        answer["NextToken"] = following
    return answer


# -- wire shapes (member names from botocore's apigatewayv2 model) ----------------------------------

def route_shape(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"RouteId": route.id, "RouteKey": route.key, "AuthorizationType": "NONE",
                           "ApiKeyRequired": False}
    if route.target:
        out["Target"] = route.target
    if route.operation_name:
        out["OperationName"] = route.operation_name
    if route.managed:
        out["ApiGatewayManaged"] = True
    return out


def integration_shape(integration: Integration) -> dict[str, Any]:
    out: dict[str, Any] = {
        "IntegrationId": integration.id, "IntegrationType": "AWS_PROXY", "IntegrationUri": integration.uri,
        "IntegrationMethod": "POST", "PayloadFormatVersion": integration.payload_format_version,
        "TimeoutInMillis": integration.timeout_ms, "ConnectionType": "INTERNET",
    }
    if integration.description:
        out["Description"] = integration.description
    if integration.managed:
        out["ApiGatewayManaged"] = True
    return out


def stage_shape(stage: Stage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "StageName": stage.name, "AutoDeploy": stage.auto_deploy, "CreatedDate": stage.created,
        "LastUpdatedDate": stage.updated, "StageVariables": dict(stage.variables),
        "DefaultRouteSettings": {"DetailedMetricsEnabled": False}, "RouteSettings": {}, "Tags": dict(stage.tags),
    }
    if stage.description:
        out["Description"] = stage.description
    if stage.deployment_id:
        out["DeploymentId"] = stage.deployment_id
    if stage.managed:
        out["ApiGatewayManaged"] = True
    return out
