"""How HTTP triggers invoke: through the invoker's synchronous entry point, nothing else.

:class:`Caller` finds the function a trigger names, sends the event and turns the platform's
refusals into the gateway's answers: a throttle is 429, an event over the synchronous payload limit
413, an integration that outlives its timeout 503 (the invocation itself runs on to its own end, as
on AWS, where the function keeps running after API Gateway gave up).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from lamina.errors import AwsError, TooManyRequestsException
from lamina.invoker.invoker import Invoker, InvokeResult
from lamina.registry.model import FunctionVersion, State
from lamina.triggers.gateway import responses
from lamina.triggers.gateway.http import GatewayResponse
from lamina.triggers.gateway.model import FunctionRef

log = logging.getLogger(__name__)


class Resolve(Protocol):
    """The version a (region, function, qualifier) names now; raises an AwsError when none does.
    ``qualifier`` None means ``$LATEST``; an alias picks a version by its weights."""

    def __call__(self, region: str, name: str, qualifier: str | None) -> FunctionVersion: ...


def trace_header(now: float) -> str:
    """A new X-Ray trace header, for requests that did not bring one (unique, not secret: the
    process PRNG, no system call)."""
    return f"Root=1-{int(now):08x}-{random.getrandbits(96):024x}"


class Caller:
    def __init__(self, invoker: Invoker, resolve: Resolve, payload_limit: int) -> None:
        self._invoker = invoker
        self._resolve = resolve
        self._limit = payload_limit
        self._running: set[asyncio.Task[InvokeResult]] = set()

    def function(self, ref: FunctionRef) -> FunctionVersion | None:
        """The invocable version ``ref`` names, or None (no such function, or not Active)."""
        try:
            fn = self._resolve(ref.region, ref.name, ref.qualifier)
        except AwsError:
            return None
        return fn if fn.state is State.ACTIVE else None

    async def call(self, fn: FunctionVersion, event: dict[str, Any], *, request_id: str, trace: str,
                   invoked_arn: str, timeout_s: float | None = None) -> InvokeResult | GatewayResponse:
        """The invocation's result, or the gateway's answer when the platform refused or gave up.
        ``invoked_arn`` is the ARN the trigger names (the function sees it as its invoked ARN)."""
        payload = json.dumps(event, separators=(",", ":")).encode()
        if len(payload) > self._limit:
            return responses.too_large()
        invocation = self._invoker.invoke(fn, payload, request_id=request_id, trace_header=trace,
                                          invoked_arn=invoked_arn)
        try:
            if timeout_s is None:
                return await invocation
            return await self._within(invocation, timeout_s)
        except TooManyRequestsException:
            return responses.too_many_requests()

    async def _within(self, invocation: Coroutine[Any, Any, InvokeResult],
                      timeout_s: float) -> InvokeResult | GatewayResponse:
        # A task, a waiter and a timer rather than asyncio.wait_for(shield(...)), which costs a
        # shield and more per request; past the deadline the task runs on, kept referenced here.
        loop = asyncio.get_running_loop()
        task = loop.create_task(invocation)
        waiter: asyncio.Future[None] = loop.create_future()
        task.add_done_callback(lambda _: _wake(waiter))
        timer = loop.call_later(timeout_s, _wake, waiter)
        await waiter
        timer.cancel()
        if task.done():
            return task.result()
        self._running.add(task)
        task.add_done_callback(self._finished)
        return responses.unavailable()

    def _finished(self, task: asyncio.Task[InvokeResult]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("invocation after an integration timeout failed: %r", task.exception())


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def answer(outcome: InvokeResult | GatewayResponse,
           mapping: Callable[[bytes], GatewayResponse]) -> GatewayResponse:
    """The HTTP response for an invocation's outcome: the function's response mapped by the payload
    format's ``mapping``; a function error or a malformed response is 502."""
    if isinstance(outcome, GatewayResponse):
        return outcome
    if outcome.function_error:
        return responses.internal_error()
    try:
        return mapping(outcome.payload)
    except responses.MalformedResponse:
        return responses.internal_error()
