"""Events for HTTP triggers: API Gateway payload format 2.0 (HTTP APIs and function URLs) and 1.0.

Shapes and field rules copy
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
and https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads:

- 2.0: header names lower-cased, repeated headers joined with commas; ``Cookie`` headers move to
  ``cookies`` (one entry per cookie); repeated query keys joined with commas; optional members
  (``cookies``, ``queryStringParameters``, ``pathParameters``, ``stageVariables``, ``body``) are left
  out when empty.
- 1.0: ``headers``/``queryStringParameters`` hold the last value of a repeated name and
  ``multiValueHeaders``/``multiValueQueryStringParameters`` every value; empty members are ``null``.
- Both: the platform adds ``x-forwarded-for`` (the client's address appended), ``x-forwarded-port``,
  ``x-forwarded-proto`` and ``x-amzn-trace-id`` as API Gateway does; a body is base64-encoded unless
  its Content-Type is text (:func:`lamina.triggers.gateway.http.is_text`) and it is valid UTF-8.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.triggers.gateway.http import GatewayRequest, is_text, multi_headers, query_pairs

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DROPPED = frozenset({"connection"})


@dataclass(frozen=True, slots=True)
class EventContext:
    """What the trigger knows beside the request: who serves it, which route and stage matched.

    ``time`` is epoch seconds. ``route_key`` is the matched route (``GET /items/{id}``) or
    ``$default``; ``resource_path`` its path part (payload 1.0 ``resource``). ``authorizer`` is the
    2.0 ``requestContext.authorizer`` object (function URLs with AWS_IAM fill ``iam``).
    """

    account_id: str
    api_id: str
    domain_name: str
    request_id: str
    time: float
    trace_header: str
    stage: str = "$default"
    route_key: str = "$default"
    resource_path: str = "$default"
    path_parameters: Mapping[str, str] | None = None
    stage_variables: Mapping[str, str] | None = None
    authorizer: Mapping[str, Any] | None = None
    port: int = 80


def request_time(epoch: float) -> str:
    """``12/Mar/2020:19:03:58 +0000``: API Gateway's CLF time, always in English and UTC."""
    return _clf(int(epoch))


@functools.lru_cache(maxsize=4)
def _clf(second: int) -> str:
    # Every request in the same second shares the string.
    t = time.gmtime(second)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def body_of(request: GatewayRequest, content_type: str | None) -> tuple[str | None, bool]:
    """The event's ``body`` and ``isBase64Encoded`` for a request with this Content-Type."""
    if not request.body:
        return None, False
    if is_text(content_type):
        try:
            return request.body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _add_platform_headers(headers: dict[str, str], request: GatewayRequest, ctx: EventContext) -> None:
    forwarded = headers.get("x-forwarded-for")
    headers["x-amzn-trace-id"] = ctx.trace_header
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers["x-forwarded-port"] = str(ctx.port)
    headers["x-forwarded-proto"] = "http"


def event_v2(request: GatewayRequest, ctx: EventContext) -> dict[str, Any]:
    """The payload format 2.0 event (HTTP APIs; function URLs with ``routeKey`` ``$default``)."""
    # One pass over the header lines: join repeats, take the cookies out.
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        if name in headers:
            headers[name] = f"{headers[name]},{value}"
        elif name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        elif name not in _DROPPED:
            headers[name] = value
    content_type = headers.get("content-type")
    _add_platform_headers(headers, request, ctx)
    context: dict[str, Any] = {
        "accountId": ctx.account_id,
        "apiId": ctx.api_id,
        "domainName": ctx.domain_name,
        "domainPrefix": ctx.api_id,
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": ctx.request_id,
        "routeKey": ctx.route_key,
        "stage": ctx.stage,
        "time": request_time(ctx.time),
        "timeEpoch": int(ctx.time * 1000),
    }
    if ctx.authorizer is not None:
        context["authorizer"] = dict(ctx.authorizer)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": ctx.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.query:
        params: dict[str, str] = {}
        for key, value in query_pairs(request.query):
            params[key] = f"{params[key]},{value}" if key in params else value
        if params:
            event["queryStringParameters"] = params
    event["requestContext"] = context
    if ctx.path_parameters:
        event["pathParameters"] = dict(ctx.path_parameters)
    if ctx.stage_variables:
        event["stageVariables"] = dict(ctx.stage_variables)
    body, encoded = body_of(request, content_type)
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


def event_v1(request: GatewayRequest, ctx: EventContext) -> dict[str, Any]:
    """The payload format 1.0 event (the REST API proxy shape, as HTTP APIs send it)."""
    multi = {name: values for name, values in multi_headers(request).items() if name not in _DROPPED}
    added: dict[str, str] = {}
    if "x-forwarded-for" in multi:
        added["x-forwarded-for"] = ",".join(multi["x-forwarded-for"])
    _add_platform_headers(added, request, ctx)
    for name, value in added.items():
        multi[name] = [value]
    headers = {name: values[-1] for name, values in multi.items()}
    multi_query: dict[str, list[str]] = {}
    for key, value in query_pairs(request.query):
        multi_query.setdefault(key, []).append(value)
    body, encoded = body_of(request, headers.get("content-type"))
    return {
        "version": "1.0",
        "resource": ctx.resource_path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": ctx.account_id,
            "apiId": ctx.api_id,
            "domainName": ctx.domain_name,
            "domainPrefix": ctx.api_id,
            "extendedRequestId": ctx.request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None, "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                "principalOrgId": None, "sourceIp": request.source_ip, "user": None,
                "userAgent": headers.get("user-agent", ""), "userArn": None,
            },
            "path": request.path,
            "protocol": request.protocol,
            "requestId": ctx.request_id,
            "requestTime": request_time(ctx.time),
            "requestTimeEpoch": int(ctx.time * 1000),
            "resourceId": None,
            "resourcePath": ctx.resource_path,
            "stage": ctx.stage,
        },
        "pathParameters": dict(ctx.path_parameters) if ctx.path_parameters else None,
        "stageVariables": dict(ctx.stage_variables) if ctx.stage_variables else None,
        "body": body,
        "isBase64Encoded": encoded,
    }
