"""A function's result as an HTTP response, and the gateway's own error answers.

Rules from https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html:

- Payload 2.0 (HTTP APIs, function URLs): a JSON object with ``statusCode`` is a response
  (``statusCode``, ``headers``, ``cookies`` → one ``Set-Cookie`` each, ``body``,
  ``isBase64Encoded``). Anything else that is valid JSON is inferred: status 200,
  ``content-type: application/json``, and the body is the function's response — a JSON string
  is sent as its text (``"Hello"`` → ``Hello``), any other value as the JSON the function returned.
- Payload 1.0: the result must be such an object (with ``multiValueHeaders``, no ``cookies``);
  API Gateway infers nothing.

A result that breaks these rules raises :class:`MalformedResponse`; the trigger answers 502.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from lamina.triggers.gateway.http import GatewayResponse, json_response

JSON = "application/json"
# Framing is the server's business: a function may not set these.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class MalformedResponse(ValueError):
    """The function's result is not a response the payload format allows; the message says why."""


def internal_error() -> GatewayResponse:
    return json_response(502, {"message": "Internal Server Error"})


def server_error() -> GatewayResponse:
    """A fault of the API's configuration (its integration names a function that does not exist)."""
    return json_response(500, {"message": "Internal Server Error"})


def not_found() -> GatewayResponse:
    return json_response(404, {"message": "Not Found"})


def too_many_requests() -> GatewayResponse:
    return json_response(429, {"message": "Too Many Requests"})


def unavailable() -> GatewayResponse:
    """An HTTP API integration that outlived its TimeoutInMillis (HTTP APIs answer 503, REST APIs 504)."""
    return json_response(503, {"message": "Service Unavailable"})


def too_large() -> GatewayResponse:
    return json_response(413, {"message": "Request Entity Too Large"})


def response_v2(payload: bytes) -> GatewayResponse:
    """The HTTP response for a payload 2.0 result."""
    value = _decode(payload)
    if isinstance(value, dict) and "statusCode" in value:
        response = _structured(value, multi=False)
        for cookie in _cookies(value.get("cookies")):
            response.headers.append(("Set-Cookie", cookie))
        return response
    body = value.encode() if isinstance(value, str) else payload.strip()
    return GatewayResponse(200, [("Content-Type", JSON)], body)


def response_v1(payload: bytes) -> GatewayResponse:
    """The HTTP response for a payload 1.0 result."""
    value = _decode(payload)
    if not isinstance(value, dict) or "statusCode" not in value:
        raise MalformedResponse("payload 1.0 requires an object with statusCode")
    return _structured(value, multi=True)


def _decode(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        raise MalformedResponse("the function's result is not JSON") from None


def _structured(value: dict[str, Any], *, multi: bool) -> GatewayResponse:
    status = _status(value["statusCode"])
    headers: list[tuple[str, str]] = []
    singles = value.get("headers")
    if singles is not None:
        if not isinstance(singles, dict):
            raise MalformedResponse("headers must be an object")
        headers.extend((name, _header_value(item)) for name, item in singles.items())
    if multi and value.get("multiValueHeaders") is not None:
        multis = value["multiValueHeaders"]
        if not isinstance(multis, dict):
            raise MalformedResponse("multiValueHeaders must be an object")
        # Both given: for a name in multiValueHeaders, its list wins (API Gateway merges them so).
        names = {name.lower() for name in multis}
        headers = [(name, item) for name, item in headers if name.lower() not in names]
        for name, items in multis.items():
            if not isinstance(items, list):
                raise MalformedResponse("multiValueHeaders values must be lists")
            headers.extend((name, _header_value(item)) for item in items)
    for name, item in headers:
        if not isinstance(name, str) or not name or any(c in name for c in ":\r\n ") or "\n" in item or "\r" in item:
            raise MalformedResponse(f"invalid header {name!r}")
    headers = [(name, item) for name, item in headers if name.lower() not in _FRAMING]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", JSON))
    return GatewayResponse(status, headers, _body(value))


def _status(raw: Any) -> int:
    if isinstance(raw, bool):
        raise MalformedResponse("statusCode must be an integer")
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or not 100 <= raw <= 599:
        raise MalformedResponse(f"statusCode {raw!r} is not an HTTP status")
    return raw


def _header_value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return item
    if isinstance(item, int | float):
        return str(item)
    raise MalformedResponse("header values must be strings, numbers or booleans")


def _cookies(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, str) and "\n" not in c and "\r" not in c for c in raw):
        raise MalformedResponse("cookies must be a list of strings")
    return raw


def _body(value: dict[str, Any]) -> bytes:
    body = value.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse("body must be a string")
    encoded = value.get("isBase64Encoded", False)
    if encoded not in (True, False, None):
        raise MalformedResponse("isBase64Encoded must be a boolean")
    if not encoded:
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedResponse("isBase64Encoded is true but body is not base64") from None
