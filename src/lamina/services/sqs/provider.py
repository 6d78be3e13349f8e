"""The SQS service: one method per operation, wire shapes in, :class:`QueueManager` calls, wire
shapes out.

Queue URLs are ``<endpoint>/<account>/<name>``; a QueueUrl in any host form (AWS's
``https://sqs.<region>.amazonaws.com/...``, another port, a proxy) is read by its last two path
parts. The protocol runs without model validation (SQS answers bad values with its own errors, see
:func:`sqs_protocol`), so the checks the model would make live here, with SQS's wording.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from lamina.aws.jsonproto import JsonProtocol
from lamina.aws.protocol import RequestContext
from lamina.errors import (
    AwsError,
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameterValueException,
    MissingRequiredParameterException,
    QueueDoesNotExist,
    TooManyEntriesInBatchRequest,
)
from lamina.services.sqs import messages as msgs
from lamina.services.sqs.queues import QueueManager, Received
from lamina.services.sqs.sending import NewMessage, Sent
from lamina.services.sqs.state import MAX_VISIBILITY_S, Queue

#: SQS's legacy query error codes, which boto3 reports as ``Error.Code`` (from the SQS model as it
#: was before the move to JSON; the current model no longer carries them).
QUERY_CODES: Mapping[str, str] = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "InvalidParameterValueException": "InvalidParameterValue",
    "MissingRequiredParameterException": "MissingParameter",
}
MAX_BATCH = 10
MAX_BATCH_BYTES = 1_048_576
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_AWS_HOST = re.compile(r"(?:sqs\.([a-z0-9-]+)\.amazonaws\.com|([a-z0-9-]+)\.queue\.amazonaws\.com)(?::\d+)?")
_SYSTEM_ATTRIBUTES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
                      "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
                      "DeadLetterQueueSourceArn")


def sqs_protocol() -> JsonProtocol:
    """SQS's wire protocol: json 1.0, ``__type`` in SQS's namespace, legacy query error codes."""
    return JsonProtocol("sqs", validate=False, error_namespace="com.amazonaws.sqs", query_codes=QUERY_CODES)


class SqsProvider:
    service_name = "sqs"

    def __init__(self, queues: QueueManager) -> None:
        self._queues = queues

    # --- queues ---------------------------------------------------------------------------------

    async def create_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "QueueName")
        queue = await self._queues.create_queue(ctx.region, ctx.account_id, params["QueueName"],
                                                params.get("Attributes"), params.get("tags"))
        return {"QueueUrl": _url(ctx, queue)}

    async def get_queue_url(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "QueueName")
        account = params.get("QueueOwnerAWSAccountId") or ctx.account_id
        queue = self._queues.get_queue(self._queues.queue_arn(ctx.region, account, params["QueueName"]))
        return {"QueueUrl": _url(ctx, queue)}

    async def list_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        found = self._queues.list_queues(ctx.region, ctx.account_id, params.get("QueueNamePrefix") or "")
        return _page(ctx, found, params)

    async def list_dead_letter_source_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        page = _page(ctx, self._queues.dead_letter_sources(self._arn(ctx, params)), params)
        answer: dict[str, Any] = {"queueUrls": page.get("QueueUrls", [])}  # this output spells it in camelCase
        if "NextToken" in page:
            answer["NextToken"] = page["NextToken"]
        return answer

    async def get_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        found = self._queues.queue_attributes(self._arn(ctx, params), params.get("AttributeNames") or [])
        return {"Attributes": found} if found else {}

    async def set_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        arn = self._arn(ctx, params)
        _require(params, "Attributes")
        await self._queues.set_attributes(arn, params["Attributes"])

    async def delete_queue(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._queues.delete_queue(self._arn(ctx, params))

    async def purge_queue(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        await self._queues.purge(self._arn(ctx, params))

    async def tag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        arn = self._arn(ctx, params)
        _require(params, "Tags")
        await self._queues.tag(arn, params["Tags"])

    async def untag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        arn = self._arn(ctx, params)
        _require(params, "TagKeys")
        await self._queues.untag(arn, params["TagKeys"])

    async def list_queue_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tags = self._queues.get_queue(self._arn(ctx, params)).tags
        return {"Tags": dict(tags)} if tags else {}

    # --- messages -------------------------------------------------------------------------------

    async def send_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._arn(ctx, params)
        sent = await self._queues.send(
            arn, params.get("MessageBody") or "", attributes=params.get("MessageAttributes"),
            system_attributes=params.get("MessageSystemAttributes"), delay_seconds=params.get("DelaySeconds"),
            group_id=params.get("MessageGroupId"), dedup_id=params.get("MessageDeduplicationId"),
            sender_id=ctx.account_id)
        return _sent(sent)

    async def send_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._arn(ctx, params)
        entries = _entries(params, "SendMessageBatchRequestEntry")
        size = sum(msgs.message_size(e.get("MessageBody") or "", e.get("MessageAttributes") or {}) for e in entries)
        if size > MAX_BATCH_BYTES:
            raise BatchRequestTooLong(f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
                                      f"You have sent {size} bytes.")
        results = await self._queues.send_batch(arn, [
            NewMessage(e.get("MessageBody") or "", e.get("MessageAttributes"), e.get("MessageSystemAttributes"),
                       e.get("DelaySeconds"), e.get("MessageGroupId"), e.get("MessageDeduplicationId"))
            for e in entries], ctx.account_id)
        return _batch_answer(entries, results, lambda result: _sent(result) if isinstance(result, Sent) else {})

    async def receive_message(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._arn(ctx, params)
        count = params.get("MaxNumberOfMessages")
        if count is not None and not 1 <= count <= MAX_BATCH:
            raise InvalidParameterValueException(f"Value {count} for parameter MaxNumberOfMessages is invalid. "
                                                 "Reason: Must be between 1 and 10, if provided.")
        wait = params.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= 20:
            raise InvalidParameterValueException(f"Value {wait} for parameter WaitTimeSeconds is invalid. "
                                                 "Reason: Must be >= 0 and <= 20, if provided.")
        visibility = params.get("VisibilityTimeout")
        if visibility is not None and not 0 <= visibility <= MAX_VISIBILITY_S:
            raise InvalidParameterValueException(f"Value {visibility} for parameter VisibilityTimeout is invalid. "
                                                 f"Reason: Must be >= 0 and <= {MAX_VISIBILITY_S}, if provided.")
        # ReceiveRequestAttemptId is accepted; retried attempts get fresh messages, not the same ones.
        received = await self._queues.receive(arn, max_messages=count or 1, visibility_timeout=visibility,
                                              wait_seconds=wait)
        if not received:
            return {}
        system = set(params.get("AttributeNames") or []) | set(params.get("MessageSystemAttributeNames") or [])
        names = params.get("MessageAttributeNames") or []
        queue = self._queues.find_queue(arn)
        fifo = queue is not None and queue.fifo
        return {"Messages": [_message(r, system, names, fifo) for r in received]}

    async def delete_message(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        arn = self._arn(ctx, params)
        _require(params, "ReceiptHandle")
        await self._queues.delete_message(arn, params["ReceiptHandle"])

    async def delete_message_batch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._arn(ctx, params)
        entries = _entries(params, "DeleteMessageBatchRequestEntry")
        results = await self._queues.delete_batch(arn, [e.get("ReceiptHandle") or "" for e in entries])
        return _batch_answer(entries, results, lambda _: {})

    async def change_message_visibility(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        arn = self._arn(ctx, params)
        _require(params, "ReceiptHandle", "VisibilityTimeout")
        await self._queues.change_visibility(arn, params["ReceiptHandle"], params["VisibilityTimeout"])

    async def change_message_visibility_batch(self, ctx: RequestContext,
                                              params: dict[str, Any]) -> dict[str, Any]:
        arn = self._arn(ctx, params)
        entries = _entries(params, "ChangeMessageVisibilityBatchRequestEntry")
        results = await self._queues.change_visibility_batch(
            arn, [(e.get("ReceiptHandle") or "", e.get("VisibilityTimeout") or 0) for e in entries])
        return _batch_answer(entries, results, lambda _: {})

    # --- helpers --------------------------------------------------------------------------------

    def _arn(self, ctx: RequestContext, params: Mapping[str, Any]) -> str:
        """The ARN of the queue a QueueUrl names; QueueDoesNotExist when there is none."""
        _require(params, "QueueUrl")
        parts = urlsplit(params["QueueUrl"])
        path = [part for part in parts.path.split("/") if part]
        if len(path) < 2:
            raise QueueDoesNotExist("The specified queue does not exist.")
        match = _AWS_HOST.fullmatch(parts.netloc)
        region = (match.group(1) or match.group(2)) if match else ctx.region
        arn = self._queues.queue_arn(region, path[-2], path[-1])
        self._queues.get_queue(arn)
        return arn


def _require(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) is None:
            raise MissingRequiredParameterException(f"The request must contain the parameter {name}.")


def _url(ctx: RequestContext, queue: Queue) -> str:
    return f"{ctx.endpoint}/{queue.account_id}/{queue.name}"


def _page(ctx: RequestContext, queues: Sequence[Queue], params: Mapping[str, Any]) -> dict[str, Any]:
    """ListQueues' paging: without MaxResults up to 1,000 queues and no token (as AWS does)."""
    size = params.get("MaxResults")
    if size is not None and not 1 <= size <= 1000:
        raise InvalidParameterValueException(f"Value {size} for parameter MaxResults is invalid. Reason: "
                                             "MaxResults must be an integer between 1 and 1000.")
    start = 0
    token = params.get("NextToken")
    if token and size is not None:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeError):
            raise InvalidParameterValueException("Invalid NextToken value.") from None
        start = next((i for i, q in enumerate(queues) if q.name > after), len(queues))
    page = queues[start:start + (size or 1000)]
    answer: dict[str, Any] = {"QueueUrls": [_url(ctx, q) for q in page]} if page else {}
    if size is not None and start + size < len(queues):
        answer["NextToken"] = base64.urlsafe_b64encode(page[-1].name.encode()).decode()
    return answer


