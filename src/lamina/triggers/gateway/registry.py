"""The in-memory tables of HTTP trigger definitions, written through to the store.

The request path reads them with dict lookups only (:meth:`FunctionUrlRegistry.by_id`,
:meth:`HttpApiRegistry.compiled`); writes persist first (in a worker thread, one at a time) and then
replace the in-memory value, so a failed write changes nothing and readers never see a half-made
change. An HTTP API's router is compiled once per change, not per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lamina.clock import Clock
from lamina.registry.functions import FunctionRegistry
from lamina.store.gateway import GatewayStore
from lamina.triggers.gateway.model import FunctionRef, FunctionUrl, HttpApi, Integration, Route, function_ref
from lamina.triggers.gateway.routes import Router, parse_route_key
from lamina.types import FunctionKey

log = logging.getLogger(__name__)


class FunctionUrlRegistry:
    """Function URL configurations, by function and qualifier and by url id. A function's URLs go
    when the function does."""

    def __init__(self, store: GatewayStore, clock: Clock, functions: FunctionRegistry) -> None:
        self._store = store
        #: The time configurations are stamped with.
        self.clock = clock
        self._functions = functions
        self._by_id: dict[str, FunctionUrl] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        functions.subscribe(self._on_function_changed)

    def load(self) -> None:
        """Read every configuration from the store (at start, before serving)."""
        for doc in self._store.load_function_urls():
            url = FunctionUrl.from_doc(doc)
            self._by_id[url.url_id] = url

    def by_id(self, url_id: str) -> FunctionUrl | None:
        return self._by_id.get(url_id)

    def in_function(self, region: str, function_name: str) -> list[FunctionUrl]:
        found = [u for u in self._by_id.values() if u.region == region and u.function_name == function_name]
        return sorted(found, key=lambda u: (u.qualifier or "", u.created))

    def get(self, region: str, function_name: str, qualifier: str | None) -> FunctionUrl | None:
        for url in self.in_function(region, function_name):
            if url.qualifier == qualifier:
                return url
        return None

    async def put(self, url: FunctionUrl) -> None:
        async with self._lock:
            await asyncio.to_thread(self._store.put_function_url, url.region, url.function_name,
                                    url.qualifier or "", url.url_id, url.to_doc())
            self._by_id[url.url_id] = url

    async def delete(self, url: FunctionUrl) -> None:
        async with self._lock:
            await asyncio.to_thread(self._store.delete_function_urls, url.region, url.function_name,
                                    url.qualifier or "")
            self._by_id.pop(url.url_id, None)

    def _on_function_changed(self, key: FunctionKey) -> None:
        """Drop a deleted function's URLs now; the rows go in the background (AWS deletes them with
        the function)."""
        if self._functions.find(key.region, key.name) is not None:
            return
        gone = [u for u in self._by_id.values() if u.region == key.region and u.function_name == key.name]
        if not gone:
            return
        for url in gone:
            self._by_id.pop(url.url_id, None)
        task = asyncio.get_running_loop().create_task(self._forget(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forget(self, key: FunctionKey) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(self._store.delete_function_urls, key.region, key.name)
            except Exception:
                log.exception("could not delete the function URLs of %s/%s", key.region, key.name)


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """What a matched route leads to: its integration and the function that integration invokes
    (None when the route has no integration or the integration's URI names no function)."""

    route: Route
    integration: Integration | None
    function: FunctionRef | None


@dataclass(frozen=True, slots=True)
class CompiledApi:
    api: HttpApi
    router: Router[RouteTarget]


def compile_api(api: HttpApi) -> CompiledApi:
    entries = []
    for route in api.routes.values():
        integration = api.integrations.get(route.integration_id or "")
        target = RouteTarget(route, integration, function_ref(integration.uri) if integration else None)
        entries.append((parse_route_key(route.key), target))
    return CompiledApi(api, Router(entries))


class HttpApiRegistry:
    """HTTP APIs by id, each with its compiled router."""

    def __init__(self, store: GatewayStore) -> None:
        self._store = store
        self._apis: dict[str, CompiledApi] = {}
        self._lock = asyncio.Lock()

    def load(self) -> None:
        for stored in self._store.load_apis():
            api = HttpApi.from_doc(stored.document)
            self._apis[api.id] = compile_api(api)

    def compiled(self, api_id: str) -> CompiledApi | None:
        return self._apis.get(api_id)

    def get(self, api_id: str) -> HttpApi | None:
        found = self._apis.get(api_id)
        return found.api if found is not None else None

    def in_region(self, region: str) -> list[HttpApi]:
        return sorted((c.api for c in self._apis.values() if c.api.region == region), key=lambda a: a.created)

    async def create(self, api: HttpApi) -> HttpApi:
        async with self._lock:
            await self._save(api)
        return api

    async def update(self, api_id: str, change: Callable[[HttpApi], HttpApi]) -> HttpApi | None:
        """Apply ``change`` to the current API and save the result, atomically with respect to other
        writes. None when there is no such API; whatever ``change`` raises propagates, and then
        nothing changes."""
        async with self._lock:
            current = self._apis.get(api_id)
            if current is None:
                return None
            changed = change(current.api)
            await self._save(changed)
            return changed

    async def delete(self, api_id: str) -> bool:
        async with self._lock:
            if api_id not in self._apis:
                return False
            await asyncio.to_thread(self._store.delete_api, api_id)
            del self._apis[api_id]
            return True

    async def _save(self, api: HttpApi) -> None:
        compiled = compile_api(api)  # before writing: a route key that does not parse changes nothing
        await asyncio.to_thread(self._store.put_api, api.id, api.region, api.to_doc())
        self._apis[api.id] = compiled
