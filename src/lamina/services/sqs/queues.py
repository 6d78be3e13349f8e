"""The SQS domain: every queue of this node, usable without a socket.

:class:`QueueManager` is what the SQS API provider calls, and what the rest of the platform calls
directly (asynchronous invocation's dead-letter queues and destinations, the SQS event source
mapping). Queues are named by ARN, ``arn:aws:sqs:<region>:<account>:<name>``.

API (coroutines unless marked *sync*; errors are :mod:`lamina.errors` classes with AWS's codes):

- ``start()`` loads every queue, message and FIFO deduplication id from the store and starts the
  group-commit writer; ``close()`` commits what is pending and wakes every long poll.
- *sync* ``queue_arn(region, account_id, name)``; ``get_queue(arn)`` (``QueueDoesNotExist``);
  ``find_queue(arn)`` (None); ``list_queues(region, account_id, prefix)``;
  ``dead_letter_sources(arn)``; ``queue_attributes(arn, names)`` (``InvalidAttributeName``).
- ``create_queue(region, account_id, name, attributes, tags) -> Queue``: idempotent when the given
  attributes match the existing queue's, else ``QueueNameExists``. ``set_attributes``, ``tag``,
  ``untag``, ``purge`` (once per 60 s: ``PurgeQueueInProgress``), ``delete_queue``.
- ``send(arn, body, attributes=, system_attributes=, delay_seconds=, group_id=, dedup_id=,
  sender_id=) -> Sent`` and ``send_batch(arn, entries, sender_id) -> list[Sent | AwsError]``: the
  message is committed to the store before they return. FIFO queues deduplicate for 5 minutes (a
  duplicate answers the original's id and stores nothing).
- ``receive(arn, max_messages=1, visibility_timeout=None, wait_seconds=None) -> list[Received]``:
  ``None`` means the queue's setting. With a wait it returns as soon as a message is receivable (a
  send, a delay or visibility timeout ending, a visibility change to 0) or when the wait is over. A
  message already received ``maxReceiveCount`` times moves to the RedrivePolicy's dead-letter queue
  instead of being delivered, as AWS does on the next receive attempt.
- ``delete_message(arn, receipt_handle)``: a handle from an earlier receive of a message received
  again since deletes nothing and succeeds (AWS's documented behaviour); on FIFO queues it is
  ``ReceiptHandleIsInvalid``. ``change_visibility(arn, receipt_handle, timeout)``. Both have batch
  forms, ``delete_batch(arn, handles)`` and ``change_visibility_batch(arn, [(handle, timeout)])``,
  answering ``list[AwsError | None]`` with one commit.

Receive state (receive count, visibility) is committed too, so maxReceiveCount holds across restarts.
Call it from the event loop only (it is not thread-safe); database work runs in worker threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lamina.aio import wait_event
from lamina.clock import Clock
from lamina.errors import (
    AwsError,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
)
from lamina.services.sqs import attributes as queue_attributes
from lamina.services.sqs import messages as msgs
from lamina.services.sqs.journal import journal
from lamina.services.sqs.records import dedup_record, message_from_record, message_record, queue_record
from lamina.services.sqs.sending import NewMessage, Sent, prepare
from lamina.services.sqs.state import DEDUP_WINDOW_S, Dedup, Queue
from lamina.store.queues import (
    DropMessages,
    DropQueue,
    PurgeMessages,
    PutDedup,
    PutMessage,
    PutQueue,
    QueueOp,
    QueueStore,
    UpdateMessage,
)


@dataclass(frozen=True, slots=True)
class Received:
    """One delivered message, with its delivery state as of this receive."""

    message: msgs.Message
    receipt_handle: str
    receive_count: int
    first_receive_at: float


class QueueManager:
    """Every SQS queue of this node (see the module docstring for the API)."""

    def __init__(self, store: QueueStore, clock: Clock, *, purge_interval_s: float = 60.0) -> None:
        self._store = store
        self._clock = clock
        self._journal = journal(store, clock)
        self._purge_interval = purge_interval_s
        self._queues: dict[str, Queue] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._closing = False

    async def start(self) -> None:
        now = self._clock.time()
        queues, messages, dedups = await asyncio.to_thread(
            lambda: (self._store.load_queues(), self._store.load_messages(), self._store.load_dedup(now)))
        for record in queues:
            self._queues[record.arn] = Queue(record.arn, record.region, record.account_id, record.name,
                                             record.attributes, record.tags, record.created_at,
                                             record.modified_at)
        for stored in messages:
            queue = self._queues.get(stored.queue_arn)
            if queue is not None:
                queue.add(message_from_record(stored))
        for dedup in dedups:
            queue = self._queues.get(dedup.queue_arn)
            if queue is not None:
                queue.dedup[dedup.key] = Dedup(dedup.message_id, dedup.seq, dedup.expires_at)
                queue.last_seq = max(queue.last_seq, dedup.seq)
        self._closing = False
        self._journal.start()

    async def close(self) -> None:
        self._closing = True
        for event in self._events.values():
            event.set()
        await self._journal.close()

    # --- queues ---------------------------------------------------------------------------------

    @staticmethod
    def queue_arn(region: str, account_id: str, name: str) -> str:
        return f"arn:aws:sqs:{region}:{account_id}:{name}"

    def find_queue(self, arn: str) -> Queue | None:
        return self._queues.get(arn)

    def get_queue(self, arn: str) -> Queue:
        queue = self._queues.get(arn)
        if queue is None:
            raise QueueDoesNotExist("The specified queue does not exist.")
        return queue

    def list_queues(self, region: str, account_id: str, prefix: str = "") -> list[Queue]:
        return sorted((q for q in self._queues.values()
                       if q.region == region and q.account_id == account_id and q.name.startswith(prefix)),
                      key=lambda q: q.name)

    def dead_letter_sources(self, arn: str) -> list[Queue]:
        self.get_queue(arn)
        return sorted((q for q in self._queues.values() if (p := q.redrive) and p.dead_letter_target_arn == arn),
                      key=lambda q: q.name)

    async def create_queue(self, region: str, account_id: str, name: str,
                           attributes: Mapping[str, str] | None = None,
                           tags: Mapping[str, str] | None = None) -> Queue:
        given = dict(attributes or {})
        fifo = given.get("FifoQueue", "").strip().lower() == "true"
        queue_attributes.check_queue_name(name, fifo)
        wanted = queue_attributes.normalize(given, fifo=fifo, queue_is_fifo=self._is_fifo)
        if not fifo:
            wanted.pop("FifoQueue", None)  # "false" is the default and never reported
        arn = self.queue_arn(region, account_id, name)
        existing = self._queues.get(arn)
        if existing is not None:
            for key, value in wanted.items():
                if existing.attributes.get(key, "") != value:
                    raise QueueNameExists(f"A queue already exists with the same name and a different value "
                                          f"for attribute {key}")
            return existing
        now = self._clock.time()
        queue = Queue(arn, region, account_id, name, {k: v for k, v in wanted.items() if v != ""},
                      dict(tags or {}), now, now)
        # Registered before the commit so a concurrent create of the same name finds it.
        self._queues[arn] = queue
        try:
            await self._journal.write([PutQueue(queue_record(queue))])
        except Exception:
            if self._queues.get(arn) is queue:
                del self._queues[arn]
            raise
        return queue

    async def set_attributes(self, arn: str, attributes: Mapping[str, str]) -> None:
        queue = self.get_queue(arn)
        changes = queue_attributes.normalize(attributes, fifo=queue.fifo, queue_is_fifo=self._is_fifo)
        for key, value in changes.items():
            if key == "FifoQueue":
                continue  # normalize() refused a change of queue type
            if value == "":
                queue.attributes.pop(key, None)  # an empty policy removes it
            else:
                queue.attributes[key] = value
        queue.modified_at = self._clock.time()
        await self._journal.write([PutQueue(queue_record(queue))])
        self._wake(arn)  # a shorter delay or wait may let a long poll finish now

    def queue_attributes(self, arn: str, names: Sequence[str]) -> dict[str, str]:
        return self.get_queue(arn).attributes_named(names, self._clock.time())

    async def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        queue = self.get_queue(arn)
        queue.tags.update(tags)
        await self._journal.write([PutQueue(queue_record(queue))])

    async def untag(self, arn: str, keys: Sequence[str]) -> None:
        queue = self.get_queue(arn)
        for key in keys:
            queue.tags.pop(key, None)
        await self._journal.write([PutQueue(queue_record(queue))])

    async def purge(self, arn: str) -> None:
        queue = self.get_queue(arn)
        now = self._clock.time()
        if queue.purged_at is not None and now - queue.purged_at < self._purge_interval:
            raise PurgeQueueInProgress(f"Only one PurgeQueue operation on {queue.name} is allowed every "
                                       f"{int(self._purge_interval)} seconds.")
        queue.purged_at = now
        queue.clear()
        await self._journal.write([PurgeMessages(arn)])

    async def delete_queue(self, arn: str) -> None:
        self.get_queue(arn)
        del self._queues[arn]
        self._wake(arn)
        await self._journal.write([DropQueue(arn)])

    def _is_fifo(self, arn: str) -> bool | None:
        queue = self._queues.get(arn)
        return None if queue is None else queue.fifo

    # --- sending --------------------------------------------------------------------------------

    async def send(self, arn: str, body: str, *, attributes: Mapping[str, Any] | None = None,
                   system_attributes: Mapping[str, Any] | None = None, delay_seconds: int | None = None,
                   group_id: str | None = None, dedup_id: str | None = None, sender_id: str = "") -> Sent:
        entry = NewMessage(body, attributes, system_attributes, delay_seconds, group_id, dedup_id)
        (result,) = await self.send_batch(arn, [entry], sender_id)
        if isinstance(result, AwsError):
            raise result
        return result

    async def send_batch(self, arn: str, entries: Sequence[NewMessage], sender_id: str = "") -> list[Sent | AwsError]:
        """Send each entry; an entry that fails its checks is answered by its error, the others are
        committed together."""
        queue = self.get_queue(arn)
        now = self._clock.time()
        results: list[Sent | AwsError] = []
        new: list[msgs.Message] = []
        ops: list[QueueOp] = []
        reserved: list[str] = []
        for entry in entries:
            try:
                message, sent, key = prepare(queue, entry, now, sender_id)
            except AwsError as error:
                results.append(error)
                continue
            results.append(sent)
            if message is not None:
                new.append(message)
                ops.append(PutMessage(message_record(message)))
                if key is not None:
                    reserved.append(key)
                    ops.append(PutDedup(dedup_record(queue.arn, key, message, now + DEDUP_WINDOW_S)))
        try:
            await self._journal.write(ops)
        except Exception:
            for key in reserved:
                queue.dedup.pop(key, None)
            raise
        if new and self._queues.get(arn) is queue:
            for message in new:
                queue.add(message)
            self._wake(arn)
        return results

    # --- receiving ------------------------------------------------------------------------------

    async def receive(self, arn: str, *, max_messages: int = 1, visibility_timeout: int | None = None,
                      wait_seconds: float | None = None) -> list[Received]:
        queue = self.get_queue(arn)
        visibility = queue.visibility_timeout if visibility_timeout is None else visibility_timeout
        wait = queue.number("ReceiveMessageWaitTimeSeconds") if wait_seconds is None else wait_seconds
        deadline = self._clock.monotonic() + wait
        while True:
            event = self._event(arn)  # taken before looking, so a send during the look is not missed
            got = await self._take(queue, max_messages, visibility)
            if got or self._closing or self._queues.get(arn) is not queue:
                return got
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return []
            now = self._clock.time()
            upcoming = queue.next_change(now)
            if upcoming is not None:
                remaining = min(remaining, max(upcoming - now, 0.0) + 0.001)
            await wait_event(event, remaining)

    async def _take(self, queue: Queue, limit: int, visibility: int) -> list[Received]:
        now = self._clock.time()
        policy = queue.redrive
        target = self._queues.get(policy.dead_letter_target_arn) if policy is not None else None
        taken = queue.take(now, limit, visibility, policy.max_receive_count if policy and target else None)
        ops: list[QueueOp] = [_update(m) for m in taken.delivered]
        if taken.expired:
            ops.append(DropMessages(tuple(m.id for m in taken.expired)))
        for message in taken.dead:
            assert target is not None
            message.queue_arn = target.arn
            message.dead_letter_source = queue.arn
            message.visible_at = now
            target.add(message)
            ops.append(_update(message))
        got = [Received(m, msgs.receipt_handle(queue.arn, m), m.receive_count, m.first_receive_at or now)
               for m in taken.delivered]
        await self._journal.write(ops)
        if taken.dead and target is not None:
            self._wake(target.arn)
        return got

    # --- after receiving ------------------------------------------------------------------------

    async def delete_message(self, arn: str, receipt_handle: str) -> None:
        (error,) = await self.delete_batch(arn, [receipt_handle])
        if error is not None:
            raise error

    async def delete_batch(self, arn: str, receipt_handles: Sequence[str]) -> list[AwsError | None]:
        """Delete each message (one commit); an entry that fails is answered by its error."""
        queue = self.get_queue(arn)
        results: list[AwsError | None] = []
        deleted: list[str] = []
        for handle in receipt_handles:
            try:
                message_id, count = msgs.parse_receipt(queue.arn, handle)
            except AwsError as error:
                results.append(error)
                continue
            message = queue.messages.get(message_id)
            if message is not None and count != message.receive_count and queue.fifo:
                results.append(ReceiptHandleIsInvalid("The receipt handle has expired."))
                continue
            results.append(None)
            # A message gone already, or a stale handle on a standard queue: success, nothing deleted.
            if message is not None and count == message.receive_count:
                queue.remove(message_id)
                deleted.append(message_id)
        if deleted:
            await self._journal.write([DropMessages(tuple(deleted))])
        return results

    async def change_visibility(self, arn: str, receipt_handle: str, timeout: int) -> None:
        (error,) = await self.change_visibility_batch(arn, [(receipt_handle, timeout)])
        if error is not None:
            raise error

    async def change_visibility_batch(self, arn: str,
                                      entries: Sequence[tuple[str, int]]) -> list[AwsError | None]:
        """Change each (receipt handle, timeout) (one commit); a failing entry is answered by its error."""
        queue = self.get_queue(arn)
        now = self._clock.time()
        results: list[AwsError | None] = []
        changed: list[msgs.Message] = []
        for handle, timeout in entries:
            try:
                message = queue.in_flight_message(*msgs.parse_receipt(queue.arn, handle), handle, timeout, now)
            except AwsError as error:
                results.append(error)
                continue
            results.append(None)
            queue.set_visibility(message, now + timeout)
            changed.append(message)
        await self._journal.write([_update(m) for m in changed])
        if any(m.visible_at <= now for m in changed):
            self._wake(arn)
        return results

    # --- long polling ---------------------------------------------------------------------------

    def _event(self, arn: str) -> asyncio.Event:
        event = self._events.get(arn)
        if event is None:
            event = self._events[arn] = asyncio.Event()
        return event

    def _wake(self, arn: str) -> None:
        # Every waiter holds the event it started waiting on; setting it releases all of them and
        # the next waiter gets a fresh one.
        event = self._events.pop(arn, None)
        if event is not None:
            event.set()


def _update(message: msgs.Message) -> UpdateMessage:
    return UpdateMessage(message.id, message.queue_arn, message.visible_at, message.receive_count,
                         message.first_receive_at, message.dead_letter_source)


