"""Aliases: named pointers to a function version, optionally splitting traffic with a second one.

https://docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html. An alias points at one
version and may route a weighted share of invocations to one additional version
(``RoutingConfig.AdditionalVersionWeights``); ``X-Amz-Executed-Version`` tells which ran. Aliases
of a deleted function go with it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from lamina.clock import Clock
from lamina.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.registry.functions import FunctionRegistry
from lamina.registry.model import FunctionVersion
from lamina.store.resources import ALIAS, Resource, Resources
from lamina.types import LATEST, FunctionKey


@dataclass(frozen=True, slots=True)
class Alias:
    region: str
    account_id: str
    function: str
    name: str
    version: str
    description: str = ""
    #: The one additional version and the share of invocations it gets (0.0 to 1.0).
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = ""

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function}:{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {"region": self.region, "account_id": self.account_id, "function": self.function,
                "name": self.name, "version": self.version, "description": self.description,
                "weights": self.weights, "revision_id": self.revision_id}


class AliasRegistry:
    def __init__(self, functions: FunctionRegistry, resources: Resources, clock: Clock) -> None:
        self._functions = functions
        self._resources = resources
        self._clock = clock
        self._aliases: dict[FunctionKey, dict[str, Alias]] = {}
        functions.subscribe(self._on_function_changed)

    def load(self) -> None:
        for item in self._resources.load(ALIAS):
            alias = Alias(**item.document)
            self._aliases.setdefault(FunctionKey(alias.region, alias.function), {})[alias.name] = alias

    # -- reading ---------------------------------------------------------------------------

    def get(self, region: str, function: str, name: str) -> Alias:
        fn = self._functions.get(region, function)
        alias = self._aliases.get(FunctionKey(region, function), {}).get(name)
        if alias is None:
            raise ResourceNotFoundException(f"Alias not found: {fn.arn}:{name}")
        return alias

    def in_function(self, region: str, function: str, version: str | None = None) -> list[Alias]:
        self._functions.get(region, function)
        aliases = self._aliases.get(FunctionKey(region, function), {}).values()
        return sorted((a for a in aliases if version is None or a.version == version), key=lambda a: a.name)

    def referencing(self, region: str, function: str, version: str) -> list[str]:
        """Names of the aliases that route to ``version``."""
        return sorted(a.name for a in self._aliases.get(FunctionKey(region, function), {}).values()
                      if a.version == version or version in a.weights)

    def resolve(self, region: str, function: str, qualifier: str | None,
                route: bool = False) -> tuple[FunctionVersion, Alias | None]:
        """The version a qualifier names: ``$LATEST`` (or none), a version number, or an alias.

        With ``route`` an alias with routing picks its additional version with its weight, as
        invocations do; otherwise the alias's primary version.
        """
        if not qualifier or qualifier == LATEST or qualifier.isdigit():
            return self._functions.get_version(region, function, qualifier or LATEST), None
        alias = self.get(region, function, qualifier)
        version = alias.version
        if route and alias.weights:
            extra, weight = next(iter(alias.weights.items()))
            if random.random() < weight:
                version = extra
        return self._functions.get_version(region, function, version), alias

    # -- writing ---------------------------------------------------------------------------

    async def create(self, region: str, account_id: str, function: str, name: str, version: str,
                     description: str = "", weights: dict[str, float] | None = None) -> Alias:
        key = FunctionKey(region, function)
        fn = self._functions.get(region, function)
        if name in self._aliases.get(key, {}):
            raise ResourceConflictException(f"Alias already exists: {fn.arn}:{name}")
        alias = Alias(region, account_id, function, name, version, description, dict(weights or {}),
                      str(uuid.uuid4()))
        self._check(alias)
        await self._save(alias)
        return alias

    async def update(self, region: str, function: str, name: str, *, version: str | None = None,
                     description: str | None = None, weights: dict[str, float] | None = None,
                     revision_id: str | None = None) -> Alias:
        current = self.get(region, function, name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id")
        changed = replace(current, version=current.version if version is None else version,
                          description=current.description if description is None else description,
                          weights=current.weights if weights is None else dict(weights),
                          revision_id=str(uuid.uuid4()))
        self._check(changed)
        await self._save(changed)
        return changed

    async def delete(self, region: str, function: str, name: str) -> None:
        self._functions.get(region, function)
        self._aliases.get(FunctionKey(region, function), {}).pop(name, None)
        await asyncio.to_thread(self._resources.delete, ALIAS, region, function, name)

    # -- internals -------------------------------------------------------------------------

    def _check(self, alias: Alias) -> None:
        """AWS's rules for an alias's versions and weights."""
        self._functions.get_version(alias.region, alias.function, alias.version)
        if len(alias.weights) > 1:
            raise InvalidParameterValueException(
                "Number of items in AdditionalVersionWeights cannot be greater than 1")
        for version, weight in alias.weights.items():
            if not 0.0 <= weight <= 1.0:
                raise InvalidParameterValueException(
                    f"Invalid weight {weight} for version {version}: weights must be between 0.0 and 1.0")
            if version == alias.version:
                raise InvalidParameterValueException(
                    f"Invalid function version {version}. Function version {version} is already included "
                    "in routing configuration.")
            if version == LATEST or alias.version == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST is not supported for an alias pointing to more than 1 version")
            self._functions.get_version(alias.region, alias.function, version)

    async def _save(self, alias: Alias) -> None:
        await asyncio.to_thread(self._resources.put, Resource(
            ALIAS, alias.region, alias.function, alias.name, alias.to_json(), self._clock.time()))
        self._aliases.setdefault(FunctionKey(alias.region, alias.function), {})[alias.name] = alias

    def _on_function_changed(self, key: FunctionKey) -> None:
        if self._functions.find(key.region, key.name) is None and key in self._aliases:
            del self._aliases[key]
            self._resources.delete(ALIAS, key.region, key.name)
