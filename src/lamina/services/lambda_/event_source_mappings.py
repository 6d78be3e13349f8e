"""Event source mappings: Create/Get/List/Update/DeleteEventSourceMapping, for SQS queues.

Create, Update and Delete answer 202 with the mapping in its passing state (``Creating`` ...); the
mapping settles in the background (:mod:`lamina.triggers.esm.manager`). Every check runs before
anything is stored: a missing function is ``ResourceNotFoundException``, a missing queue, a
setting SQS sources do not take, a batch over 10 without a batching window or a bad filter pattern
is ``InvalidParameterValueException``, a second mapping of the same queue to the same function is
``ResourceConflictException``; AWS's wording where AWS has one.
"""

from __future__ import annotations

import uuid
from typing import Any

from lamina.aws.protocol import RequestContext
from lamina.errors import InvalidParameterValueException, ResourceConflictException
from lamina.services.lambda_.base import decode_marker, encode_marker
from lamina.services.lambda_.event_invoke_config import EventsBase, arn_service
from lamina.services.lambda_.shapes import resolve_function
from lamina.triggers import filters
from lamina.triggers.esm.model import MAX_FILTERS, Mapping, check_sqs_batching

#: Settings of stream, Kafka and DocumentDB sources (and SQS provisioned mode) that SQS mappings
#: do not take here.
_NOT_FOR_SQS = ("StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "DestinationConfig",
                "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
                "TumblingWindowInSeconds", "Topics", "Queues", "SourceAccessConfigurations", "SelfManagedEventSource",
                "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig",
                "DocumentDBEventSourceConfig", "ProvisionedPollerConfig")
_RESPONSE_TYPE = "ReportBatchItemFailures"


class EventSourceMappingsApi(EventsBase):
    async def create_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        source = params.get("EventSourceArn")
        if not source:
            raise InvalidParameterValueException("Unrecognized event source.")
        if arn_service(source) != "sqs":
            raise InvalidParameterValueException(
                f"Lamina supports SQS event sources only; {source} is not an SQS queue ARN.")
        _refuse_stream_settings(params)
        function_arn = self._function_arn(ctx, params["FunctionName"])
        queue = self._events.queues.find_queue(source)
        if queue is None:
            # AWS's answer for a queue it cannot read.
            raise InvalidParameterValueException(
                "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
                "SQS Error Message: The specified queue does not exist for this wsdl version.")
        mapping = Mapping(str(uuid.uuid4()), ctx.region, ctx.account_id, function_arn, source,
                          **_settings(params))
        check_sqs_batching(mapping.batch_size, mapping.batching_window_s, queue.fifo)
        existing = self._events.mappings.duplicate(ctx.region, source, function_arn)
        if existing is not None:
            raise ResourceConflictException(
                f'An event source mapping with SQS arn (" {source} ") and function (" {mapping.function_name} ") '
                f"already exists. Please update or delete the existing mapping with UUID {existing.uuid}")
        return mapping_out(await self._events.mappings.create(mapping))

    async def get_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return mapping_out(self._events.mappings.get(params["UUID"]))

    async def list_event_source_mappings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = None
        if params.get("FunctionName"):
            _, name, _ = resolve_function(params["FunctionName"], ctx.region, ctx.account_id)
        found = self._events.mappings.list(ctx.region, event_source_arn=params.get("EventSourceArn"),
                                           function_name=name)
        start = decode_marker(params["Marker"]) if params.get("Marker") else 0
        size = params.get("MaxItems") or 100
        answer: dict[str, Any] = {"EventSourceMappings": [mapping_out(m) for m in found[start:start + size]]}
        if start + size < len(found):
            answer["NextMarker"] = encode_marker(start + size)
        return answer

    async def update_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        current = self._events.mappings.get(params["UUID"])
        _refuse_stream_settings(params)
        changes = _settings(params)
        if params.get("FunctionName"):
            changes["function_arn"] = self._function_arn(ctx, params["FunctionName"])
        queue = self._events.queues.find_queue(current.event_source_arn)
        merged = current.replace(**changes)
        check_sqs_batching(merged.batch_size, merged.batching_window_s, queue is not None and queue.fifo)
        return mapping_out(await self._events.mappings.update(current.uuid, changes))

    async def delete_event_source_mapping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return mapping_out(await self._events.mappings.delete(params["UUID"]))

    def _function_arn(self, ctx: RequestContext, name: str) -> str:
        """The FunctionArn a mapping reports: qualified only when the request named a qualifier."""
        _, _, qualifier = resolve_function(name, ctx.region, ctx.account_id)
        fn = self._function(ctx, {"FunctionName": name})
        return f"{fn.arn}:{qualifier}" if qualifier else fn.arn


def _refuse_stream_settings(params: dict[str, Any]) -> None:
    for name in _NOT_FOR_SQS:
        if params.get(name) is not None:
            raise InvalidParameterValueException(f"Unsupported {name} parameter for given event source: SQS "
                                                 "event source mappings do not take it.")


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """The mapping fields a Create or Update request sets (the others keep their value or default)."""
    out: dict[str, Any] = {}
    if params.get("BatchSize") is not None:
        out["batch_size"] = params["BatchSize"]
    if params.get("MaximumBatchingWindowInSeconds") is not None:
        out["batching_window_s"] = params["MaximumBatchingWindowInSeconds"]
    if params.get("Enabled") is not None:
        out["enabled"] = bool(params["Enabled"])
    if params.get("FunctionResponseTypes") is not None:
        types = list(params["FunctionResponseTypes"])
        out["report_batch_item_failures"] = _RESPONSE_TYPE in types
    if params.get("ScalingConfig") is not None:
        out["maximum_concurrency"] = params["ScalingConfig"].get("MaximumConcurrency")
    if params.get("FilterCriteria") is not None:
        out["filters"] = _patterns(params["FilterCriteria"])
    return out


def _patterns(criteria: dict[str, Any]) -> tuple[str, ...]:
    patterns = tuple(f.get("Pattern") or "" for f in criteria.get("Filters") or [])
    if len(patterns) > MAX_FILTERS:
        raise InvalidParameterValueException(
            f"The number of filters ({len(patterns)}) exceeds the limit of {MAX_FILTERS} per event source mapping.")
    for pattern in patterns:
        try:
            filters.parse_pattern(pattern)
        except filters.FilterPatternError:
            raise InvalidParameterValueException("Invalid filter pattern definition.") from None
    return patterns


def mapping_out(mapping: Mapping) -> dict[str, Any]:
    """EventSourceMappingConfiguration, as AWS answers it for an SQS source."""
    out: dict[str, Any] = {
        "UUID": mapping.uuid,
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": mapping.batching_window_s,
        "EventSourceArn": mapping.event_source_arn,
        "FunctionArn": mapping.function_arn,
        "LastModified": mapping.last_modified,
        "LastProcessingResult": mapping.last_result,
        "State": mapping.state.value,
        "StateTransitionReason": mapping.state_reason,
        "FunctionResponseTypes": [_RESPONSE_TYPE] if mapping.report_batch_item_failures else [],
        "EventSourceMappingArn": mapping.arn,
    }
    if mapping.filters:
        out["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in mapping.filters]}
    if mapping.maximum_concurrency is not None:
        out["ScalingConfig"] = {"MaximumConcurrency": mapping.maximum_concurrency}
    return out
