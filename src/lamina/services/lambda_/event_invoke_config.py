"""Asynchronous invocation's configuration: Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s),
and what the Lambda API mixins of asynchronous invocation share (:class:`EventsBase`).

Validation follows AWS: at least one setting (``You must specify at least one of error handling or
destination setting.``), a function cannot be its own destination, destinations must exist. Lamina
delivers to SQS queues and Lambda functions; SNS topics, EventBridge buses and S3 buckets are
refused with a message saying so rather than accepted and never delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.clock import Clock
from lamina.errors import InvalidParameterValueException, ResourceNotFoundException, ServiceException
from lamina.invoker.event_config import EventInvokeConfig, EventInvokeConfigs
from lamina.invoker.events import AsyncInvoker
from lamina.registry.model import FunctionVersion
from lamina.services.lambda_.base import LambdaBase, decode_marker, encode_marker
from lamina.services.lambda_.shapes import resolve_function
from lamina.services.sqs.queues import QueueManager
from lamina.triggers.esm.manager import MappingManager
from lamina.types import LATEST

_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


@dataclass(frozen=True, slots=True)
class EventParts:
    """The domain parts behind the asynchronous-invocation operations."""

    engine: AsyncInvoker
    configs: EventInvokeConfigs
    mappings: MappingManager
    queues: QueueManager
    clock: Clock


class EventsBase(LambdaBase):
    """A Lambda API mixin that needs the asynchronous-invocation parts. The composition root hands
    them over once, with :meth:`attach_events`, before the provider serves requests."""

    _event_parts: EventParts | None = None

    def attach_events(self, parts: EventParts) -> None:
        self._event_parts = parts

    @property
    def _events(self) -> EventParts:
        if self._event_parts is None:
            raise ServiceException("Asynchronous invocation is not set up on this node.")
        return self._event_parts

    def _qualified(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[FunctionVersion, str]:
        """The function a request names and the qualifier it names (``$LATEST`` when none)."""
        fn, qualifier = self._resolve(ctx, params)
        return fn, qualifier or LATEST

    def _check_dead_letter_target(self, fn: FunctionVersion) -> None:
        """The function's DeadLetterConfig must name a queue that exists (Lamina delivers to SQS)."""
        target = fn.dead_letter_target
        if not target:
            return
        if arn_service(target) != "sqs":
            raise InvalidParameterValueException(
                f"Lamina delivers dead letters to SQS queues only; {target} is not an SQS queue ARN.")
        if self._events.queues.find_queue(target) is None:
            raise InvalidParameterValueException(
                f"The dead-letter queue {target} of function {fn.name} does not exist.")


def arn_service(arn: str) -> str:
    """The service an ARN names (``sqs``, ``lambda`` ...), or '' when it is not an ARN."""
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else ""


