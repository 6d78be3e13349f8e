"""Provisioned concurrency: environments initialised before any invocation, per version or alias.

https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html. A configuration names a
published version or an alias (never ``$LATEST``) and a count; Lamina starts that many environments
with ``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``, pins them in the warm pool (never
reaped for idleness), and reports ``IN_PROGRESS`` until they are ready, then ``READY`` (or ``FAILED``
with a reason). Configurations persist and are provisioned again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any

from lamina.clock import Clock
from lamina.errors import AwsError, InvalidParameterValueException
from lamina.invoker.invoker import Invoker
from lamina.registry.aliases import AliasRegistry
from lamina.registry.functions import FunctionRegistry, format_timestamp
from lamina.store.resources import PROVISIONED, Resource, Resources
from lamina.types import LATEST, FunctionKey

log = logging.getLogger(__name__)


class ProvisionedConcurrencyConfigNotFoundException(AwsError):
    """AWS ``ProvisionedConcurrencyConfigNotFoundException`` (HTTP 404)."""

    code = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


@dataclass(frozen=True, slots=True)
class Provisioned:
    region: str
    function: str
    qualifier: str
    requested: int
    available: int = 0
    status: str = "IN_PROGRESS"
    reason: str | None = None
    last_modified: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"region": self.region, "function": self.function, "qualifier": self.qualifier,
                "requested": self.requested, "last_modified": self.last_modified}


class ProvisionedConcurrency:
    def __init__(self, invoker: Invoker, functions: FunctionRegistry, aliases: AliasRegistry,
                 resources: Resources, clock: Clock) -> None:
        self._invoker = invoker
        self._functions = functions
        self._aliases = aliases
        self._resources = resources
        self._clock = clock
        self._configs: dict[tuple[FunctionKey, str], Provisioned] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Load the configurations and provision them again (environments do not survive a restart)."""
        for item in self._resources.load(PROVISIONED):
            config = Provisioned(**item.document)
            self._configs[(FunctionKey(config.region, config.function), config.qualifier)] = config
            self._spawn(config)

    def get(self, region: str, function: str, qualifier: str) -> Provisioned:
        self._functions.get(region, function)
        config = self._configs.get((FunctionKey(region, function), qualifier))
        if config is None:
            raise ProvisionedConcurrencyConfigNotFoundException(
                "No Provisioned Concurrency Config found for this function")
        return config

    def in_function(self, region: str, function: str) -> list[Provisioned]:
        self._functions.get(region, function)
        return sorted((c for (key, _), c in self._configs.items() if key == FunctionKey(region, function)),
                      key=lambda c: c.qualifier)

    async def put(self, region: str, function: str, qualifier: str, count: int) -> Provisioned:
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        self._aliases.resolve(region, function, qualifier)  # the version or alias must exist
        if count < 1:
            raise InvalidParameterValueException("ProvisionedConcurrentExecutions must be at least 1.")
        key = (FunctionKey(region, function), qualifier)
        old = self._configs.get(key)
        if old is not None:
            self._release(old)
        config = Provisioned(region, function, qualifier, count, last_modified=format_timestamp(self._clock.time()))
        await asyncio.to_thread(self._resources.put, Resource(PROVISIONED, region, function, qualifier,
                                                              config.to_json(), self._clock.time()))
        self._configs[key] = config
        self._spawn(config)
        return config

    async def delete(self, region: str, function: str, qualifier: str) -> None:
        config = self.get(region, function, qualifier)
        self._configs.pop((FunctionKey(region, function), qualifier), None)
        self._release(config)
        await asyncio.to_thread(self._resources.delete, PROVISIONED, region, function, qualifier)

    def _release(self, config: Provisioned) -> None:
        try:
            fn = self._aliases.resolve(config.region, config.function, config.qualifier)[0]
        except AwsError:
            return
        self._invoker.unpin(fn)

    def _spawn(self, config: Provisioned) -> None:
        task = asyncio.get_running_loop().create_task(self._provision(config))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _provision(self, config: Provisioned) -> None:
        key = (FunctionKey(config.region, config.function), config.qualifier)
        reason: str | None = None
        try:
            fn = self._aliases.resolve(config.region, config.function, config.qualifier)[0]
            ready = await self._invoker.provision(fn, config.requested)
        except Exception as error:
            log.exception("provisioning %s:%s failed", config.function, config.qualifier)
            ready, reason = 0, str(error)
        else:
            if ready != config.requested:
                reason = f"{config.requested - ready} of {config.requested} environments failed to initialise"
        if self._configs.get(key) is not config:
            return  # replaced or deleted meanwhile
        status = "READY" if ready == config.requested else "FAILED"
        self._configs[key] = replace(config, available=ready, status=status, reason=reason)
