"""``lamina local start-api``'s HTTP side: the template's APIs at ``http://HOST:PORT/<path>``.

:class:`LocalApiApp` is a :class:`lamina.httpd.Handler`. A request is answered by the ephemeral
platform's own gateway (:class:`lamina.triggers.gateway.edge.Gateway`), so routing, events, CORS
and responses are exactly what the deployed API does; only the address differs: the path is the
route path, without the ``<api-id>.execute-api`` host or a stage segment, as ``sam local
start-api`` serves it. Each API is served from its ``$default`` stage, or its only/first stage
(SAM's ``Prod`` of an ``Api`` event, a named ``StageName``).

Several APIs are all mounted on the one port: a request goes to the first API, in template order,
with a route for it other than ``$default``; failing that to the first whose ``$default`` route
takes it; failing that to the first API, which answers 404 ``{"message":"Not Found"}`` (or a CORS
preflight) as API Gateway would.

With a :class:`Watcher`, every request first makes sure the code it reaches is the code on disk:
the watch is checked and, if a file changed, the stack redeployed before the request is routed.
Requests already running are not waited for; they finish on the code they started with, because
the platform keeps an environment of the old code for each invocation in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lamina.httpd import Request, Response
from lamina.local.platform import EphemeralPlatform
from lamina.local.stack import ApiMount, LocalStack, Redeploy
from lamina.triggers.gateway import responses
from lamina.triggers.gateway.edge import HTTP_API_MAX_BODY, Target
from lamina.triggers.gateway.http import GatewayRequest, GatewayResponse
from lamina.triggers.gateway.model import function_ref

log = logging.getLogger(__name__)

#: Seconds between background checks of the watched files (requests check before they run anyway).
POLL_SECONDS = 0.5


class Watcher:
    """Redeploys a stack when one of its watched files changed: :meth:`check` on demand (before each
    request), :meth:`run` every ``poll_s`` seconds. One check at a time; a request that arrives
    while a redeploy runs waits for it, and so reaches the new code. ``report`` hears of every
    redeploy (also of one that failed, after which the previous deployment keeps serving)."""

    def __init__(self, local: EphemeralPlatform, stack: LocalStack, report: Callable[[Redeploy], None],
                 poll_s: float = POLL_SECONDS) -> None:
        self._local = local
        self._stack = stack
        self._report = report
        self._poll_s = poll_s
        self._lock = asyncio.Lock()

    async def check(self) -> None:
        async with self._lock:
            try:
                # A thread: the engine's botocore calls are answered by this very loop.
                result = await asyncio.to_thread(self._stack.redeploy_if_changed, self._local)
            except Exception as error:  # a bug or a platform failure: say so and keep serving
                log.exception("redeploying failed")
                result = Redeploy([], error=f"{type(error).__name__}: {error}")
        if result is not None:
            self._report(result)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            await self.check()


class LocalApiApp:
    """The stack's APIs on one port (see the module docstring for routing)."""

    def __init__(self, local: EphemeralPlatform, stack: LocalStack, watcher: Watcher | None = None) -> None:
        self._local = local
        self._stack = stack
        self._watcher = watcher

    def limit(self, request: Request) -> int:
        return HTTP_API_MAX_BODY

    def too_large(self, request: Request) -> Response:
        return _response(responses.too_large())

    async def handle(self, request: Request) -> Response:
        if self._watcher is not None:
            await self._watcher.check()
        mount = self.mount_for(request.method, request.path)
        if mount is None:
            return _response(responses.not_found())
        hostname = (request.header("host") or "").partition(":")[0]
        gateway_request = GatewayRequest(
            request.method, request.path or "/", request.query, tuple(request.headers), request.body,
            source_ip=request.client, protocol=f"HTTP/{request.http_version}", signed_path=request.path,
            domain=hostname)
        target = Target("api", mount.api_id, request.path or "/", stage=mount.stage)
        try:
            return _response(await self._local.platform.gateway.handle(target, gateway_request))
        except Exception:
            log.exception("API %s failed on %s %s", mount.logical_id, request.method, request.path)
            return _response(responses.server_error())

    def mount_for(self, method: str, path: str) -> ApiMount | None:
        """The API that answers ``method path`` (see the module docstring); None without APIs."""
        mounts = self._stack.apis()
        fallback: ApiMount | None = None
        for mount in mounts:
            compiled = self._local.platform.http_apis.compiled(mount.api_id)
            match = compiled.router.match(method, path or "/") if compiled is not None else None
            if match is None or match.value.integration is None:
                continue
            if not match.key.is_default:
                return mount
            fallback = fallback or mount
        return fallback or (mounts[0] if mounts else None)


def describe(local: EphemeralPlatform, stack: LocalStack) -> list[dict[str, Any]]:
    """Each mounted API with its routes: ``[{"logicalId", "apiId", "stage", "routes": [{"routeKey",
    "function"}]}]``, routes sorted by path then method."""
    described = []
    for mount in stack.apis():
        api = local.platform.http_apis.get(mount.api_id)
        routes = []
        for route in api.routes.values() if api is not None else ():
            integration = api.integrations.get(route.integration_id or "") if api is not None else None
            ref = function_ref(integration.uri) if integration is not None else None
            routes.append({"routeKey": route.key, "function": ref.name if ref is not None else None})
        routes.sort(key=lambda item: (str(item["routeKey"]).partition(" ")[2], str(item["routeKey"])))
        described.append({"logicalId": mount.logical_id, "apiId": mount.api_id, "stage": mount.stage,
                          "routes": routes})
    return described


def _response(answer: GatewayResponse) -> Response:
    return Response(answer.status, list(answer.headers), answer.body)