class EventInvokeConfigApi(EventsBase):
    async def put_function_event_invoke_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn, qualifier = self._qualified(ctx, params)
        _require_a_setting(params)
        on_success, on_failure = self._destinations(ctx, fn, params.get("DestinationConfig") or {})
        config = EventInvokeConfig(fn.region, fn.name, qualifier, params.get("MaximumRetryAttempts"),
                                   params.get("MaximumEventAgeInSeconds"), on_success, on_failure,
                                   self._events.clock.time())
        await self._events.configs.put(config)
        return _config_out(fn, config)

    async def update_function_event_invoke_config(self, ctx: RequestContext,
                                                  params: dict[str, Any]) -> dict[str, Any]:
        fn, qualifier = self._qualified(ctx, params)
        _require_a_setting(params)
        current = self._existing_config(fn, qualifier)
        changes: dict[str, Any] = {"last_modified": self._events.clock.time()}
        if params.get("MaximumRetryAttempts") is not None:
            changes["maximum_retry_attempts"] = params["MaximumRetryAttempts"]
        if params.get("MaximumEventAgeInSeconds") is not None:
            changes["maximum_event_age_s"] = params["MaximumEventAgeInSeconds"]
        destinations = params.get("DestinationConfig")
        if destinations is not None:
            on_success, on_failure = self._destinations(ctx, fn, destinations)
            if "OnSuccess" in destinations:
                changes["on_success"] = on_success
            if "OnFailure" in destinations:
                changes["on_failure"] = on_failure
        config = current.replace(**changes)
        await self._events.configs.put(config)
        return _config_out(fn, config)

    async def get_function_event_invoke_config(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        fn, qualifier = self._qualified(ctx, params)
        return _config_out(fn, self._existing_config(fn, qualifier))

    async def delete_function_event_invoke_config(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        fn, qualifier = self._qualified(ctx, params)
        self._existing_config(fn, qualifier)
        await self._events.configs.delete(fn.region, fn.name, qualifier)

    async def list_function_event_invoke_configs(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> dict[str, Any]:
        fn = self._function(ctx, params)
        configs = self._events.configs.of_function(fn.region, fn.name)
        start = decode_marker(params["Marker"]) if params.get("Marker") else 0
        size = params.get("MaxItems") or 50
        answer: dict[str, Any] = {"FunctionEventInvokeConfigs": [_config_out(fn, c)
                                                                 for c in configs[start:start + size]]}
        if start + size < len(configs):
            answer["NextMarker"] = encode_marker(start + size)
        return answer

    # -- helpers ---------------------------------------------------------------------------------

    def _existing_config(self, fn: FunctionVersion, qualifier: str) -> EventInvokeConfig:
        config = self._events.configs.get(fn.region, fn.name, qualifier)
        if config is None:
            raise ResourceNotFoundException(f"The function {fn.arn}:{qualifier} doesn't have an EventInvokeConfig")
        return config

    def _destinations(self, ctx: RequestContext, fn: FunctionVersion,
                      config: dict[str, Any]) -> tuple[str | None, str | None]:
        on_success = (config.get("OnSuccess") or {}).get("Destination") or None
        on_failure = (config.get("OnFailure") or {}).get("Destination") or None
        for arn in (on_success, on_failure):
            if arn:
                self._check_destination(ctx, fn, arn, on_success, on_failure)
        return on_success, on_failure

    def _check_destination(self, ctx: RequestContext, fn: FunctionVersion, arn: str, on_success: str | None,
                           on_failure: str | None) -> None:
        service = arn_service(arn)
        if service == "sqs":
            if self._events.queues.find_queue(arn) is None:
                raise InvalidParameterValueException(f"The destination ARN {arn} is invalid: the queue does not exist.")
        elif service == "lambda":
            region, name, _ = resolve_function(arn, ctx.region, ctx.account_id)
            if (region, name) == (fn.region, fn.name):
                raise InvalidParameterValueException("You can't specify the function as a destination for itself.")
            if self._registry.find(region, name) is None:
                raise InvalidParameterValueException(f"The destination ARN {arn} is invalid.")
        elif service in ("sns", "events", "s3"):
            raise InvalidParameterValueException(
                f"Lamina delivers invocation records to SQS queues and Lambda functions; {arn} is not supported.")
        else:
            success = f"OnSuccess(destination={on_success})" if on_success else "null"
            failure = f"OnFailure(destination={on_failure})" if on_failure else "null"
            raise InvalidParameterValueException(
                f"The provided destination config DestinationConfig(onSuccess={success}, onFailure={failure}) "
                "is invalid.")


def _require_a_setting(params: dict[str, Any]) -> None:
    if all(params.get(name) is None for name in _SETTINGS):
        raise InvalidParameterValueException("You must specify at least one of error handling or destination setting.")


def _config_out(fn: FunctionVersion, config: EventInvokeConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "LastModified": config.last_modified,
        "FunctionArn": f"{fn.arn}:{config.qualifier}",
        "DestinationConfig": {
            "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
            "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
        },
    }
    if config.maximum_retry_attempts is not None:
        out["MaximumRetryAttempts"] = config.maximum_retry_attempts
    if config.maximum_event_age_s is not None:
        out["MaximumEventAgeInSeconds"] = config.maximum_event_age_s
    return out
