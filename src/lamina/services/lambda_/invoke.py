"""Invoke: RequestResponse, Event and DryRun."""

from __future__ import annotations

import base64
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import AccessDeniedException, RequestTooLargeException, ResourceConflictException
from lamina.registry.model import FunctionVersion, State
from lamina.registry.policies import allows
from lamina.services.lambda_.base import (
    check_json,
    client_context,
)
from lamina.services.lambda_.event_invoke_config import EventsBase
from lamina.types import InvocationType

#: X-Amz-Log-Result carries the last 4 KB of the log (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
TAIL_BYTES = 4096
#: An enum member's ``.value`` runs Python code (enum.property) each time: read once.
_REQUEST_RESPONSE = InvocationType.REQUEST_RESPONSE.value


class InvokeApi(EventsBase):
    def _authorize_invoke(self, ctx: RequestContext, fn: FunctionVersion, qualifier: str | None,
                          invoked_arn: str) -> None:
        """With authentication on, a caller from another account needs a resource policy statement
        allowing lambda:InvokeFunction (same-account callers are governed by IAM, which Lamina
        does not model)."""
        caller = ctx.caller_account
        if caller is None or caller == fn.account_id:
            return
        policies = [self._policies.get(fn.region, fn.name, qualifier or ""), self._policies.get(fn.region, fn.name)]
        if not any(allows(policy, "lambda:InvokeFunction", account=caller) for policy in policies):
            raise AccessDeniedException(
                f"User: arn:aws:iam::{caller}:root is not authorized to perform: lambda:InvokeFunction on "
                f"resource: {invoked_arn} because no resource-based policy allows the lambda:InvokeFunction action")

    async def invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn, qualifier = self._resolve(ctx, params, route=True)
        invoked_arn = f"{fn.arn}:{qualifier}" if qualifier else fn.arn
        self._authorize_invoke(ctx, fn, qualifier, invoked_arn)
        if fn.state is not State.ACTIVE:
            raise ResourceConflictException(
                "The operation cannot be performed at this time. The function is currently in the "
                f"following state: {fn.state.value}")
        kind = params.get("InvocationType") or _REQUEST_RESPONSE
        payload: bytes = params.get("Payload") or b""
        limits = self._settings.limits
        limit = limits.async_payload_bytes if kind == InvocationType.EVENT else limits.sync_payload_bytes
        if len(payload) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        payload = check_json(payload)
        if kind == InvocationType.DRY_RUN:
            return {"StatusCode": 204}
        if kind == InvocationType.EVENT:
            self._check_dead_letter_target(fn)
            # Answered only once the event is stored: an accepted event survives a crash.
            await self._events.engine.enqueue(fn.region, fn.name, qualifier, payload, ctx.request_id,
                                              version=fn.version)
            return {"StatusCode": 202}
        result = await self._invoker.invoke(
            fn, payload, request_id=ctx.request_id, invoked_arn=invoked_arn,
            client_context=client_context(params.get("ClientContext")),
            trace_header=ctx.request.headers.get("x-amzn-trace-id"))
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": result.payload,
                                  "ExecutedVersion": result.executed_version}
        if result.function_error:
            answer["FunctionError"] = result.function_error
        if params.get("LogType") == "Tail":
            tail = result.log_text.encode()[-TAIL_BYTES:]
            answer["LogResult"] = base64.b64encode(tail).decode()
        return answer

