"""The Lambda service: one method per operation, wire shapes in, domain calls, wire shapes out.

Operations are named after botocore's lambda model in snake_case; the dispatcher calls them with the
parsed, validated request members and serializes what they return.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.config import Settings
from lamina.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.invoker.invoker import Invoker
from lamina.registry.functions import FunctionRegistry
from lamina.registry.model import Code, FunctionVersion, State
from lamina.services.lambda_.shapes import configuration_changes, function_configuration, resolve_function
from lamina.types import LATEST, FunctionKey, InvocationType

TAIL_BYTES = 4096
_PLACEHOLDER_CODE = Code(sha256="", code_sha256="", size=0)


class LambdaProvider:
    service_name = "lambda"

    def __init__(self, settings: Settings, registry: FunctionRegistry, invoker: Invoker) -> None:
        self._settings = settings
        self._registry = registry
        self._invoker = invoker

    # -- functions -------------------------------------------------------------------------

    async def create_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        if qualifier:
            raise InvalidParameterValueException("Function name cannot contain a qualifier on create.")
        _refuse_unsupported(params)
        code = params["Code"]
        if "ZipFile" not in code:
            raise InvalidParameterValueException(
                "Lamina takes function code as Code.ZipFile; S3 and image sources are not supported yet.")
        for required in ("Runtime", "Handler"):
            if not params.get(required):
                raise InvalidParameterValueException(
                    f"{required} must be set for functions with PackageType Zip.")
        fn = FunctionVersion(region=region, account_id=ctx.account_id, name=name,
                             runtime=params["Runtime"], handler=params["Handler"], role=params["Role"],
                             code=_PLACEHOLDER_CODE, revision_id="", last_modified="")
        fn = fn.replace(**configuration_changes(params), tags=dict(params.get("Tags") or {}))
        created = await self._registry.create(fn, code["ZipFile"])
        return function_configuration(created)

    async def get_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = self._function(ctx, params)
        answer: dict[str, Any] = {
            "Configuration": function_configuration(fn),
            "Code": {"RepositoryType": "S3",
                     "Location": f"{ctx.endpoint}/_lamina/code/{fn.code.sha256}.zip"},
        }
        if fn.tags:
            answer["Tags"] = dict(fn.tags)
        if fn.reserved_concurrency is not None:
            answer["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved_concurrency}
        return answer

    async def get_function_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return function_configuration(self._function(ctx, params))

    async def list_functions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        functions = self._registry.in_region(ctx.region)
        start = 0
        marker = params.get("Marker")
        if marker:
            start = _decode_marker(marker)
        size = params.get("MaxItems") or 50
        page = functions[start:start + size]
        answer: dict[str, Any] = {"Functions": [function_configuration(fn) for fn in page]}
        if start + size < len(functions):
            answer["NextMarker"] = _encode_marker(start + size)
        return answer

    async def update_function_code(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        _only_latest(qualifier)
        if "ZipFile" not in params:
            raise InvalidParameterValueException(
                "Lamina takes function code as ZipFile; S3 and image sources are not supported yet.")
        if params.get("Publish"):
            raise InvalidParameterValueException("Publishing versions is not supported yet.")
        self._ensure_updatable(self._registry.get(region, name))
        fn = await self._registry.update_code(region, name, params["ZipFile"],
                                              revision_id=params.get("RevisionId"),
                                              dry_run=bool(params.get("DryRun")))
        return function_configuration(fn)

    async def update_function_configuration(self, ctx: RequestContext,
                                            params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        _only_latest(qualifier)
        _refuse_unsupported(params)
        self._ensure_updatable(self._registry.get(region, name))
        fn = await self._registry.update_configuration(region, name, configuration_changes(params),
                                                       revision_id=params.get("RevisionId"))
        return function_configuration(fn)

    async def delete_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        qualifier = params.get("Qualifier") or qualifier
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function.")
        if qualifier:
            self._registry.get(region, name)
            raise ResourceNotFoundException(
                f"Function not found: arn:aws:lambda:{region}:{ctx.account_id}:function:{name}:{qualifier}")
        await self._registry.delete(region, name)
        return {"StatusCode": 204}

    async def get_account_settings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limits = self._settings.limits
        functions = self._registry.in_region(ctx.region)
        return {
            "AccountLimit": {
                "TotalCodeSize": limits.code_storage_bytes,
                "CodeSizeUnzipped": limits.code_unzipped_bytes,
                "CodeSizeZipped": limits.code_zip_bytes,
                "ConcurrentExecutions": limits.concurrent_executions,
                "UnreservedConcurrentExecutions": self._invoker.gate.unreserved_limit(ctx.region),
            },
            "AccountUsage": {"TotalCodeSize": sum(fn.code.size for fn in functions),
                             "FunctionCount": len(functions)},
        }

    # -- concurrency -----------------------------------------------------------------------

    async def put_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        _only_latest(qualifier)
        key = FunctionKey(region, name)
        self._registry.get(region, name)
        wanted = params["ReservedConcurrentExecutions"]
        limits = self._settings.limits
        gate = self._invoker.gate
        left = limits.concurrent_executions - gate.reserved_total(region, excluding=key) - wanted
        if left < limits.unreserved_minimum:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{limits.unreserved_minimum}].")
        await self._registry.set_reserved_concurrency(region, name, wanted)
        gate.set_reserved(key, wanted)
        return {"ReservedConcurrentExecutions": wanted}

    async def get_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = self._function(ctx, params)
        if fn.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": fn.reserved_concurrency}

    async def delete_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        _only_latest(qualifier)
        self._registry.get(region, name)
        await self._registry.set_reserved_concurrency(region, name, None)
        self._invoker.gate.set_reserved(FunctionKey(region, name), None)
        return {}

    # -- invoking --------------------------------------------------------------------------

    async def invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn = self._function(ctx, params)
        if fn.state is not State.ACTIVE:
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in the "
                f"following state: {fn.state.value}")
        kind = params.get("InvocationType") or InvocationType.REQUEST_RESPONSE.value
        payload: bytes = params.get("Payload") or b""
        limits = self._settings.limits
        limit = limits.async_payload_bytes if kind == InvocationType.EVENT else limits.sync_payload_bytes
        if len(payload) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        payload = _check_json(payload)
        if kind == InvocationType.DRY_RUN:
            return {"StatusCode": 204}
        if kind == InvocationType.EVENT:
            self._invoker.invoke_event(fn, payload, ctx.request_id)
            return {"StatusCode": 202}
        result = await self._invoker.invoke(
            fn, payload, request_id=ctx.request_id, client_context=_client_context(params.get("ClientContext")),
            trace_header=ctx.request.headers.get("x-amzn-trace-id"))
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": result.payload,
                                  "ExecutedVersion": result.executed_version}
        if result.function_error:
            answer["FunctionError"] = result.function_error
        if params.get("LogType") == "Tail":
            tail = result.log_text.encode()[-TAIL_BYTES:]
            answer["LogResult"] = base64.b64encode(tail).decode()
        return answer

    # -- helpers ---------------------------------------------------------------------------

    def _function(self, ctx: RequestContext, params: dict[str, Any]) -> FunctionVersion:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        qualifier = params.get("Qualifier") or qualifier
        fn = self._registry.get(region, name)
        if qualifier and qualifier != LATEST:
            raise ResourceNotFoundException(f"Function not found: {fn.arn}:{qualifier}")
        return fn

    @staticmethod
    def _ensure_updatable(fn: FunctionVersion) -> None:
        if fn.state not in (State.ACTIVE, State.INACTIVE):
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in the "
                f"following state: {fn.state.value}")


def _only_latest(qualifier: str | None) -> None:
    if qualifier and qualifier != LATEST:
        raise InvalidParameterValueException("Only $LATEST can be updated; published versions are immutable.")


def _refuse_unsupported(params: dict[str, Any]) -> None:
    """Say clearly what Lamina does not do yet instead of ignoring it."""
    if params.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValueException("Lamina runs Zip functions; PackageType Image is not supported.")
    if params.get("Layers"):
        raise InvalidParameterValueException("Layers are not supported by this Lamina version yet.")
    if params.get("FileSystemConfigs"):
        raise InvalidParameterValueException("FileSystemConfigs (EFS) are not supported by Lamina.")


def _check_json(payload: bytes) -> bytes:
    """AWS refuses invoke payloads that are not JSON; an empty payload is the empty object."""
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except ValueError as error:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {error}") from None
    return payload


def _client_context(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object.") from None


def _encode_marker(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode()


def _decode_marker(marker: str) -> int:
    try:
        index = json.loads(base64.urlsafe_b64decode(marker.encode()))["i"]
        if not isinstance(index, int) or index < 0:
            raise ValueError
        return index
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidParameterValueException(f"Invalid Marker: {marker}") from None
