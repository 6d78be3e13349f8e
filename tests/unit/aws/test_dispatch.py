"""The dispatcher end to end without sockets: HttpRequest in, HttpResponse out, a provider between."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from lamina.aws.dispatch import Dispatcher, new_request_id
from lamina.aws.http import HttpRequest, HttpResponse
from lamina.aws.protocol import OperationCall, RequestContext
from lamina.aws.restjson import RestJsonProtocol
from lamina.errors import AwsError, ResourceNotFoundException

from .wire import botocore_parse

AUTH = ("AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00")


class Provider:
    """Stands in for a service provider: records calls, answers canned outputs."""

    def __init__(self) -> None:
        self.calls: list[tuple[RequestContext, dict[str, Any]]] = []

    async def invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((ctx, params))
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": b'{"ok": true}'}

    async def get_account_settings(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((ctx, params))
        return {"AccountLimit": {"ConcurrentExecutions": 1000}}

    async def get_function(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise ResourceNotFoundException(f"Function not found: {params['FunctionName']}")

    async def delete_function(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        self.calls.append((ctx, params))

    async def list_functions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    # Not a coroutine method: attributes that merely share a name are not operations.
    get_alias = "not callable"


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def dispatcher(lambda_protocol: RestJsonProtocol, provider: Provider) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.register("lambda", lambda_protocol, provider)
    return dispatcher


def handle(dispatcher: Dispatcher, request: HttpRequest) -> HttpResponse:
    return asyncio.run(dispatcher.handle(request, default_region="eu-west-1", account_id="123456789012",
                                         endpoint="http://127.0.0.1:4566"))


def invoke_request(**headers: str) -> HttpRequest:
    return HttpRequest("POST", "/2015-03-31/functions/my-fn/invocations", "Qualifier=%24LATEST",
                       {"x-amz-invocation-type": "RequestResponse", **headers}, b'{"a": 1}')


def test_invoke_reaches_the_provider(dispatcher: Dispatcher, provider: Provider) -> None:
    response = handle(dispatcher, invoke_request())
    assert response.status == 200
    assert response.body == b'{"ok": true}'
    assert response.header("X-Amz-Executed-Version") == "$LATEST"
    [(ctx, params)] = provider.calls
    assert params == {"FunctionName": "my-fn", "Qualifier": "$LATEST", "InvocationType": "RequestResponse",
                      "Payload": b'{"a": 1}'}
    assert (ctx.region, ctx.account_id, ctx.service, ctx.endpoint) == (
        "eu-west-1", "123456789012", "lambda", "http://127.0.0.1:4566")
    assert response.header("x-amzn-RequestId") == ctx.request_id
    assert uuid.UUID(ctx.request_id).version == 4
    assert str(uuid.UUID(ctx.request_id)) == ctx.request_id


def test_region_comes_from_the_credential_scope(dispatcher: Dispatcher, provider: Provider) -> None:
    handle(dispatcher, invoke_request(authorization=AUTH.format(region="us-west-2", service="lambda")))
    assert provider.calls[0][0].region == "us-west-2"


def test_request_ids_are_uuid4() -> None:
    for _ in range(1000):
        parsed = uuid.UUID(new_request_id())
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_request_ids_are_fresh(dispatcher: Dispatcher) -> None:
    request = HttpRequest("GET", "/2016-08-19/account-settings")
    first, second = handle(dispatcher, request), handle(dispatcher, request)
    assert first.header("x-amzn-RequestId") != second.header("x-amzn-RequestId")
    assert json.loads(first.body) == {"AccountLimit": {"ConcurrentExecutions": 1000}}


def test_empty_output(dispatcher: Dispatcher, provider: Provider) -> None:
    response = handle(dispatcher, HttpRequest("DELETE", "/2015-03-31/functions/my-fn"))
    assert response.status == 200
    assert provider.calls[0][1] == {"FunctionName": "my-fn"}


def test_aws_error_from_the_provider(dispatcher: Dispatcher) -> None:
    response = handle(dispatcher, HttpRequest("GET", "/2015-03-31/functions/nope"))
    assert response.status == 404
    assert json.loads(response.body) == {"Type": "User", "Message": "Function not found: nope"}
    parsed = botocore_parse("lambda", "GetFunction", response)
    assert parsed["Error"]["Code"] == "ResourceNotFoundException"
    assert parsed["ResponseMetadata"]["RequestId"] == response.header("x-amzn-RequestId")


def test_validation_error_never_reaches_the_provider(dispatcher: Dispatcher, provider: Provider) -> None:
    response = handle(dispatcher, invoke_request(**{"x-amz-log-type": "Verbose"}))
    assert response.status == 400
    assert response.header("x-amzn-ErrorType") == "ValidationException"
    assert json.loads(response.body)["message"].startswith("1 validation error detected: Value 'Verbose' at "
                                                           "'logType'")
    assert provider.calls == []


def test_unimplemented_operation_is_501(dispatcher: Dispatcher) -> None:
    response = handle(dispatcher, HttpRequest("GET", "/2015-03-31/functions/f/aliases/live"))
    assert response.status == 501  # botocore does not retry 501
    parsed = botocore_parse("lambda", "GetAlias", response)
    assert parsed["Error"] == {"Code": "NotImplementedException",
                               "Message": "Lamina does not implement Lambda.GetAlias yet"}


def test_unknown_route_is_404_in_aws_shape(dispatcher: Dispatcher) -> None:
    response = handle(dispatcher, HttpRequest("GET", "/no/such/thing"))
    assert response.status == 404
    parsed = botocore_parse("lambda", "GetFunction", response)
    assert parsed["Error"]["Code"] == "UnknownOperationException"
    assert response.header("x-amzn-RequestId")


def test_unexpected_exception_is_a_generic_500(dispatcher: Dispatcher,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="lamina.aws.dispatch"):
        response = handle(dispatcher, HttpRequest("GET", "/2015-03-31/functions"))
    assert response.status == 500
    body = json.loads(response.body)
    assert body == {"Type": "Service", "Message": "An internal error occurred."}  # as Lambda spells it
    assert "a bug" not in response.body.decode()
    assert "RuntimeError: a bug" in caplog.text  # the traceback goes to the log, not the client


def test_no_services_registered() -> None:
    response = handle(Dispatcher(), HttpRequest("GET", "/"))
    assert response.status == 404
    assert json.loads(response.body)["Type"] == "User"
    assert response.header("x-amzn-ErrorType") == "UnknownOperationException"


# --- choosing the service ----------------------------------------------------------------------------

class Scheduler:
    async def list_schedules(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Schedules": []}


class TargetProtocol:
    """A json-protocol stand-in (that protocol is not written yet): routes only by X-Amz-Target."""

    service = "events"
    request_id_header: ClassVar[str] = "x-amzn-RequestId"
    target_prefix = "AWSEvents"
    signing_name = "events"

    def match(self, request: HttpRequest) -> OperationCall | None:
        target = request.headers.get("x-amz-target", "")
        return OperationCall(target.partition(".")[2]) if target.startswith("AWSEvents.") else None

    def parse(self, operation: str, request: HttpRequest, labels: Mapping[str, str]) -> dict[str, Any]:
        return dict(json.loads(request.body or b"{}"))

    def serialize(self, operation: str, output: Mapping[str, Any]) -> HttpResponse:
        body = json.dumps(output).encode()
        return HttpResponse(200, [("Content-Type", "application/x-amz-json-1.1")], body)

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        return HttpResponse(error.status, [("x-amzn-RequestId", request_id)], b"{}")


class Events:
    async def list_rules(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Rules": [], "Seen": params}


@pytest.fixture
def multi(dispatcher: Dispatcher) -> Dispatcher:
    dispatcher.register("events", TargetProtocol(), Events())
    dispatcher.register("scheduler", RestJsonProtocol("scheduler"), Scheduler())
    return dispatcher


def test_unsigned_request_goes_to_the_first_service_whose_routes_match(multi: Dispatcher) -> None:
    assert json.loads(handle(multi, HttpRequest("GET", "/schedules")).body) == {"Schedules": []}
    assert handle(multi, HttpRequest("GET", "/2016-08-19/account-settings")).status == 200


def test_credential_scope_picks_the_service(multi: Dispatcher) -> None:
    signed_lambda = {"authorization": AUTH.format(region="us-east-1", service="lambda")}
    response = handle(multi, HttpRequest("GET", "/schedules", "", signed_lambda))
    assert response.status == 404  # Lambda has no /schedules route
    signed_scheduler = {"authorization": AUTH.format(region="us-east-1", service="scheduler")}
    assert handle(multi, HttpRequest("GET", "/schedules", "", signed_scheduler)).status == 200


def test_target_header_picks_the_service(multi: Dispatcher) -> None:
    response = handle(multi, HttpRequest("POST", "/", "", {"x-amz-target": "AWSEvents.ListRules"},
                                         b'{"Limit": 1}'))
    assert json.loads(response.body) == {"Rules": [], "Seen": {"Limit": 1}}
    assert response.header("x-amzn-RequestId")
