"""Queue attributes: names, defaults, the values each may take, and queue names.

Defaults and ranges are AWS's (SetQueueAttributes in the SQS API reference). Values travel as strings;
:func:`normalize` checks a request's attributes and returns them in their canonical spelling
(booleans lower case, RedrivePolicy as compact JSON) so that CreateQueue's "same attributes" test
compares meanings, not spellings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lamina.errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValueException

DEFAULTS: Mapping[str, str] = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    # New queues get SSE-SQS unless told otherwise (AWS's default since 2022).
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS: Mapping[str, str] = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
RANGES: Mapping[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
_BOOLEANS = frozenset({"SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication"})
_ENUMS: Mapping[str, frozenset[str]] = {
    "DeduplicationScope": frozenset({"messageGroup", "queue"}),
    "FifoThroughputLimit": frozenset({"perQueue", "perMessageGroupId"}),
}
_JSON_DOCUMENTS = frozenset({"Policy", "RedriveAllowPolicy"})
_FIFO_ONLY = frozenset({"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"})
SETTABLE = frozenset(RANGES) | _BOOLEANS | frozenset(_ENUMS) | _JSON_DOCUMENTS | {"RedrivePolicy", "KmsMasterKeyId"}
COMPUTED = frozenset({"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                      "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
                      "QueueArn"})
#: Every name GetQueueAttributes knows.
KNOWN = SETTABLE | COMPUTED | {"All"}

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
MAX_RECEIVE_COUNT = 1000


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    dead_letter_target_arn: str
    max_receive_count: int


def check_queue_name(name: str, fifo: bool) -> None:
    """AWS's rule: 1-80 of ``[A-Za-z0-9_-]``, and FIFO queues end in ``.fifo`` (counted in the 80)."""
    if fifo:
        stem = name[:-5] if name.endswith(".fifo") else None
        if stem is None or not stem or len(name) > 80 or not _NAME.fullmatch(stem):
            raise InvalidParameterValueException(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
                "must end with .fifo suffix and be 1 to 80 in length.")
    elif not _NAME.fullmatch(name):
        raise InvalidParameterValueException(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")


def normalize(attributes: Mapping[str, str], *, fifo: bool,
              queue_is_fifo: Callable[[str], bool | None]) -> dict[str, str]:
    """Check ``attributes`` of a (``fifo``) queue and return them canonically spelled.

    ``queue_is_fifo(arn)`` says whether a dead-letter target exists (None if not) and is FIFO.
    An empty RedrivePolicy, Policy or RedriveAllowPolicy means "remove it" and stays empty.
    """
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if name not in SETTABLE or (name in _FIFO_ONLY and not fifo):
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        out[name] = _normalize_one(name, value, fifo, queue_is_fifo)
    return out


def _normalize_one(name: str, value: str, fifo: bool, queue_is_fifo: Callable[[str], bool | None]) -> str:
    if name in RANGES:
        low, high = RANGES[name]
        try:
            number = int(value.strip())
        except ValueError:
            raise _invalid(name) from None
        if not low <= number <= high:
            raise _invalid(name)
        return str(number)
    if name in _BOOLEANS:
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise _invalid(name)
        if name == "FifoQueue" and (lowered == "true") != fifo:
            raise _invalid(name)
        return lowered
    if name in _ENUMS:
        if value not in _ENUMS[name]:
            raise _invalid(name)
        return value
    if name in _JSON_DOCUMENTS:
        if value and not isinstance(_json_object(value), dict):
            raise _invalid(name)
        return value
    if name == "RedrivePolicy":
        return _normalize_redrive(value, fifo, queue_is_fifo) if value else ""
    return value  # KmsMasterKeyId: any key id or alias


def _normalize_redrive(value: str, fifo: bool, queue_is_fifo: Callable[[str], bool | None]) -> str:
    document = _json_object(value)
    if not isinstance(document, dict):
        raise InvalidAttributeValue("Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is "
                                    "not a valid JSON map.")
    for key in ("deadLetterTargetArn", "maxReceiveCount"):
        if key not in document:
            raise _invalid_redrive(value, f"Redrive policy does not contain mandatory attribute: {key}.")
    target, count = document["deadLetterTargetArn"], document["maxReceiveCount"]
    try:
        receives = int(count)
    except (TypeError, ValueError):
        receives = 0
    if isinstance(count, bool) or not 1 <= receives <= MAX_RECEIVE_COUNT:
        raise _invalid_redrive(value, f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to "
                                      f"{MAX_RECEIVE_COUNT} both inclusive.")
    target_fifo = queue_is_fifo(target) if isinstance(target, str) else None
    if target_fifo is None:
        raise _invalid_redrive(value, "Dead letter target does not exist.")
    if target_fifo != fifo:
        raise _invalid_redrive(value, "Dead-letter queue type must match the source queue type.")
    return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": receives}, separators=(",", ":"))


def redrive_policy(attributes: Mapping[str, str]) -> RedrivePolicy | None:
    """The queue's parsed RedrivePolicy (attributes already normalized), or None."""
    text = attributes.get("RedrivePolicy")
    if not text:
        return None
    document = json.loads(text)
    return RedrivePolicy(str(document["deadLetterTargetArn"]), int(document["maxReceiveCount"]))


def _json_object(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _invalid(name: str) -> InvalidAttributeValue:
    return InvalidAttributeValue(f"Invalid value for the parameter {name}.")


def _invalid_redrive(value: str, reason: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}")