def _entries(params: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """A batch's entries, after the checks AWS makes on the batch as a whole."""
    _require(params, "Entries")
    entries: list[dict[str, Any]] = params["Entries"]
    if not entries:
        raise EmptyBatchRequest(f"There should be at least one {kind} in the request.")
    if len(entries) > MAX_BATCH:
        raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are {MAX_BATCH}. "
                                           f"You have sent {len(entries)}.")
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id") or ""
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
        if not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and "
                                      "underscores. It can be at most 80 letters long.")
    return entries


def _batch_answer(entries: Sequence[Mapping[str, Any]], results: Sequence[Any],
                  success: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry, result in zip(entries, results, strict=True):
        if isinstance(result, AwsError):
            failed.append({"Id": entry["Id"], "SenderFault": result.sender_fault,
                           "Code": QUERY_CODES.get(result.code, result.code), "Message": result.message})
        else:
            successful.append({"Id": entry["Id"], **success(result)})
    return {"Successful": successful, "Failed": failed}


def _sent(sent: Sent) -> dict[str, Any]:
    answer = {"MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body,
              "MD5OfMessageAttributes": sent.md5_of_attributes,
              "MD5OfMessageSystemAttributes": sent.md5_of_system_attributes, "SequenceNumber": sent.sequence_number}
    return {key: value for key, value in answer.items() if value is not None}


def _message(received: Received, system: set[str], names: Sequence[str], fifo: bool) -> dict[str, Any]:
    message = received.message
    answer: dict[str, Any] = {"MessageId": message.id, "ReceiptHandle": received.receipt_handle,
                              "MD5OfBody": message.md5_of_body, "Body": message.body}
    if system:
        every = {
            "SenderId": message.sender_id,
            "SentTimestamp": str(int(message.sent_at * 1000)),
            "ApproximateReceiveCount": str(received.receive_count),
            "ApproximateFirstReceiveTimestamp": str(int(received.first_receive_at * 1000)),
            "MessageGroupId": message.group_id,
            "SequenceNumber": f"{message.seq:020d}" if fifo else None,
            "MessageDeduplicationId": message.dedup_id,
            "DeadLetterQueueSourceArn": message.dead_letter_source,
        }
        trace = message.system_attributes.get("AWSTraceHeader")
        if trace is not None:
            every["AWSTraceHeader"] = trace.get("StringValue")
        wanted = _SYSTEM_ATTRIBUTES if "All" in system else [n for n in _SYSTEM_ATTRIBUTES if n in system]
        found = {name: every[name] for name in wanted if every.get(name) is not None}
        if found:
            answer["Attributes"] = found
    selected = msgs.select(message.attributes, names)
    if selected:
        answer["MessageAttributes"] = selected
        answer["MD5OfMessageAttributes"] = msgs.md5_of_attributes(selected)
    return answer
