"""Typed values ⇄ wire values, driven by botocore shapes; shared by the JSON-speaking protocols.

Parsed (typed) values: ``int`` for integer/long, ``float`` for float/double, ``bool``, ``str``,
``bytes`` for blobs, timezone-aware UTC ``datetime`` for timestamps, dicts and lists for
structures/maps/lists. JSON documents and ``jsonvalue`` headers become plain JSON values.

The ``from_*`` functions raise :class:`ShapeError` with a sentence for the client; the protocol
chooses which AWS error carries it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.model import Shape

UTC = datetime.UTC
ISO8601 = "iso8601"
RFC822 = "rfc822"
UNIX = "unixtimestamp"

# Names in Jackson's messages ("Cannot deserialize value of type `int` from String"), which is what
# AWS's Java front ends answer and what users search for.
_JAVA_TYPES = {"string": "String", "integer": "int", "long": "long", "float": "float", "double": "double",
               "boolean": "boolean", "blob": "byte[]", "timestamp": "Date", "list": "List", "map": "Map"}


class ShapeError(ValueError):
    """A wire value does not fit its shape; ``str(error)`` is the sentence for the client."""


# --- JSON bodies ------------------------------------------------------------------------------------

def from_json(shape: Shape, value: Any, path: str = "") -> Any:
    """Convert a decoded JSON value to the typed value of ``shape``; None stays None.

    Unknown members are ignored, as AWS's front ends ignore them. Members bound to a location
    (uri, header ...) are not read from a body even when present there.
    """
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return value
        if not isinstance(value, dict):
            raise _mismatch(shape, value, path)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            if "location" in member.serialization:
                continue
            item = value.get(member.serialization.get("name", name))
            if item is not None:
                out[name] = from_json(member, item, f"{path}.{name}" if path else name)
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _mismatch(shape, value, path)
        return [from_json(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _mismatch(shape, value, path)
        return {k: from_json(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    return _scalar_from_json(shape, kind, value, path)


def _scalar_from_json(shape: Shape, kind: str, value: Any, path: str) -> Any:
    if kind == "string":
        if isinstance(value, str):
            return value
    elif kind in ("integer", "long"):
        if type(value) is int:
            return value
        # Jackson accepts 1.0 for an int; a fraction is an error.
        if type(value) is float and value.is_integer():
            return int(value)
    elif kind in ("float", "double"):
        if type(value) in (int, float):
            return float(value)
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            return float(value)
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif kind == "blob":
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ShapeError(f"Cannot deserialize value of type byte[] from String {_show(value)}: "
                                 f"not valid Base64{_at(path)}") from None
    elif kind == "timestamp":
        if type(value) in (int, float):
            return datetime.datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            return parse_timestamp(value, shape.serialization.get("timestampFormat", UNIX), path)
    else:  # a type this module does not know yet: pass it through untouched
        return value
    raise _mismatch(shape, value, path)


def to_json(shape: Shape, value: Any) -> Any:
    """The JSON-ready form of a typed value: blobs base64, timestamps per the shape's format
    (epoch seconds by default, as AWS's JSON protocols send them). Members bound to a location
    and None values are left out."""
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return value
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None and "location" not in member.serialization:
                out[member.serialization.get("name", name)] = to_json(member, item)
        return out
    if kind == "list":
        return [to_json(shape.member, item) for item in value]
    if kind == "map":
        return {k: to_json(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    if kind == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", UNIX))
    if kind in ("float", "double") and isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _mismatch(shape: Shape, value: Any, path: str) -> ShapeError:
    kind = shape.type_name
    target = shape.name if kind == "structure" else _JAVA_TYPES.get(kind, kind)
    return ShapeError(f"Cannot deserialize value of type {target} from {_json_kind(value)}{_at(path)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"Boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"Number {value}"
    if isinstance(value, str):
        return f"String {_show(value)}"
    return "Array" if isinstance(value, list) else "Object"


def _show(text: str) -> str:
    # Never echo a multi-megabyte value back into an error message.
    return json.dumps(text if len(text) <= 64 else text[:64] + "...")


def _at(path: str) -> str:
    return f" at '{path}'" if path else ""


# --- header, query string and uri values ----------------------------------------------------------

def from_text(shape: Shape, text: str, path: str, default_timestamp: str) -> Any:
    """Parse one header / query / uri value. ``default_timestamp`` is the location's format
    (rfc822 for headers, iso8601 for query and uri) unless the member names its own."""
    kind = shape.type_name
    try:
        if kind == "string":
            if shape.serialization.get("jsonvalue"):
                return json.loads(base64.b64decode(text, validate=True))
            return text
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
        elif kind == "timestamp":
            return parse_timestamp(text, shape.serialization.get("timestampFormat", default_timestamp), path)
        elif kind == "blob":
            return base64.b64decode(text, validate=True)
        elif kind == "list":
            items = split_header_list(text)
            return [from_text(shape.member, item, path, default_timestamp) for item in items]
        else:
            return text
    except (ValueError, binascii.Error):
        pass
    raise ShapeError(f"Cannot deserialize value of type {_JAVA_TYPES.get(kind, kind)} "
                     f"from String {_show(text)}{_at(path)}")


def to_text(shape: Shape, value: Any, default_timestamp: str) -> str:
    """Format one header / query value the way botocore's serializers do."""
    kind = shape.type_name
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode("ascii")
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", default_timestamp)))
    if kind == "list":
        items = [to_text(shape.member, item, default_timestamp) for item in value if item is not None]
        return ",".join(_quote_list_item(i) if shape.member.type_name == "string" else i for i in items)
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    if kind in ("float", "double") and isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return str(value)


def split_header_list(text: str) -> list[str]:
    """Split an RFC 7230 list header; items with ``,`` or ``"`` arrive quoted with ``\\"`` escapes."""
    if '"' not in text:
        return [item.strip() for item in text.split(",")]
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return items


def _quote_list_item(item: str) -> str:
    return '"' + item.replace('"', '\\"') + '"' if ('"' in item or "," in item) else item


# --- timestamps -----------------------------------------------------------------------------------

def parse_timestamp(text: str, fmt: str, path: str = "") -> datetime.datetime:
    """Parse a timestamp in ``fmt`` (iso8601 / rfc822 / unixTimestamp, any case); the other two
    forms are accepted as well, as botocore's own parser accepts them."""
    fmt = fmt.lower()
    for candidate in (fmt, *(f for f in (ISO8601, UNIX, RFC822) if f != fmt)):
        try:
            if candidate == UNIX:
                return datetime.datetime.fromtimestamp(float(text), UTC)
            if candidate == ISO8601:
                parsed = datetime.datetime.fromisoformat(text)
            else:
                parsed = email.utils.parsedate_to_datetime(text)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, TypeError, OverflowError, OSError):
            continue
    raise ShapeError(f"Cannot deserialize value of type Date from String {_show(text)}{_at(path)}")


def format_timestamp(value: Any, fmt: str) -> str | int | float:
    """Format a datetime (naive means UTC), epoch number or ISO string in ``fmt``."""
    when = _as_datetime(value)
    fmt = fmt.lower()
    if fmt == UNIX:
        seconds = when.timestamp()
        return int(seconds) if when.microsecond == 0 else seconds
    if fmt == RFC822:
        return email.utils.format_datetime(when.replace(microsecond=0), usegmt=True)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{when.microsecond:06d}Z" if when.microsecond else f"{text}Z"


def _as_datetime(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        return parse_timestamp(value, ISO8601)
    raise TypeError(f"not a timestamp: {value!r}")


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for unmodelled extras (error fields): datetimes and bytes."""
    if isinstance(value, datetime.datetime):
        return format_timestamp(value, UNIX)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
