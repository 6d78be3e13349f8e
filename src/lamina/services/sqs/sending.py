"""Sending: the checks a new message must pass against its queue, and the message it becomes.

The wording of every error is AWS's (SendMessage in the SQS API reference, and what SQS answers).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.errors import InvalidParameterValueException, MissingRequiredParameterException
from lamina.services.sqs import messages as msgs
from lamina.services.sqs.state import DEDUP_WINDOW_S, Dedup, Queue

_TOKEN = re.compile(r"[!-~]{1,128}")  # alphanumeric and punctuation, 1-128: group and dedup ids


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message to send; None means "not given" (the queue's DelaySeconds, no group ...)."""

    body: str
    attributes: Mapping[str, Any] | None = None
    system_attributes: Mapping[str, Any] | None = None
    delay_seconds: int | None = None
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    md5_of_body: str
    md5_of_attributes: str | None
    md5_of_system_attributes: str | None
    sequence_number: str | None


def prepare(queue: Queue, entry: NewMessage, now: float,
            sender_id: str) -> tuple[msgs.Message | None, Sent, str | None]:
    """Check ``entry`` against the queue's rules and build its message.

    Returns (the new message, the answer, the FIFO deduplication key it reserved); for a FIFO
    duplicate within the deduplication window, (None, the original's answer, None). The caller
    stores the message, then adds it to the queue (or releases the key if storing fails).
    """
    body = msgs.check_body(entry.body)
    attributes = msgs.check_attributes(entry.attributes)
    system = msgs.check_system_attributes(entry.system_attributes)
    limit = queue.number("MaximumMessageSize")
    if msgs.message_size(body, attributes) > limit:
        raise InvalidParameterValueException(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.")
    delay = entry.delay_seconds
    if delay is not None and queue.fifo:
        raise _not_for_queue_type("DelaySeconds", delay)
    if delay is not None and not 0 <= delay <= 900:
        raise InvalidParameterValueException(f"Value {delay} for parameter DelaySeconds is invalid. Reason: "
                                             "DelaySeconds must be >= 0 and <= 900.")
    group, dedup = entry.group_id, entry.dedup_id
    if group is not None and not _TOKEN.fullmatch(group):
        raise _bad_token("MessageGroupId", group)
    key = None
    if queue.fifo:
        if group is None:
            raise MissingRequiredParameterException("The request must contain the parameter MessageGroupId.")
        if dedup is None:
            if not queue.content_based_dedup:
                raise InvalidParameterValueException("The queue should either have ContentBasedDeduplication "
                                                     "enabled or MessageDeduplicationId provided explicitly")
            dedup = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
        elif not _TOKEN.fullmatch(dedup):
            raise _bad_token("MessageDeduplicationId", dedup)
        key = queue.dedup_key(group, dedup)
        seen = queue.dedup.get(key)
        if seen is not None and seen.expires_at > now:
            return None, sent_answer(seen.message_id, body, attributes, system, seen.seq, True), None
    elif dedup is not None:
        raise _not_for_queue_type("MessageDeduplicationId", dedup)
    seq = queue.next_seq(now)
    message = msgs.Message(str(uuid.uuid4()), queue.arn, seq, body, attributes, system, group,
                           dedup if queue.fifo else None, sender_id, now,
                           now + (queue.number("DelaySeconds") if delay is None else delay))
    if key is not None:
        queue.dedup[key] = Dedup(message.id, seq, now + DEDUP_WINDOW_S)
    return message, sent_answer(message.id, body, attributes, system, seq, queue.fifo), key


def sent_answer(message_id: str, body: str, attributes: msgs.Attributes, system: msgs.Attributes, seq: int,
                fifo: bool) -> Sent:
    return Sent(message_id, msgs.md5_of_body(body), msgs.md5_of_attributes(attributes),
                msgs.md5_of_attributes(system), f"{seq:020d}" if fifo else None)


def _not_for_queue_type(parameter: str, value: object) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Value {value} for parameter {parameter} is invalid. Reason: The "
                                          "request include parameter that is not valid for this queue type.")


def _bad_token(parameter: str, value: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Value {value} for parameter {parameter} is invalid. Reason: {parameter} "
                                          "can only include alphanumeric and punctuation characters. 1 to 128 in "
                                          "length.")
