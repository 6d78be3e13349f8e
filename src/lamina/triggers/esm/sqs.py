"""The SQS poller of one event source mapping, and AWS's SQS event shape.

Behaviour (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html):

- The poller long-polls the queue through :class:`~lamina.services.sqs.queues.QueueManager` (no
  HTTP), gathering up to ``BatchSize`` messages; with ``MaximumBatchingWindowInSeconds`` it keeps
  gathering until the batch is full, the window ends, or the event would pass the 6 MB invoke limit.
- Messages that match none of the FilterCriteria are deleted without invoking, as AWS does for SQS.
- The function is invoked synchronously (``Invoker.invoke``) with ``{"Records": [...]}``. On success
  the batch is deleted. With ``ReportBatchItemFailures`` only the messages the function names in
  ``batchItemFailures`` stay (see :func:`failed_items`). On a function error, a throttle or a
  platform error nothing is deleted: the messages become visible again after the queue's
  visibility timeout, so its RedrivePolicy (maxReceiveCount → dead-letter queue) applies.
- Up to ``ScalingConfig.MaximumConcurrency`` batches are in flight at once. Concurrency starts at
  5 and grows by one batch at most every 0.2 s while full batches keep coming (AWS scales SQS
  pollers by up to 300 concurrent invokes a minute), and drops back when the queue is empty.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from lamina.clock import Clock
from lamina.errors import AwsError, TooManyRequestsException
from lamina.invoker.events import Resolver, SyncInvoker
from lamina.services.sqs.messages import md5_of_attributes
from lamina.services.sqs.queues import QueueManager, Received
from lamina.triggers import filters
from lamina.triggers.esm.model import Mapping
from lamina.types import LATEST

log = logging.getLogger(__name__)

INITIAL_CONCURRENCY = 5
DEFAULT_MAX_CONCURRENCY = 1000
SCALE_UP_EVERY_S = 0.2
#: The longest long poll; stopping a poller cancels it.
WAIT_S = 20.0
#: A synchronous invoke's payload limit.
MAX_EVENT_BYTES = 6 * 1024 * 1024
#: After a throttle or a platform error the poller waits before it takes more messages.
PAUSE_S = 1.0

#: ``report(uuid, LastProcessingResult)``.
Reporter = Callable[[str, str], None]


def sqs_record(received: Received, queue_arn: str, region: str, fifo: bool) -> dict[str, Any]:
    """One ``Records[]`` entry, as Lambda builds it from a received message."""
    message = received.message
    attributes = {
        "ApproximateReceiveCount": str(received.receive_count),
        "SentTimestamp": str(int(message.sent_at * 1000)),
        "SenderId": message.sender_id,
        "ApproximateFirstReceiveTimestamp": str(int(received.first_receive_at * 1000)),
    }
    if fifo:
        attributes["SequenceNumber"] = f"{message.seq:020d}"
        attributes["MessageGroupId"] = message.group_id or ""
        attributes["MessageDeduplicationId"] = message.dedup_id or ""
    trace = message.system_attributes.get("AWSTraceHeader")
    if trace is not None:
        attributes["AWSTraceHeader"] = str(trace.get("StringValue", ""))
    if message.dead_letter_source:
        attributes["DeadLetterQueueSourceArn"] = message.dead_letter_source
    record: dict[str, Any] = {
        "messageId": message.id,
        "receiptHandle": received.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {name: _attribute(value) for name, value in message.attributes.items()},
        "md5OfBody": message.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    digest = md5_of_attributes(message.attributes)
    if digest is not None:
        record["md5OfMessageAttributes"] = digest
    return record


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda's event spells message attributes in lower camel case, with (always empty) list members.
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if value.get("BinaryValue") is not None:
        out["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode("ascii")
    else:
        out["stringValue"] = value.get("StringValue")
    return out


def filter_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record as filters see it: a body that is a JSON object is matched as that object, any
    other body as its text (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs-filtering.html)."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        return record
    return {**record, "body": body} if isinstance(body, dict) else record


def failed_items(payload: bytes, message_ids: set[str]) -> set[str] | None:
    """The messages a ReportBatchItemFailures response names as failed; None when the whole batch
    counts as failed (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html):
    invalid JSON, or an item whose ``itemIdentifier`` is missing, empty, null or not in the batch.
    An empty or null response, or an empty or null ``batchItemFailures``, is complete success."""
    try:
        response = json.loads(payload) if payload.strip() else None
    except ValueError:
        return None
    if not isinstance(response, dict):
        return set()
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return None
        failed.add(identifier)
    return failed


class SqsPoller:
    """Polls one mapping's queue until :meth:`stop`. The mapping is read once; an update replaces
    the poller."""

    def __init__(self, mapping: Mapping, queues: QueueManager, invoker: SyncInvoker, resolve: Resolver,
                 clock: Clock, report: Reporter) -> None:
        self.mapping = mapping
        self._queues = queues
        self._invoker = invoker
        self._resolve = resolve
        self._clock = clock
        self._report = report
        self._patterns = [filters.parse_pattern(text) for text in mapping.filters]
        self._cap = mapping.maximum_concurrency or DEFAULT_MAX_CONCURRENCY
        self._limit = min(INITIAL_CONCURRENCY, self._cap)
        self._scaled_at = 0.0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"esm-{self.mapping.uuid}")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop polling; batches being processed get ``grace_s`` to finish, then are cancelled (their
        messages return to the queue after the visibility timeout)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace_s)
        for task in set(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            while len(self._in_flight) >= self._limit:
                self._changed.clear()
                await self._changed.wait()
            try:
                batch = await self._collect()
            except AwsError as error:  # the queue was deleted: keep trying, as AWS's poller does
                self._report(self.mapping.uuid, f"PROBLEM: {error.message}")
                await asyncio.sleep(PAUSE_S)
                continue
            if not batch:
                self._limit = min(INITIAL_CONCURRENCY, self._cap)
                continue
            self._scale(len(batch))
            task = asyncio.get_running_loop().create_task(self._process(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._changed.set()

    def _scale(self, got: int) -> None:
        now = self._clock.monotonic()
        if got >= self.mapping.batch_size and len(self._in_flight) + 1 >= self._limit \
                and now - self._scaled_at >= SCALE_UP_EVERY_S:
            self._limit = min(self._limit + 1, self._cap)
            self._scaled_at = now

    async def _collect(self) -> list[Received]:
        mapping = self.mapping
        batch = await self._queues.receive(mapping.event_source_arn, max_messages=mapping.batch_size,
                                           wait_seconds=WAIT_S)
        if not batch or mapping.batching_window_s <= 0:
            return batch
        deadline = self._clock.monotonic() + mapping.batching_window_s
        size = sum(len(r.message.body) for r in batch)
        while len(batch) < mapping.batch_size and size < MAX_EVENT_BYTES:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                break
            more = await self._queues.receive(mapping.event_source_arn, wait_seconds=remaining,
                                              max_messages=mapping.batch_size - len(batch))
            batch.extend(more)
            size += sum(len(r.message.body) for r in more)
        return batch

    async def _process(self, batch: Sequence[Received]) -> None:
        mapping = self.mapping
        arn = mapping.event_source_arn
        queue = self._queues.find_queue(arn)
        fifo = queue is not None and queue.fifo
        records = [sqs_record(r, arn, mapping.region, fifo) for r in batch]
        keep: list[dict[str, Any]] = []
        dropped: list[str] = []
        for record in records:
            if filters.matches_any(self._patterns, filter_view(record)):
                keep.append(record)
            else:
                dropped.append(record["receiptHandle"])
        keep, excess = _fit(keep)
        if excess:  # over the invoke limit: back to the queue at once, for the next batch
            await self._queues.change_visibility_batch(arn, [(r["receiptHandle"], 0) for r in excess])
        if dropped:
            await self._queues.delete_batch(arn, dropped)
        if not keep:
            return
        fn = self._resolve(mapping.region, mapping.function_name, mapping.qualifier or LATEST)
        if fn is None:
            self._report(mapping.uuid, "PROBLEM: Function not found.")
            await asyncio.sleep(PAUSE_S)
            return
        try:
            result = await self._invoker.invoke(fn, json.dumps({"Records": keep}).encode(),
                                                invoked_arn=mapping.function_arn)
        except TooManyRequestsException:
            self._report(mapping.uuid, "PROBLEM: Function call throttled.")
            await asyncio.sleep(PAUSE_S)
            return
        except AwsError as error:
            self._report(mapping.uuid, f"PROBLEM: {error.code}: {error.message}")
            await asyncio.sleep(PAUSE_S)
            return
        if result.function_error:
            self._report(mapping.uuid, "PROBLEM: Function call failed.")
            return
        ids = {r["messageId"] for r in keep}
        failed = failed_items(result.payload, ids) if mapping.report_batch_item_failures else set()
        if failed is None:
            self._report(mapping.uuid, "PROBLEM: Function returned an invalid batchItemFailures response.")
            return
        done = [r["receiptHandle"] for r in keep if r["messageId"] not in failed]
        if done:
            await self._queues.delete_batch(arn, done)
        self._report(mapping.uuid, "OK")


def _fit(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The longest prefix whose event fits the invoke limit (at least one record), and the rest."""
    size = len('{"Records": []}')
    for index, record in enumerate(records):
        size += len(json.dumps(record)) + 2
        if size > MAX_EVENT_BYTES and index > 0:
            return records[:index], records[index:]
    return records, []
