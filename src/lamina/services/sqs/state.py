"""One queue in memory: its configuration, its messages, and the index a receive walks.

No I/O and no clock of its own: every method that depends on time takes ``now`` (epoch seconds), so
the rules (visibility, delay, retention, redrive, FIFO ordering) are plain functions of the state.
Not thread-safe: everything runs on the event loop.
:class:`~lamina.services.sqs.queues.QueueManager` owns the instances, persists their changes and
wakes long polls.

Standard queues keep a heap of ``(visible_at, seq, id)``; an entry whose message is gone or whose
``visible_at`` has changed since it was pushed is stale and skipped (lazy deletion), so receives,
visibility changes and deletes are O(log n). FIFO queues serve messages per message group, in
sequence order, and a group with a message in flight is blocked until that message is deleted or
becomes visible again, as AWS documents for FIFO queues.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from lamina.errors import InvalidAttributeName, InvalidParameterValueException
from lamina.services.sqs.attributes import DEFAULTS, FIFO_DEFAULTS, KNOWN, RedrivePolicy, redrive_policy
from lamina.services.sqs.messages import Message

#: How long a FIFO deduplication id is remembered (AWS: 5 minutes).
DEDUP_WINDOW_S = 300.0
#: The longest a message may stay invisible after a receive (AWS: 12 hours).
MAX_VISIBILITY_S = 43_200


@dataclass(frozen=True, slots=True)
class Dedup:
    message_id: str
    seq: int
    expires_at: float


@dataclass(slots=True)
class Taken:
    """What one receive pass did: messages delivered, dropped (past the retention period) and
    removed for the dead-letter queue (received ``maxReceiveCount`` times already)."""

    delivered: list[Message] = field(default_factory=list)
    expired: list[Message] = field(default_factory=list)
    dead: list[Message] = field(default_factory=list)


class Queue:
    """One queue's state. ``attributes`` holds the settable attributes, canonically spelled."""

    def __init__(self, arn: str, region: str, account_id: str, name: str, attributes: dict[str, str],
                 tags: dict[str, str], created_at: float, modified_at: float) -> None:
        self.arn = arn
        self.region = region
        self.account_id = account_id
        self.name = name
        self.fifo = attributes.get("FifoQueue") == "true"
        self.attributes = {**DEFAULTS, **(FIFO_DEFAULTS if self.fifo else {}), **attributes}
        self.tags = dict(tags)
        self.created_at = created_at
        self.modified_at = modified_at
        self.messages: dict[str, Message] = {}
        self.dedup: dict[str, Dedup] = {}
        self.last_seq = 0
        self.purged_at: float | None = None
        self._heap: list[tuple[float, int, str]] = []
        self._groups: dict[str, deque[Message]] = {}

    # --- configuration --------------------------------------------------------------------------

    def number(self, name: str) -> int:
        return int(self.attributes[name])

    @property
    def visibility_timeout(self) -> int:
        return self.number("VisibilityTimeout")

    @property
    def redrive(self) -> RedrivePolicy | None:
        return redrive_policy(self.attributes)

    @property
    def content_based_dedup(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"

    def dedup_key(self, group_id: str, dedup_id: str) -> str:
        if self.attributes.get("DeduplicationScope") == "messageGroup":
            return f"{group_id}\x00{dedup_id}"
        return dedup_id

    def next_seq(self, now: float) -> int:
        """A sequence number above every earlier one, also across restarts (it follows the clock)."""
        self.last_seq = max(self.last_seq + 1, int(now * 1_000_000))
        return self.last_seq

    # --- messages -------------------------------------------------------------------------------

    def add(self, message: Message) -> None:
        self.messages[message.id] = message
        self.last_seq = max(self.last_seq, message.seq)
        heapq.heappush(self._heap, (message.visible_at, message.seq, message.id))
        if self.fifo:
            group = self._groups.setdefault(message.group_id or "", deque())
            if group and group[-1].seq > message.seq:  # a concurrent send committed out of order
                index = next(i for i, m in enumerate(group) if m.seq > message.seq)
                group.insert(index, message)
            else:
                group.append(message)

    def remove(self, message_id: str) -> Message | None:
        message = self.messages.pop(message_id, None)
        if message is not None and self.fifo:
            group = self._groups.get(message.group_id or "")
            if group is not None:
                group.remove(message)
                if not group:
                    del self._groups[message.group_id or ""]
        return message

    def clear(self) -> list[str]:
        ids = list(self.messages)
        self.messages.clear()
        self._heap.clear()
        self._groups.clear()
        return ids

    def set_visibility(self, message: Message, visible_at: float) -> None:
        message.visible_at = visible_at
        heapq.heappush(self._heap, (visible_at, message.seq, message.id))

    def counts(self, now: float) -> tuple[int, int, int]:
        """(visible, in flight, delayed) — ApproximateNumberOfMessages{,NotVisible,Delayed}."""
        visible = in_flight = delayed = 0
        for message in self.messages.values():
            if message.visible_at <= now:
                visible += 1
            elif message.receive_count:
                in_flight += 1
            else:
                delayed += 1
        return visible, in_flight, delayed

    def attributes_named(self, names: Sequence[str], now: float) -> dict[str, str]:
        """GetQueueAttributes: the named attributes (``All`` for every one) that have a value."""
        for name in names:
            if name not in KNOWN:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
        visible, in_flight, delayed = self.counts(now)
        every = {
            **self.attributes,
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(int(self.created_at)),
            "LastModifiedTimestamp": str(int(self.modified_at)),
            "QueueArn": self.arn,
        }
        wanted = every if "All" in names else {name: every[name] for name in names if name in every}
        return {key: value for key, value in wanted.items() if value != ""}

    def in_flight_message(self, message_id: str, receive_count: int, handle: str, timeout: int,
                          now: float) -> Message:
        """The message a ChangeMessageVisibility names, if its visibility may become ``timeout``."""
        if not 0 <= timeout <= MAX_VISIBILITY_S:
            raise InvalidParameterValueException(f"Value {timeout} for parameter VisibilityTimeout is invalid. "
                                                 f"Reason: Must be >= 0 and <= {MAX_VISIBILITY_S}, if provided.")
        message = self.messages.get(message_id)
        if message is None or receive_count != message.receive_count or not message.in_flight(now):
            raise InvalidParameterValueException(
                f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist "
                "or is not available for visibility timeout change.")
        # AWS counts the 12-hour limit from the receive, not from the change.
        received = message.received_at or message.first_receive_at or now
        if now + timeout - received > MAX_VISIBILITY_S:
            raise InvalidParameterValueException(
                f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for "
                f"the message is beyond the limit [{MAX_VISIBILITY_S} seconds]")
        return message

    def next_change(self, now: float) -> float | None:
        """The earliest future moment a message may become receivable (a delay or a visibility
        timeout ending), or None; a long poll sleeps at most until then."""
        heap = self._heap
        while heap:
            visible_at, _, message_id = heap[0]
            message = self.messages.get(message_id)
            stale = message is None or message.visible_at != visible_at
            # FIFO receives do not pop the heap, so entries already due are only hints here.
            if stale or (self.fifo and visible_at <= now):
                heapq.heappop(heap)
                continue
            return visible_at
        return None

    # --- receiving ------------------------------------------------------------------------------

    def take(self, now: float, limit: int, visibility: int, max_receives: int | None) -> Taken:
        """Deliver up to ``limit`` receivable messages, making each invisible for ``visibility``
        seconds. Messages past the retention period are removed; with ``max_receives``, a message
        already received that many times is removed for the dead-letter queue instead."""
        taken = Taken()
        retention = self.number("MessageRetentionPeriod")
        candidates = self._fifo_candidates(now, limit) if self.fifo else self._standard_candidates(now, limit)
        for message in candidates:
            if now >= message.sent_at + retention:
                self.remove(message.id)
                taken.expired.append(message)
            elif max_receives is not None and message.receive_count >= max_receives:
                self.remove(message.id)
                taken.dead.append(message)
            else:
                message.receive_count += 1
                message.received_at = now
                if message.first_receive_at is None:
                    message.first_receive_at = now
                self.set_visibility(message, now + visibility)
                taken.delivered.append(message)
                if len(taken.delivered) >= limit:
                    break
        if self.fifo:
            self.next_change(now)  # FIFO receives never pop the heap; this drops the entries now due
        return taken

    def _standard_candidates(self, now: float, limit: int) -> Iterator[Message]:
        heap = self._heap
        seen: set[str] = set()
        yielded = 0
        while heap and yielded < limit:
            visible_at, _, message_id = heap[0]
            if visible_at > now:
                return
            message = self.messages.get(message_id)
            if message is None or message.visible_at != visible_at or message_id in seen:
                if message_id in seen:
                    return  # delivered with visibility 0 in this very pass: leave it for the next one
                heapq.heappop(heap)
                continue
            heapq.heappop(heap)
            seen.add(message_id)
            before = message.receive_count
            yield message
            if message.receive_count > before:
                yielded += 1

    def _fifo_candidates(self, now: float, limit: int) -> Iterator[Message]:
        # The oldest group first; a receive takes as many messages of one group as it can before it
        # moves on, as AWS does. Sorting by head is O(groups), fine at local scale.
        room = limit
        for group in sorted(self._groups.values(), key=lambda g: g[0].seq):
            if room <= 0:
                return
            picked = _group_head(group, now, room)
            for message in picked:
                before = message.receive_count
                yield message
                if message.receive_count > before:
                    room -= 1


def _group_head(group: deque[Message], now: float, room: int) -> list[Message]:
    """The receivable messages at the head of one FIFO group, or none while one is in flight.

    A group is served in order, so its messages received before form a prefix; once the batch is
    full the scan stops at the first message never received.
    """
    picked: list[Message] = []
    for message in group:
        if message.in_flight(now):
            return []
        if message.receive_count == 0 and (message.visible_at > now or len(picked) >= room):
            break
        if len(picked) < room:
            picked.append(message)
    return picked
