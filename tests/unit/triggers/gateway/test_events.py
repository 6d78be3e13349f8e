"""Payload 1.0 and 2.0 events, checked field by field and against Powertools' parser models."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
    LambdaFunctionUrlModel,
)

from lamina.triggers.gateway.events import EventContext, event_v1, event_v2, request_time
from lamina.triggers.gateway.http import GatewayRequest, is_text

TRACE = "Root=1-5e1b4151-5ac6c58f6ae3a1b5b1f5a8d1"
NOW = 1583348638.390


def request(**changes: Any) -> GatewayRequest:
    values: dict[str, Any] = {
        "method": "POST", "path": "/my/path", "query": "parameter1=value1&parameter1=value2&parameter2=value",
        "headers": (("host", "abc.lambda-url.us-east-1.localhost:4566"), ("user-agent", "agent/1.0"),
                    ("header2", "value1"), ("header2", "value2"), ("cookie", "cookie1=a; cookie2=b"),
                    ("content-type", "application/json"), ("connection", "keep-alive")),
        "body": b'{"hello": "world"}', "source_ip": "192.0.2.1",
    }
    values.update(changes)
    return GatewayRequest(**values)


def context(**changes: Any) -> EventContext:
    values: dict[str, Any] = {"account_id": "anonymous", "api_id": "abc", "request_id": "id-1", "time": NOW,
                              "domain_name": "abc.lambda-url.us-east-1.localhost", "trace_header": TRACE,
                              "port": 4566}
    values.update(changes)
    return EventContext(**values)


def test_request_time_is_english_clf_in_utc() -> None:
    assert request_time(NOW) == "04/Mar/2020:19:03:58 +0000"
    assert request_time(0) == "01/Jan/1970:00:00:00 +0000"


def test_v2_event_for_a_function_url_is_exactly_awss_shape() -> None:
    event = event_v2(request(), context())
    assert event == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/my/path",
        "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
        "cookies": ["cookie1=a", "cookie2=b"],
        "headers": {
            "host": "abc.lambda-url.us-east-1.localhost:4566", "user-agent": "agent/1.0", "header2": "value1,value2",
            "content-type": "application/json", "x-amzn-trace-id": TRACE, "x-forwarded-for": "192.0.2.1",
            "x-forwarded-port": "4566", "x-forwarded-proto": "http",
        },
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.localhost",
            "domainPrefix": "abc",
            "http": {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                     "userAgent": "agent/1.0"},
            "requestId": "id-1", "routeKey": "$default", "stage": "$default",
            "time": "04/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390,
        },
        "body": '{"hello": "world"}',
        "isBase64Encoded": False,
    }
    LambdaFunctionUrlModel(**event)
    APIGatewayProxyEventV2Model(**event)


def test_v2_leaves_out_empty_optional_members() -> None:
    event = event_v2(request(method="GET", query="", headers=(("host", "h"),), body=b""), context())
    for member in ("cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"):
        assert member not in event
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["userAgent"] == ""
    LambdaFunctionUrlModel(**event)


def test_v2_carries_route_stage_parameters_and_variables_for_http_apis() -> None:
    ctx = context(account_id="000000000000", route_key="GET /items/{id}", stage="prod",
                  path_parameters={"id": "42"}, stage_variables={"table": "items"})
    event = event_v2(request(method="GET", path="/prod/items/42"), ctx)
    assert event["routeKey"] == "GET /items/{id}"
    assert event["requestContext"]["routeKey"] == "GET /items/{id}"
    assert event["requestContext"]["stage"] == "prod"
    assert event["rawPath"] == "/prod/items/42"
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] == {"table": "items"}
    APIGatewayProxyEventV2Model(**event)


@pytest.mark.parametrize(("content_type", "text"), [
    ("application/json", True), ("application/json; charset=utf-8", True), ("text/html", True),
    ("application/problem+json", True), ("application/atom+xml", True), ("APPLICATION/XML", True),
    ("application/octet-stream", False), ("image/png", False), ("application/x-www-form-urlencoded", False),
    ("multipart/form-data; boundary=x", False), (None, False), ("", False),
])
def test_text_content_types(content_type: str | None, text: bool) -> None:
    assert is_text(content_type) is text


def test_binary_bodies_are_base64_encoded() -> None:
    raw = bytes(range(256))
    event = event_v2(request(headers=(("content-type", "application/octet-stream"),), body=raw), context())
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_a_text_type_that_is_not_utf8_is_base64_encoded() -> None:
    event = event_v2(request(headers=(("content-type", "text/plain"),), body=b"\xff\xfe"), context())
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_forwarded_for_appends_the_client_address() -> None:
    event = event_v2(request(headers=(("x-forwarded-for", "203.0.113.9"),)), context())
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9, 192.0.2.1"


def test_a_trace_header_from_the_client_is_kept() -> None:
    event = event_v2(request(headers=(("x-amzn-trace-id", TRACE),)), context())
    assert event["headers"]["x-amzn-trace-id"] == TRACE


def test_query_values_are_decoded_and_blank_values_kept() -> None:
    event = event_v2(request(query="a=x%20y&b=&c&d=1+2"), context())
    assert event["queryStringParameters"] == {"a": "x y", "b": "", "c": "", "d": "1 2"}
    assert event["rawQueryString"] == "a=x%20y&b=&c&d=1+2"


def test_iam_authorizer_is_in_the_request_context() -> None:
    identity = {"accessKey": "AKID", "accountId": "000000000000", "callerId": "AKID", "cognitoIdentity": None,
                "principalOrgId": None, "userArn": "arn:aws:iam::000000000000:root", "userId": "AKID"}
    event = event_v2(request(), context(authorizer={"iam": identity}, account_id="000000000000"))
    assert event["requestContext"]["authorizer"] == {"iam": identity}
    LambdaFunctionUrlModel(**event)


def test_v1_event_is_exactly_awss_shape() -> None:
    ctx = context(account_id="000000000000", api_id="a1b2c3d4e5", domain_name="a1b2c3d4e5.execute-api.localhost",
                  route_key="POST /my/{thing}", resource_path="/my/{thing}", path_parameters={"thing": "path"})
    event = event_v1(request(), ctx)
    headers = {"host": "abc.lambda-url.us-east-1.localhost:4566", "user-agent": "agent/1.0", "header2": "value2",
               "cookie": "cookie1=a; cookie2=b", "content-type": "application/json", "x-amzn-trace-id": TRACE,
               "x-forwarded-for": "192.0.2.1", "x-forwarded-port": "4566", "x-forwarded-proto": "http"}
    assert event == {
        "version": "1.0",
        "resource": "/my/{thing}",
        "path": "/my/path",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: ["value1", "value2"] if name == "header2" else [value]
                              for name, value in headers.items()},
        "queryStringParameters": {"parameter1": "value2", "parameter2": "value"},
        "multiValueQueryStringParameters": {"parameter1": ["value1", "value2"], "parameter2": ["value"]},
        "requestContext": {
            "accountId": "000000000000", "apiId": "a1b2c3d4e5", "domainName": "a1b2c3d4e5.execute-api.localhost",
            "domainPrefix": "a1b2c3d4e5", "extendedRequestId": "id-1", "httpMethod": "POST",
            "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
                         "cognitoAuthenticationType": None, "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                         "principalOrgId": None, "sourceIp": "192.0.2.1", "user": None, "userAgent": "agent/1.0",
                         "userArn": None},
            "path": "/my/path", "protocol": "HTTP/1.1", "requestId": "id-1",
            "requestTime": "04/Mar/2020:19:03:58 +0000", "requestTimeEpoch": 1583348638390, "resourceId": None,
            "resourcePath": "/my/{thing}", "stage": "$default",
        },
        "pathParameters": {"thing": "path"},
        "stageVariables": None,
        "body": '{"hello": "world"}',
        "isBase64Encoded": False,
    }
    APIGatewayProxyEventModel(**event)


def test_v1_empty_members_are_null() -> None:
    event = event_v1(request(method="GET", query="", body=b"", headers=()), context(account_id="000000000000"))
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    APIGatewayProxyEventModel(**event)
