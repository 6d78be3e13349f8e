"""HTTP APIs (API Gateway v2, protocol HTTP): ``handle(api_id, request) -> response``.

Stages: a request whose first path segment names a stage goes to that stage and is routed on the
rest of the path (``/prod/items/1`` → stage ``prod``, route path ``/items/1``); anything else goes
to the ``$default`` stage, if there is one, with the whole path. ``rawPath`` (2.0) and ``path``
(1.0) keep the stage segment, as API Gateway sends them. Every stage serves the API's current
routes (Lamina deploys on every change, as AutoDeploy does).

Answers of API Gateway itself: DisableExecuteApiEndpoint 403; no stage or route 404
``{"message":"Not Found"}``; an integration naming no function 500; a function error or malformed
response 502; throttled 429; an integration slower than its TimeoutInMillis 503
``{"message":"Service Unavailable"}`` (what HTTP APIs answer;
REST APIs answer 504). Every answer carries ``apigw-requestid``.
"""

from __future__ import annotations

import base64
import random

from lamina.clock import Clock
from lamina.ids import new_request_id
from lamina.triggers.gateway import responses
from lamina.triggers.gateway.cors import decorate, is_preflight, preflight
from lamina.triggers.gateway.events import EventContext, event_v1, event_v2
from lamina.triggers.gateway.http import GatewayRequest, GatewayResponse, json_response
from lamina.triggers.gateway.invoke import Caller, answer, trace_header
from lamina.triggers.gateway.model import DEFAULT_STAGE, HttpApi, Stage
from lamina.triggers.gateway.registry import HttpApiRegistry


def apigw_request_id() -> str:
    """An API Gateway request id (``RL2XYiwjPHcEMEQ=``, base64 of 11 bytes): unique, not secret."""
    return base64.b64encode(random.randbytes(11)).decode()


def stage_for(api: HttpApi, path: str, explicit: str | None = None) -> tuple[Stage | None, str]:
    """The stage a request path reaches and the path routes are matched on."""
    if explicit is not None:
        return api.stages.get(explicit), path
    first, _, rest = path[1:].partition("/")
    if first and first != DEFAULT_STAGE:
        named = api.stages.get(first)
        if named is not None:
            return named, "/" + rest
    return api.stages.get(DEFAULT_STAGE), path


class HttpApiGateway:
    def __init__(self, apis: HttpApiRegistry, caller: Caller, clock: Clock, *, port: int) -> None:
        self._apis = apis
        self._caller = caller
        self._clock = clock
        self._port = port

    async def handle(self, api_id: str, request: GatewayRequest, stage_name: str | None = None) -> GatewayResponse:
        """Answer one request to API ``api_id``; ``stage_name`` when the path form named the stage."""
        request_id = apigw_request_id()
        response = await self._handle(api_id, request, stage_name, request_id)
        response.headers.append(("apigw-requestid", request_id))
        return response

    async def _handle(self, api_id: str, request: GatewayRequest, stage_name: str | None,
                      request_id: str) -> GatewayResponse:
        compiled = self._apis.compiled(api_id)
        if compiled is None:
            return responses.not_found()
        api = compiled.api
        if api.disable_execute_api_endpoint:
            # The default endpoint is switched off (custom domains only): API Gateway answers 403.
            return json_response(403, {"message": "Forbidden"})
        stage, route_path = stage_for(api, request.path, stage_name)
        if stage is None:
            return responses.not_found()
        if api.cors is not None and is_preflight(request):
            return preflight(api.cors, request, 204)
        match = compiled.router.match(request.method, route_path)
        if match is None or match.value.integration is None:
            return responses.not_found()
        target = match.value
        integration = target.integration
        assert integration is not None
        ref = target.function
        fn = self._caller.function(ref) if ref is not None else None
        if fn is None or ref is None:
            return responses.server_error()
        now = self._clock.time()
        trace = request.header("x-amzn-trace-id") or trace_header(now)
        ctx = EventContext(
            account_id=api.account_id, api_id=api.id, domain_name=f"{api.id}.execute-api.localhost",
            request_id=request_id, time=now, trace_header=trace, stage=stage.name, route_key=match.key.text,
            resource_path=match.key.path or match.key.text, path_parameters=match.parameters or None,
            stage_variables=stage.variables or None, port=self._port)
        v1 = integration.payload_format_version == "1.0"
        event = event_v1(request, ctx) if v1 else event_v2(request, ctx)
        outcome = await self._caller.call(fn, event, request_id=new_request_id(), trace=trace,
                                          invoked_arn=ref.arn, timeout_s=integration.timeout_ms / 1000)
        response = answer(outcome, responses.response_v1 if v1 else responses.response_v2)
        if api.cors is not None:
            decorate(api.cors, request, response)
        return response
