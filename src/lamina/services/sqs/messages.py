"""SQS messages: the in-memory record, the checks a new message must pass, and AWS's digests.

Message attributes are ``{name: {"DataType": ..., "StringValue": str}}`` or ``{... "BinaryValue":
bytes}``, as the API carries them. Limits and wording are AWS's
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import re
import secrets
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import (
    InvalidMessageContents,
    InvalidParameterValueException,
    MissingRequiredParameterException,
    ReceiptHandleIsInvalid,
)

Attributes = dict[str, dict[str, Any]]

MAX_ATTRIBUTES = 10
#: The characters a body or string attribute may hold (XML 1.0's Char production).
_INVALID_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_TYPE_PREFIXES = ("String", "Number", "Binary")
_SYSTEM_ATTRIBUTES = frozenset({"AWSTraceHeader"})


@dataclass(slots=True, eq=False)
class Message:
    """One message of one queue. Mutable: its delivery state changes as it is received."""

    id: str
    queue_arn: str
    seq: int
    body: str
    attributes: Attributes
    system_attributes: Attributes
    group_id: str | None
    dedup_id: str | None
    sender_id: str
    sent_at: float
    visible_at: float
    receive_count: int = 0
    first_receive_at: float | None = None
    dead_letter_source: str | None = None
    #: When the current receive happened; the 12-hour visibility limit counts from it. Not stored:
    #: after a restart it falls back to the first receive, which only makes the limit stricter.
    received_at: float | None = None
    md5_of_body: str = field(init=False)

    def __post_init__(self) -> None:
        self.md5_of_body = md5_of_body(self.body)

    def in_flight(self, now: float) -> bool:
        return self.receive_count > 0 and self.visible_at > now

    def delayed(self, now: float) -> bool:
        return self.receive_count == 0 and self.visible_at > now


# --- digests --------------------------------------------------------------------------------------

def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """AWS's digest of message (or message system) attributes; None when there are none.

    The algorithm the SDKs verify (Java's ``MessageMD5ChecksumHandler``): for each attribute, sorted
    by name, the name, the data type and the value, each preceded by its length as a 4-byte
    big-endian integer, with a transport byte (1 = string, 2 = binary) before the value.
    """
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        _update(digest, name.encode())
        _update(digest, str(value["DataType"]).encode())
        if value.get("StringValue") is not None:
            digest.update(b"\x01")
            _update(digest, str(value["StringValue"]).encode())
        elif value.get("BinaryValue") is not None:
            digest.update(b"\x02")
            _update(digest, bytes(value["BinaryValue"]))
    return digest.hexdigest()


def _update(digest: Any, data: bytes) -> None:
    digest.update(struct.pack(">I", len(data)))
    digest.update(data)


# --- checks ---------------------------------------------------------------------------------------

def check_body(body: str | None) -> str:
    """The body, or AWS's error for a missing or ill-formed one."""
    if not body:
        raise MissingRequiredParameterException("The request must contain the parameter MessageBody.")
    if _INVALID_CHARS.search(body):
        raise InvalidMessageContents("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
                                     "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
    return body


def check_attributes(attributes: Mapping[str, Any] | None) -> Attributes:
    """Validated message (user) attributes, with the reserved list members dropped."""
    if not attributes:
        return {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidParameterValueException(f"Number of message attributes [{len(attributes)}] exceeds the "
                                             f"allowed maximum [{MAX_ATTRIBUTES}].")
    out: Attributes = {}
    for name, value in attributes.items():
        _check_name(name)
        out[name] = _check_value(name, value, "message (user) attribute")
    return out


def check_system_attributes(attributes: Mapping[str, Any] | None) -> Attributes:
    """Validated message system attributes (only ``AWSTraceHeader`` may be sent)."""
    if not attributes:
        return {}
    out: Attributes = {}
    for name, value in attributes.items():
        if name not in _SYSTEM_ATTRIBUTES:
            raise InvalidParameterValueException(f"Message system attribute name '{name}' is invalid.")
        checked = _check_value(name, value, "message system attribute")
        if checked["DataType"] != "String" or "StringValue" not in checked:
            raise InvalidParameterValueException(
                f"Message system attribute '{name}' must contain a non-empty value of type 'String'.")
        out[name] = checked
    return out


def _check_name(name: str) -> None:
    if len(name.encode()) >= 256:
        raise InvalidParameterValueException("Message (user) attribute names must be shorter than 256 Bytes")
    if not _ATTRIBUTE_NAME.fullmatch(name):
        raise InvalidParameterValueException(
            "Message (user) attributes name can only contain upper and lower score characters, digits, periods, "
            "hyphens and underscores. ")
    lowered = name.lower()
    if lowered.startswith(("aws.", "amazon.")):
        raise InvalidParameterValueException(f"Message (user) attribute name '{name}' is reserved for use by "
                                             "Amazon SQS. Names can't start with 'AWS.' or 'Amazon.'.")
    if name.startswith(".") or name.endswith(".") or ".." in name:
        raise InvalidParameterValueException(f"Message (user) attribute name '{name}' can't start or end with a "
                                             "period, or contain two periods in a row.")


def _check_value(name: str, value: Mapping[str, Any], kind: str) -> dict[str, Any]:
    data_type = value.get("DataType")
    if not data_type:
        raise InvalidParameterValueException(f"The {kind} '{name}' must contain a non-empty attribute type.")
    if len(data_type.encode()) > 256:
        raise InvalidParameterValueException(f"The type of {kind} '{name}' must be shorter than 256 bytes.")
    prefix = data_type.partition(".")[0]
    if prefix not in _TYPE_PREFIXES:
        raise InvalidParameterValueException(f"The type of {kind} '{name}' is invalid. You must use only the "
                                             "following supported type prefixes: Binary, Number, String.")
    text, blob = value.get("StringValue"), value.get("BinaryValue")
    if prefix == "Binary":
        if not blob:
            raise InvalidParameterValueException(
                f"{kind[0].upper()}{kind[1:]} '{name}' must contain a non-empty value of type 'Binary'.")
        return {"DataType": data_type, "BinaryValue": bytes(blob)}
    if not text:
        raise InvalidParameterValueException(
            f"{kind[0].upper()}{kind[1:]} '{name}' must contain a non-empty value of type '{prefix}'.")
    if _INVALID_CHARS.search(text):
        raise InvalidParameterValueException(f"{kind[0].upper()}{kind[1:]} '{name}' contains invalid characters.")
    if prefix == "Number" and not _is_number(text):
        raise InvalidParameterValueException(f"Can't cast the value of {kind} '{name}' to a number.")
    return {"DataType": data_type, "StringValue": text}


def _is_number(text: str) -> bool:
    # AWS: up to 38 significant digits, between 10^-128 and 10^+126.
    try:
        number = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return False
    if not number.is_finite():
        return False
    if number.is_zero():
        return True
    digits = len(number.normalize().as_tuple().digits)
    return digits <= 38 and -128 <= number.adjusted() <= 126


def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes counted against MaximumMessageSize: the body plus each attribute's name, type and value
    (attributes need not be checked yet: a batch's total is measured before its entries are)."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, value in attributes.items():
        size += len(name.encode("utf-8", "surrogatepass"))
        size += len(str(value.get("DataType") or "").encode("utf-8", "surrogatepass"))
        if value.get("BinaryValue") is not None:
            size += len(value["BinaryValue"])
        else:
            size += len(str(value.get("StringValue") or "").encode("utf-8", "surrogatepass"))
    return size


def select(attributes: Mapping[str, dict[str, Any]], names: Iterable[str]) -> Attributes:
    """The attributes a receive asked for: ``All`` (or ``.*``), exact names, or prefixes ``foo.*``."""
    wanted = list(names)
    if not wanted or not attributes:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(attributes)
    prefixes = tuple(name[:-1] for name in wanted if name.endswith(".*"))
    exact = set(wanted)
    return {name: value for name, value in attributes.items()
            if name in exact or (prefixes and name.startswith(prefixes))}


# --- receipt handles ----------------------------------------------------------------------------

def receipt_handle(queue_arn: str, message: Message) -> str:
    # Opaque to clients; names the queue, the message and which receive of it this was, so a handle
    # from an earlier receive is recognised as stale.
    raw = f"{queue_arn} {message.id} {message.receive_count} {secrets.token_hex(6)}"
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii")


def parse_receipt(queue_arn: str, handle: str) -> tuple[str, int]:
    try:
        raw = base64.b64decode(handle.encode("ascii"), altchars=b"-_", validate=True)
        arn, message_id, count, _ = raw.decode().split(" ")
        if arn == queue_arn:
            return message_id, int(count)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')


# --- storage form ---------------------------------------------------------------------------------

def attributes_to_json(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        item = dict(value)
        if "BinaryValue" in item:
            item["BinaryValue"] = base64.b64encode(item["BinaryValue"]).decode("ascii")
        out[name] = item
    return out


def attributes_from_json(stored: Mapping[str, Any]) -> Attributes:
    out: Attributes = {}
    for name, value in stored.items():
        item = dict(value)
        if "BinaryValue" in item:
            try:
                item["BinaryValue"] = base64.b64decode(item["BinaryValue"])
            except (binascii.Error, ValueError):
                item["BinaryValue"] = b""
        out[name] = item
    return out
