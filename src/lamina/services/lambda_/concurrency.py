"""Reserved concurrency: Put/Get/DeleteFunctionConcurrency."""

from __future__ import annotations

from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import (
    InvalidParameterValueException,
)
from lamina.services.lambda_.base import (
    LambdaBase,
    only_latest,
)
from lamina.services.lambda_.shapes import resolve_function
from lamina.types import FunctionKey


class ConcurrencyApi(LambdaBase):
    async def put_function_concurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        region, name, qualifier = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        only_latest(qualifier)
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
        only_latest(qualifier)
        self._registry.get(region, name)
        await self._registry.set_reserved_concurrency(region, name, None)
        self._invoker.gate.set_reserved(FunctionKey(region, name), None)
        return {}

