"""Function URLs: Create/Get/Update/Delete/ListFunctionUrlConfig(s).

A URL belongs to the function (no qualifier: ``$LATEST``) or to an alias; published versions cannot
have one (the model's Qualifier pattern excludes them). ``FunctionUrl`` is
``http://<url-id>.lambda-url.<region>.localhost:<port>/``, served by
:mod:`lamina.triggers.gateway`. InvokeMode RESPONSE_STREAM is accepted and served buffered: the whole
response is sent when the function returns.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from lamina.services.lambda_.base import LambdaBase, decode_marker, encode_marker
from lamina.services.lambda_.shapes import resolve_function
from lamina.triggers.gateway.cors import Cors, problem
from lamina.triggers.gateway.model import BUFFERED, FunctionUrl, url_id
from lamina.triggers.gateway.registry import FunctionUrlRegistry
from lamina.types import LATEST

_MISSING = "The resource you requested does not exist."


def _timestamp(epoch: float) -> str:
    """ISO-8601 with microseconds, as Lambda writes CreationTime and LastModifiedTime."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1e6):06d}Z"


def _cors(value: dict[str, Any] | None) -> Cors | None:
    if value is None:
        return None
    cors = Cors.from_wire(value)
    message = problem(cors)
    if message is not None:
        raise InvalidParameterValueException(message)
    return cors


class FunctionUrlsApi(LambdaBase):
    """Takes the other parts' arguments positionally, and the function URL table by keyword."""

    def __init__(self, *parts: Any, function_urls: FunctionUrlRegistry) -> None:
        super().__init__(*parts)
        self._function_urls = function_urls

    def _url_owner(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[str, str, str | None]:
        """``(region, function name, qualifier or None)`` of an existing function or alias."""
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        qualifier = params.get("Qualifier") or qualifier
        if qualifier == LATEST:
            qualifier = None
        if qualifier and qualifier.isdigit():
            raise InvalidParameterValueException(
                "Function URLs can be attached to the function or an alias, not to a published version.")
        arn = f"arn:aws:lambda:{region}:{ctx.account_id}:function:{name}"
        self._function(ctx, {"FunctionName": arn, "Qualifier": qualifier} if qualifier else {"FunctionName": arn})
        return region, name, qualifier

    def _shape(self, url: FunctionUrl, *, modified: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "FunctionUrl": f"http://{url.url_id}.lambda-url.{url.region}.localhost:{self._settings.port}/",
            "FunctionArn": url.function_arn, "AuthType": url.auth_type, "CreationTime": url.created,
            "InvokeMode": url.invoke_mode,
        }
        if url.cors is not None:
            out["Cors"] = url.cors.to_wire()
        if modified:
            out["LastModifiedTime"] = url.modified
        return out

    def _existing(self, ctx: RequestContext, params: dict[str, Any]) -> FunctionUrl:
        region, name, qualifier = self._url_owner(ctx, params)
        url = self._function_urls.get(region, name, qualifier)
        if url is None:
            raise ResourceNotFoundException(_MISSING)
        return url

    async def create_function_url_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cors = _cors(params.get("Cors"))
        region, name, qualifier = self._url_owner(ctx, params)
        existing = self._function_urls.get(region, name, qualifier)
        if existing is not None:
            raise ResourceConflictException(
                f"Failed to create function url config for [functionArn = {existing.function_arn}]. "
                "Error message:  FunctionUrlConfig exists for this Lambda function")
        now = _timestamp(self._function_urls.clock.time())
        url = FunctionUrl(url_id(ctx.account_id, region, name, qualifier), region, ctx.account_id, name, qualifier,
                          params["AuthType"], cors, params.get("InvokeMode") or BUFFERED,
                          now, now)
        await self._function_urls.put(url)
        return self._shape(url, modified=False)

    async def get_function_url_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._shape(self._existing(ctx, params))

    async def update_function_url_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        url = self._existing(ctx, params)
        changes: dict[str, Any] = {"modified": _timestamp(self._function_urls.clock.time())}
        if params.get("AuthType"):
            changes["auth_type"] = params["AuthType"]
        if "Cors" in params:
            changes["cors"] = _cors(params["Cors"])
        if params.get("InvokeMode"):
            changes["invoke_mode"] = params["InvokeMode"]
        updated = dataclasses.replace(url, **changes)
        await self._function_urls.put(updated)
        return self._shape(updated)

    async def delete_function_url_config(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._function_urls.delete(self._existing(ctx, params))

    async def list_function_url_configs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, _ = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        self._registry.get(region, name)
        urls = self._function_urls.in_function(region, name)
        start = decode_marker(params["Marker"]) if params.get("Marker") else 0
        size = params.get("MaxItems") or 50
        answer: dict[str, Any] = {"FunctionUrlConfigs": [self._shape(u) for u in urls[start:start + size]]}
        if start + size < len(urls):
            answer["NextMarker"] = encode_marker(start + size)
        return answer
