"""Event invoke configs: per function and qualifier, how asynchronous invocation retries and where
its outcome goes (PutFunctionEventInvokeConfig).

Kept in memory (the async engine reads one per attempt) and written to the store before the cache,
so a config the API answered survives a restart. Deleting a function deletes its configs.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from lamina.invoker.event_policy import RetryLimits
from lamina.registry.functions import FunctionRegistry
from lamina.store.events import DropConfigs, EventStore, PutConfig
from lamina.types import FunctionKey


@dataclass(frozen=True, slots=True)
class EventInvokeConfig:
    """One function qualifier's config; None means "not set" (AWS's default applies)."""

    region: str
    function_name: str
    qualifier: str
    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = 0.0

    @property
    def limits(self) -> RetryLimits:
        defaults = RetryLimits()
        return RetryLimits(
            defaults.max_retries if self.maximum_retry_attempts is None else self.maximum_retry_attempts,
            defaults.max_age_s if self.maximum_event_age_s is None else self.maximum_event_age_s)

    def replace(self, **changes: Any) -> EventInvokeConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {"maximum_retry_attempts": self.maximum_retry_attempts,
                "maximum_event_age_s": self.maximum_event_age_s, "on_success": self.on_success,
                "on_failure": self.on_failure, "last_modified": self.last_modified}


class EventInvokeConfigs:
    """Every event invoke config of this node. Call from the event loop only."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._configs: dict[tuple[str, str, str], EventInvokeConfig] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self) -> None:
        """Fill the cache from the store (blocking; run it in a worker thread at start)."""
        for region, name, qualifier, data in self._store.load_configs():
            known = {f.name for f in dataclasses.fields(EventInvokeConfig)}
            values = {k: v for k, v in data.items() if k in known}
            self._configs[(region, name, qualifier)] = EventInvokeConfig(region, name, qualifier, **values)

    def watch(self, registry: FunctionRegistry) -> None:
        """Delete a function's configs when the function is deleted."""
        def changed(key: FunctionKey) -> None:
            if registry.find(key.region, key.name) is None and self.of_function(key.region, key.name):
                task = asyncio.get_running_loop().create_task(self.forget_function(key.region, key.name))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        registry.subscribe(changed)

    def get(self, region: str, function_name: str, qualifier: str) -> EventInvokeConfig | None:
        return self._configs.get((region, function_name, qualifier))

    def of_function(self, region: str, function_name: str) -> list[EventInvokeConfig]:
        return sorted((c for (r, n, _), c in self._configs.items() if r == region and n == function_name),
                      key=lambda c: c.qualifier)

    async def put(self, config: EventInvokeConfig) -> None:
        op = PutConfig(config.region, config.function_name, config.qualifier, config.to_json())
        await asyncio.to_thread(self._store.apply, [op])
        self._configs[(config.region, config.function_name, config.qualifier)] = config

    async def delete(self, region: str, function_name: str, qualifier: str) -> None:
        await asyncio.to_thread(self._store.apply, [DropConfigs(region, function_name, qualifier)])
        self._configs.pop((region, function_name, qualifier), None)

    async def forget_function(self, region: str, function_name: str) -> None:
        await asyncio.to_thread(self._store.apply, [DropConfigs(region, function_name)])
        for config in self.of_function(region, function_name):
            self._configs.pop((region, function_name, config.qualifier), None)
