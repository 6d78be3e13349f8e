"""Function results as HTTP responses: payload 2.0 inference, structured responses, 1.0, malformed."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lamina.triggers.gateway.responses import MalformedResponse, response_v1, response_v2


def v2(value: Any) -> Any:
    return response_v2(json.dumps(value).encode())


def test_a_string_without_status_is_200_json_with_the_string_as_body() -> None:
    response = v2("Hello from Lambda!")
    assert (response.status, response.headers, response.body) == (
        200, [("Content-Type", "application/json")], b"Hello from Lambda!")


@pytest.mark.parametrize("value", [{"message": "Hello"}, [1, 2], 42, True, None, {"body": "x"}])
def test_other_json_without_status_is_the_json_itself(value: Any) -> None:
    payload = json.dumps(value).encode()
    response = response_v2(payload)
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body) == value


def test_structured_response_maps_every_field() -> None:
    response = v2({"statusCode": 201, "headers": {"Content-Type": "text/html", "X-Count": 3, "X-Flag": True},
                   "cookies": ["a=1; Path=/", "b=2"], "body": "<p>hi</p>", "isBase64Encoded": False})
    assert response.status == 201
    assert response.headers == [("Content-Type", "text/html"), ("X-Count", "3"), ("X-Flag", "true"),
                                ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2")]
    assert response.body == b"<p>hi</p>"


def test_base64_bodies_are_decoded() -> None:
    raw = bytes(range(256))
    response = v2({"statusCode": 200, "headers": {"content-type": "image/png"},
                   "body": base64.b64encode(raw).decode(), "isBase64Encoded": True})
    assert response.body == raw
    assert response.header("Content-Type") == "image/png"


def test_structured_without_body_or_content_type() -> None:
    response = v2({"statusCode": 204})
    assert (response.status, response.body) == (204, b"")
    assert response.header("content-type") == "application/json"


def test_framing_headers_from_the_function_are_dropped() -> None:
    response = v2({"statusCode": 200, "headers": {"Content-Length": "999", "Transfer-Encoding": "chunked"},
                   "body": "x"})
    assert response.header("content-length") is None
    assert response.header("transfer-encoding") is None


def test_a_numeric_string_status_is_accepted() -> None:
    assert v2({"statusCode": "404", "body": ""}).status == 404


@pytest.mark.parametrize("value", [
    {"statusCode": "abc"},
    {"statusCode": 99},
    {"statusCode": 600},
    {"statusCode": True},
    {"statusCode": 200, "body": {"an": "object"}},
    {"statusCode": 200, "body": "!!!", "isBase64Encoded": True},
    {"statusCode": 200, "headers": ["x"]},
    {"statusCode": 200, "headers": {"x": {"nested": 1}}},
    {"statusCode": 200, "headers": {"x": "a\r\nInjected: yes"}},
    {"statusCode": 200, "headers": {"bad name": "x"}},
    {"statusCode": 200, "cookies": "a=1"},
    {"statusCode": 200, "isBase64Encoded": "yes", "body": "x"},
])
def test_malformed_v2_responses_raise(value: Any) -> None:
    with pytest.raises(MalformedResponse):
        v2(value)


def test_a_result_that_is_not_json_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        response_v2(b"not json")


def test_v1_requires_a_status_code() -> None:
    for value in ("Hello", {"body": "x"}, [1]):
        with pytest.raises(MalformedResponse):
            response_v1(json.dumps(value).encode())


def test_v1_merges_headers_and_multi_value_headers() -> None:
    response = response_v1(json.dumps({
        "statusCode": 200, "headers": {"X-One": "1", "X-Both": "single"},
        "multiValueHeaders": {"X-Both": ["m1", "m2"], "Set-Cookie": ["a=1", "b=2"]}, "body": "ok",
    }).encode())
    assert response.headers == [("X-One", "1"), ("X-Both", "m1"), ("X-Both", "m2"), ("Set-Cookie", "a=1"),
                                ("Set-Cookie", "b=2"), ("Content-Type", "application/json")]
    assert response.body == b"ok"


def test_v1_ignores_cookies_member() -> None:
    response = response_v1(json.dumps({"statusCode": 200, "cookies": ["a=1"], "body": ""}).encode())
    assert response.header("set-cookie") is None
