"""botocore as the independent other side of the wire: its serializer builds requests, its parser
reads responses, and :func:`sample` invents parameter values that satisfy a shape's constraints."""

from __future__ import annotations

import datetime
import re
import warnings
from typing import Any

from lamina.aws.http import HttpRequest, HttpResponse
from lamina.aws.model import service_model


def botocore_request(service: str, operation: str, params: dict[str, Any]) -> HttpRequest:
    """The request botocore itself would send for ``params`` (its serializer, no validation)."""
    from botocore.serialize import create_serializer
    from botocore.utils import percent_encode_sequence

    model = service_model(service)
    protocol = model.metadata["protocol"]
    wire = create_serializer(protocol, include_validation=False).serialize_to_request(
        params, model.operation_model(operation))
    path, _, literal = wire["url_path"].partition("?")
    query = "&".join(part for part in (literal, percent_encode_sequence(wire["query_string"])) if part)
    body = wire["body"].encode() if isinstance(wire["body"], str) else (wire["body"] or b"")
    headers = {name.lower(): str(value) for name, value in wire["headers"].items()}
    return HttpRequest(wire["method"], path, query, headers, body)


def botocore_parse(service: str, operation: str, response: HttpResponse) -> dict[str, Any]:
    """What botocore's own response parser makes of ``response`` (success or error)."""
    from botocore.awsrequest import HeadersDict
    from botocore.parsers import create_parser

    model = service_model(service)
    parsed: dict[str, Any] = create_parser(model.metadata["protocol"]).parse(
        {"status_code": response.status, "headers": HeadersDict(response.headers), "body": response.body},
        model.operation_model(operation).output_shape)
    return parsed


# Strings tried, in order, against a shape's pattern and length bounds.
_CANDIDATES = (
    "abc", "my-fn", "a", "1", "$LATEST", "ABC", "a1", "prod", "abcdefghijkl",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn",
    "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:1",
    "arn:aws:iam::123456789012:role/lambda-role",
    "arn:aws:sqs:us-east-1:123456789012:queue", "123456789012", "us-east-1", "sg-12345678",
    "subnet-12345678", "s3-bucket", "2026-01-02", "0123456789abcdef0123456789abcdef",
    "01234567-89ab-cdef-0123-456789abcdef", "lambda:GetLayerVersion", "lambda:InvokeFunction",
    "host.example.com:443", "arn:aws:lambda:us-east-1::runtime:abc",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn:1/durable-execution/a/b",
    "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdefg",
    "arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/fsap-0123456789abcdef0",
)
STAMP = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


class NoSample(Exception):
    """No candidate value satisfies the shape's constraints."""


def sample(shape: Any, depth: int = 0) -> Any:
    """A value for ``shape`` that satisfies its min/max/pattern/enum (or raise NoSample)."""
    meta, kind = shape.metadata, shape.type_name
    if meta.get("document"):
        return {"a": [1, "x"]}
    if kind == "structure":
        required = set(shape.required_members)
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            if (depth > 3 and name not in required) or (meta.get("union") and out):
                continue
            if member.serialization.get("location") == "headers":
                out[name] = {"k": "v"}
            elif member.serialization.get("location") == "querystring" and member.type_name == "map":
                out[name] = {"zz": ["v", "w"] if member.value.type_name == "list" else "v"}
            else:
                out[name] = sample(member, depth + 1)
        return out
    if kind == "list":
        return [sample(shape.member, depth + 1)] * max(1, meta.get("min", 1))
    if kind == "map":
        return {sample(shape.key, depth + 1): sample(shape.value, depth + 1)}
    if kind == "string":
        if shape.serialization.get("jsonvalue") and shape.serialization.get("location") == "header":
            return {"j": [1, 2]}
        if "enum" in meta:
            return meta["enum"][0]
        for text in _CANDIDATES:
            fits = meta.get("min", 0) <= len(text) <= meta.get("max", 1 << 30)
            if fits and ("pattern" not in meta or _fullmatch(meta["pattern"], text)):
                return text
        raise NoSample(shape.name)
    if kind in ("integer", "long"):
        return int(meta.get("min", 1)) if meta.get("min", 1) <= meta.get("max", 1 << 62) else 0
    if kind in ("float", "double"):
        return float(meta.get("min", 1.5))
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"ab\x01" * max(1, meta.get("min", 1))
    if kind == "timestamp":
        return STAMP
    raise NoSample(kind)


def _fullmatch(pattern: str, text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Java-style classes like [a-z-_]
            return re.fullmatch(pattern, text) is not None
    except re.error:
        return True
