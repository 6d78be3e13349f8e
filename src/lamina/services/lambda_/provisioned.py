"""Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfig(s)."""

from __future__ import annotations

from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.invoker.provisioned import Provisioned
from lamina.services.lambda_.base import LambdaBase, decode_marker, encode_marker


def provisioned_config(config: Provisioned) -> dict[str, Any]:
    answer: dict[str, Any] = {"RequestedProvisionedConcurrentExecutions": config.requested,
                              "AvailableProvisionedConcurrentExecutions": config.available,
                              "AllocatedProvisionedConcurrentExecutions": config.available,
                              "Status": config.status, "LastModified": config.last_modified}
    if config.reason:
        answer["StatusReason"] = config.reason
    return answer


class ProvisionedApi(LambdaBase):
    async def put_provisioned_concurrency_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        config = await self._provisioned.put(region, name, qualifier or "$LATEST",
                                             params["ProvisionedConcurrentExecutions"])
        return provisioned_config(config)

    async def get_provisioned_concurrency_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        return provisioned_config(self._provisioned.get(region, name, qualifier or "$LATEST"))

    async def delete_provisioned_concurrency_config(self, ctx: RequestContext,
                                                    params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = self._target(ctx, params)
        await self._provisioned.delete(region, name, qualifier or "$LATEST")
        return {}

    async def list_provisioned_concurrency_configs(self, ctx: RequestContext,
                                                   params: dict[str, Any]) -> dict[str, Any]:
        region, name, _ = self._target(ctx, params)
        fn = self._registry.get(region, name)
        items = [{"FunctionArn": f"{fn.arn}:{config.qualifier}", **provisioned_config(config)}
                 for config in self._provisioned.in_function(region, name)]
        start = decode_marker(params["Marker"]) if params.get("Marker") else 0
        size = params.get("MaxItems") or 50
        answer: dict[str, Any] = {"ProvisionedConcurrencyConfigs": items[start:start + size]}
        if start + size < len(items):
            answer["NextMarker"] = encode_marker(start + size)
        return answer
