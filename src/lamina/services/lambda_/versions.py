"""Versions and aliases: PublishVersion, ListVersionsByFunction, Create/Get/Update/Delete/ListAlias(es)."""

from __future__ import annotations

from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import InvalidParameterValueException
from lamina.registry.aliases import Alias
from lamina.services.lambda_.base import LambdaBase, decode_marker, encode_marker, only_latest
from lamina.services.lambda_.shapes import function_configuration


def alias_configuration(alias: Alias) -> dict[str, Any]:
    answer: dict[str, Any] = {"AliasArn": alias.arn, "Name": alias.name, "FunctionVersion": alias.version,
                              "Description": alias.description, "RevisionId": alias.revision_id}
    if alias.weights:
        answer["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    return answer


def _page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    start = decode_marker(params["Marker"]) if params.get("Marker") else 0
    size = params.get("MaxItems") or 50
    answer: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        answer["NextMarker"] = encode_marker(start + size)
    return answer


def _weights(params: dict[str, Any]) -> dict[str, float] | None:
    routing = params.get("RoutingConfig")
    if routing is None:
        return None
    return {str(k): float(v) for k, v in (routing.get("AdditionalVersionWeights") or {}).items()}


class VersionsApi(LambdaBase):
    async def publish_version(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        only_latest(qualifier)
        self._ensure_updatable(self._registry.get(region, name))
        version = await self._registry.publish(region, name, description=params.get("Description"),
                                               code_sha256=params.get("CodeSha256"),
                                               revision_id=params.get("RevisionId"))
        return function_configuration(version)

    async def list_versions_by_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, _ = self._target(ctx, params)
        # Every entry carries its qualified ARN, $LATEST's too (the API reference's example).
        versions = [{**function_configuration(fn), "FunctionArn": fn.qualified_arn}
                    for fn in self._registry.versions(region, name)]
        return _page(versions, params, "Versions")

    async def create_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        if qualifier:
            raise InvalidParameterValueException("The function name of an alias cannot be qualified.")
        alias = await self._aliases.create(region, ctx.account_id, name, params["Name"], params["FunctionVersion"],
                                           params.get("Description") or "", _weights(params))
        return alias_configuration(alias)

    async def get_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, _ = self._target(ctx, params)
        return alias_configuration(self._aliases.get(region, name, params["Name"]))

    async def update_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, _ = self._target(ctx, params)
        alias = await self._aliases.update(region, name, params["Name"], version=params.get("FunctionVersion"),
                                           description=params.get("Description"), weights=_weights(params),
                                           revision_id=params.get("RevisionId"))
        return alias_configuration(alias)

    async def delete_alias(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, _ = self._target(ctx, params)
        await self._aliases.delete(region, name, params["Name"])
        await self._policies.drop(region, name, params["Name"])
        return {}

    async def list_aliases(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, _ = self._target(ctx, params)
        aliases = self._aliases.in_function(region, name, params.get("FunctionVersion"))
        return _page([alias_configuration(a) for a in aliases], params, "Aliases")
