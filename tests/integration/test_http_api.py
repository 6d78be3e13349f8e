"""HTTP APIs end to end: boto3 ``apigatewayv2`` builds them, a plain HTTP client calls them.

One API covers both payload formats, path parameters, greedy routes, ``$default``, a named stage
with stage variables, CORS and an integration timeout; every field of the events is checked and
each event is validated with Powertools' parser models.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel, APIGatewayProxyEventV2Model
from botocore.exceptions import ClientError

from tests.conftest import Server, create_python_function, start_server
from tests.integration.test_function_urls import WEB, call, error_of

MB = 1024 * 1024
ACCOUNT = "000000000000"
BAD_KEY = ('The provided route key is not formatted properly for HTTP protocol. '
           'Format should be "<HTTP METHOD> /<RESOURCE PATH>" or "$default"')


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


@pytest.fixture(scope="module")
def api(server: Server) -> dict[str, Any]:
    """An API with a v2 and a v1 integration, a slow one, five routes and two stages."""
    lam, gw = server.client(), server.client("apigatewayv2")
    name = create_python_function(lam, WEB)
    made = gw.create_api(Name="shop", ProtocolType="HTTP", Description="test API", CorsConfiguration={
        "AllowOrigins": ["https://shop.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 60})
    api_id = made["ApiId"]
    v2 = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn(name),
                               PayloadFormatVersion="2.0")["IntegrationId"]
    v1 = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="1.0",
        IntegrationUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn(name)}/invocations",
    )["IntegrationId"]
    slow = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn(name),
                                 PayloadFormatVersion="2.0", TimeoutInMillis=200)["IntegrationId"]
    routes = {key: gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{target}")["RouteId"]
              for key, target in (("GET /items/{id}", v2), ("GET /items/special", v2), ("ANY /v1/{proxy+}", v1),
                                  ("GET /slow/sleep", slow), ("$default", v2))}
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    gw.create_stage(ApiId=api_id, StageName="prod", StageVariables={"table": "prod-items"})
    return {"id": api_id, "made": made, "function": name, "routes": routes, "v1": v1, "v2": v2}


def host(server: Server, api_id: str) -> str:
    return f"{api_id}.execute-api.localhost:{server.port}"


# -- invoking --------------------------------------------------------------------------------------


def test_v2_event_field_by_field(server: Server, api: dict[str, Any]) -> None:
    api_id = api["id"]
    answer = call(server, "GET", "/items/42?tag=a&tag=b", host=host(server, api_id),
                  headers=[("User-Agent", "tests/1.0"), ("Cookie", "k=v"), ("X-Multi", "1"), ("X-Multi", "2")])
    assert answer.status == 201
    request_id = answer.header("apigw-requestid")
    assert request_id is not None and re.fullmatch(r"[A-Za-z0-9+/]{15}=", request_id)
    result = answer.json()
    event = result["event"]
    APIGatewayProxyEventV2Model(**event)
    context = event["requestContext"]
    trace = event["headers"]["x-amzn-trace-id"]
    assert event == {
        "version": "2.0", "routeKey": "GET /items/{id}", "rawPath": "/items/42", "rawQueryString": "tag=a&tag=b",
        "cookies": ["k=v"],
        "headers": {"host": host(server, api_id), "user-agent": "tests/1.0", "x-multi": "1,2",
                    "x-amzn-trace-id": trace, "x-forwarded-for": "127.0.0.1",
                    "x-forwarded-port": str(server.port), "x-forwarded-proto": "http"},
        "queryStringParameters": {"tag": "a,b"},
        "requestContext": {
            "accountId": ACCOUNT, "apiId": api_id, "domainName": f"{api_id}.execute-api.localhost",
            "domainPrefix": api_id,
            "http": {"method": "GET", "path": "/items/42", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "tests/1.0"},
            "requestId": request_id, "routeKey": "GET /items/{id}", "stage": "$default",
            "time": context["time"], "timeEpoch": context["timeEpoch"],
        },
        "pathParameters": {"id": "42"},
        "isBase64Encoded": False,
    }
    # The Lambda request id is the invocation's own, not API Gateway's.
    assert re.fullmatch(r"[0-9a-f-]{36}", result["request_id"])
    assert answer.all("set-cookie") == ["session=abc; HttpOnly", "theme=dark"]


def test_named_stage_by_path_form_with_stage_variables(server: Server, api: dict[str, Any]) -> None:
    answer = call(server, "POST", f"/_lamina/api/{api['id']}/prod/anything", body=b"a=1&b=2",
                  headers=[("Content-Type", "application/x-www-form-urlencoded")])
    event = answer.json()["event"]
    APIGatewayProxyEventV2Model(**event)
    assert event["routeKey"] == "$default"
    assert (event["rawPath"], event["requestContext"]["http"]["path"]) == ("/prod/anything", "/prod/anything")
    assert event["requestContext"]["stage"] == "prod"
    assert event["stageVariables"] == {"table": "prod-items"}
    assert event["isBase64Encoded"] is True and event["body"] == "YT0xJmI9Mg=="
    assert "pathParameters" not in event
    # The same through the host form, and $default named explicitly in the path form.
    assert call(server, "GET", "/prod/items/7", host=host(server, api["id"])).json()["event"]["pathParameters"] == \
        {"id": "7"}
    explicit = call(server, "GET", f"/_lamina/api/{api['id']}/$default/items/8").json()["event"]
    assert (explicit["requestContext"]["stage"], explicit["rawPath"]) == ("$default", "/items/8")


def test_v1_event_field_by_field(server: Server, api: dict[str, Any]) -> None:
    api_id = api["id"]
    answer = call(server, "PUT", "/v1/a/b?m=1&m=2", host=host(server, api_id), body=b'{"n": 1}',
                  headers=[("Content-Type", "application/json"), ("X-Multi", "1"), ("X-Multi", "2")])
    assert answer.status == 201
    event = answer.json()["event"]
    APIGatewayProxyEventModel(**event)
    context = event["requestContext"]
    trace = event["headers"]["x-amzn-trace-id"]
    headers = {"host": host(server, api_id), "content-type": "application/json", "x-multi": "2",
               "content-length": "8", "x-amzn-trace-id": trace, "x-forwarded-for": "127.0.0.1",
               "x-forwarded-port": str(server.port), "x-forwarded-proto": "http"}
    assert event == {
        "version": "1.0", "resource": "/v1/{proxy+}", "path": "/v1/a/b", "httpMethod": "PUT",
        "headers": headers,
        "multiValueHeaders": {k: ["1", "2"] if k == "x-multi" else [v] for k, v in headers.items()},
        "queryStringParameters": {"m": "2"}, "multiValueQueryStringParameters": {"m": ["1", "2"]},
        "requestContext": {
            "accountId": ACCOUNT, "apiId": api_id, "domainName": f"{api_id}.execute-api.localhost",
            "domainPrefix": api_id, "extendedRequestId": answer.header("apigw-requestid"), "httpMethod": "PUT",
            "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
                         "cognitoAuthenticationType": None, "cognitoIdentityId": None,
                         "cognitoIdentityPoolId": None, "principalOrgId": None, "sourceIp": "127.0.0.1", "user": None,
                         "userAgent": "", "userArn": None},
            "path": "/v1/a/b", "protocol": "HTTP/1.1", "requestId": answer.header("apigw-requestid"),
            "requestTime": context["requestTime"], "requestTimeEpoch": context["requestTimeEpoch"],
            "resourceId": None, "resourcePath": "/v1/{proxy+}", "stage": "$default",
        },
        "pathParameters": {"proxy": "a/b"}, "stageVariables": None, "body": '{"n": 1}', "isBase64Encoded": False,
    }
    assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 30


def test_route_priorities_over_http(server: Server, api: dict[str, Any]) -> None:
    def route_key(path: str, method: str = "GET") -> str:
        event = call(server, method, f"/_lamina/api/{api['id']}{path}").json()["event"]
        return str(event.get("routeKey") or f"{event['httpMethod']} {event['resource']}")  # 1.0 has no routeKey

    assert route_key("/items/special") == "GET /items/special"
    assert route_key("/items/1") == "GET /items/{id}"
    assert route_key("/items/1", "POST") == "$default"
    assert route_key("/v1/x/y/z", "DELETE") == "DELETE /v1/{proxy+}"
    assert route_key("/") == "$default"


def test_gateway_answers(server: Server, api: dict[str, Any]) -> None:
    base = f"/_lamina/api/{api['id']}"
    error = call(server, "GET", f"{base}/items/error")
    assert (error.status, error.json()) == (502, {"message": "Internal Server Error"})
    assert error.header("apigw-requestid")
    # Payload 1.0 infers nothing: a bare string is a malformed response.
    assert call(server, "GET", f"{base}/v1/string").status == 502
    assert call(server, "GET", f"{base}/items/string").body == b"plain text"
    started = time.monotonic()
    slow = call(server, "GET", f"{base}/slow/sleep")
    assert (slow.status, slow.json()) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - started < 0.9
    big = call(server, "POST", f"{base}/items", body=b"x" * (10 * MB + 1))
    assert (big.status, big.json()) == (413, {"message": "Request Entity Too Large"})
    missing = call(server, "GET", "/_lamina/api/nosuchapi0/items/1")
    assert (missing.status, missing.json()) == (404, {"message": "Not Found"})
    assert call(server, "GET", "/", host=host(server, "nosuchapi0")).json() == {"message": "Not Found"}


def test_cors_on_an_api(server: Server, api: dict[str, Any]) -> None:
    preflight = call(server, "OPTIONS", "/items/1", host=host(server, api["id"]), headers=[
        ("Origin", "https://shop.example"), ("Access-Control-Request-Method", "GET")])
    assert (preflight.status, preflight.body) == (204, b"")
    assert preflight.header("access-control-allow-origin") == "https://shop.example"
    assert preflight.header("access-control-max-age") == "60"
    answer = call(server, "GET", "/items/1", host=host(server, api["id"]), headers=[("Origin", "https://shop.example")])
    assert answer.all("access-control-allow-origin") == ["https://shop.example"]


def test_no_route_no_stage_and_quick_create(server: Server) -> None:
    lam, gw = server.client(), server.client("apigatewayv2")
    name = create_python_function(lam, WEB)
    quick = gw.create_api(Name="quick", ProtocolType="HTTP", Target=arn(name), RouteKey="GET /only")
    api_id = quick["ApiId"]
    assert quick["ApiEndpoint"] == f"http://{api_id}.execute-api.localhost:{server.port}"
    routes = gw.get_routes(ApiId=api_id)["Items"]
    assert [(r["RouteKey"], r["ApiGatewayManaged"]) for r in routes] == [("GET /only", True)]
    integration = gw.get_integrations(ApiId=api_id)["Items"][0]
    assert (integration["IntegrationUri"], integration["PayloadFormatVersion"], integration["TimeoutInMillis"]) == (
        arn(name), "2.0", 30000)
    stage = gw.get_stages(ApiId=api_id)["Items"][0]
    assert (stage["StageName"], stage["AutoDeploy"], stage["ApiGatewayManaged"]) == ("$default", True, True)
    assert call(server, "GET", "/only", host=host(server, api_id)).status == 201
    missing = call(server, "GET", "/other", host=host(server, api_id))
    assert (missing.status, missing.json()) == (404, {"message": "Not Found"})
    gw.delete_stage(ApiId=api_id, StageName="$default")
    assert call(server, "GET", "/only", host=host(server, api_id)).status == 404
    gw.create_stage(ApiId=api_id, StageName="v1")
    assert call(server, "GET", "/v1/only", host=host(server, api_id)).status == 201
    gw.update_api(ApiId=api_id, RouteKey="POST /only")
    assert call(server, "POST", "/v1/only", host=host(server, api_id)).status == 201
    gw.update_api(ApiId=api_id, DisableExecuteApiEndpoint=True)
    off = call(server, "POST", "/v1/only", host=host(server, api_id))
    assert (off.status, off.json()) == (403, {"message": "Forbidden"})


# -- the management API ------------------------------------------------------------------------------


def test_read_update_delete_round_trip(server: Server, api: dict[str, Any]) -> None:
    gw = server.client("apigatewayv2")
    api_id = api["id"]
    got = gw.get_api(ApiId=api_id)
    assert {k: got[k] for k in ("ApiId", "Name", "ProtocolType", "Description", "RouteSelectionExpression")} == {
        "ApiId": api_id, "Name": "shop", "ProtocolType": "HTTP", "Description": "test API",
        "RouteSelectionExpression": "$request.method $request.path"}
    assert got["CorsConfiguration"]["AllowOrigins"] == ["https://shop.example"]
    assert api_id in [item["ApiId"] for item in gw.get_apis()["Items"]]
    route_id = api["routes"]["GET /items/special"]
    assert gw.get_route(ApiId=api_id, RouteId=route_id)["Target"] == f"integrations/{api['v2']}"
    updated = gw.update_route(ApiId=api_id, RouteId=route_id, RouteKey="GET /items/very-special")
    assert updated["RouteKey"] == "GET /items/very-special"
    gw.update_route(ApiId=api_id, RouteId=route_id, RouteKey="GET /items/special")
    integration = gw.update_integration(ApiId=api_id, IntegrationId=api["v1"], TimeoutInMillis=29000)
    assert (integration["TimeoutInMillis"], integration["PayloadFormatVersion"]) == (29000, "1.0")
    stage = gw.update_stage(ApiId=api_id, StageName="prod", StageVariables={"extra": "1"})
    assert stage["StageVariables"] == {"table": "prod-items", "extra": "1"}
    assert len(gw.get_routes(ApiId=api_id, MaxResults="2")["Items"]) == 2
    page = gw.get_routes(ApiId=api_id, MaxResults="3")
    rest = gw.get_routes(ApiId=api_id, NextToken=page["NextToken"])
    assert len(page["Items"]) + len(rest["Items"]) == len(api["routes"])

    spare = gw.create_api(Name="spare", ProtocolType="HTTP")["ApiId"]
    gw.delete_api(ApiId=spare)
    with pytest.raises(ClientError) as excinfo:
        gw.get_api(ApiId=spare)
    assert error_of(excinfo) == ("NotFoundException", f"Invalid API identifier specified {ACCOUNT}:{spare}", 404)


@pytest.mark.parametrize("key", ["GET", "/items", "FETCH /items", "GET items", "$connect", "GET /{a}/{a}",
                                 "GET /{proxy+}/x"])
def test_malformed_route_keys(server: Server, api: dict[str, Any], key: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        server.client("apigatewayv2").create_route(ApiId=api["id"], RouteKey=key)
    assert error_of(excinfo) == ("BadRequestException", BAD_KEY, 400)


@pytest.mark.parametrize(("operation", "params", "expected"), [
    ("create_route", {"RouteKey": "GET /items/{id}"},
     ("ConflictException", "Route with key GET /items/{id} already exists for this API", 409)),
    ("create_route", {"RouteKey": "GET /new", "Target": "integrations/missing"},
     ("BadRequestException", "Invalid Integration identifier specified", 400)),
    ("create_route", {"RouteKey": "GET /auth", "AuthorizationType": "JWT"}, ("BadRequestException", None, 400)),
    ("create_stage", {"StageName": "bad name!"},
     ("BadRequestException", "Stage name only allows a-zA-Z0-9_- or $default", 400)),
    ("create_stage", {"StageName": "prod"}, ("ConflictException", "Stage prod already exists", 409)),
    ("create_integration", {"IntegrationType": "AWS_PROXY", "IntegrationUri": "arn:aws:lambda:us-east-1:"
                            f"{ACCOUNT}:function:f", "PayloadFormatVersion": "3.0"},
     ("BadRequestException", "Invalid payload format version specified: 3.0", 400)),
    ("create_integration", {"IntegrationType": "AWS_PROXY", "IntegrationUri": "https://example.com"},
     ("BadRequestException", None, 400)),
    ("create_integration", {"IntegrationType": "MOCK"},
     ("BadRequestException", "Integration type MOCK is not supported for HTTP APIs", 400)),
    ("create_integration", {"IntegrationType": "AWS_PROXY", "IntegrationUri": "arn:aws:lambda:us-east-1:"
                            f"{ACCOUNT}:function:f", "TimeoutInMillis": 40000}, ("BadRequestException", None, 400)),
    ("get_route", {"RouteId": "nothing"},
     ("NotFoundException", "Invalid Route identifier specified nothing", 404)),
    ("get_stage", {"StageName": "nothing"},
     ("NotFoundException", "Invalid stage identifier specified nothing", 404)),
    ("update_api", {"CorsConfiguration": {"AllowMethods": ["FETCH"]}}, ("BadRequestException", None, 400)),
])
def test_bad_definitions(server: Server, api: dict[str, Any], operation: str, params: dict[str, Any],
                         expected: tuple[str, str | None, int]) -> None:
    with pytest.raises(ClientError) as excinfo:
        getattr(server.client("apigatewayv2"), operation)(ApiId=api["id"], **params)
    code, message, status = error_of(excinfo)
    assert (code, status) == (expected[0], expected[2])
    if expected[1] is not None:
        assert message == expected[1]


def test_bad_apis(server: Server) -> None:
    gw = server.client("apigatewayv2")
    with pytest.raises(ClientError) as excinfo:
        gw.create_api(Name="ws", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    assert error_of(excinfo)[0] == "BadRequestException"
    with pytest.raises(ClientError) as excinfo:
        gw.create_api(Name="q", ProtocolType="HTTP", Target="not-a-function")
    assert error_of(excinfo)[0] == "BadRequestException"
    with pytest.raises(ClientError) as excinfo:
        gw.get_routes(ApiId="nosuchapi0")
    assert error_of(excinfo)[:3:2] == ("NotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        server.client("apigatewayv2", region="eu-west-1").get_api(ApiId=gw.get_apis()["Items"][0]["ApiId"])
    assert error_of(excinfo)[0] == "NotFoundException"


def test_definitions_survive_a_restart(tmp_path: Any) -> None:
    running = start_server(tmp_path / "data")
    try:
        lam, gw = running.client(), running.client("apigatewayv2")
        name = create_python_function(lam, WEB)
        api_id = gw.create_api(Name="kept", ProtocolType="HTTP", Target=arn(name))["ApiId"]
        gw.create_stage(ApiId=api_id, StageName="beta", StageVariables={"k": "v"})
        function_url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    finally:
        running.stop()
    again = start_server(tmp_path / "data")
    try:
        gw = again.client("apigatewayv2")
        assert gw.get_api(ApiId=api_id)["Name"] == "kept"
        assert gw.get_stage(ApiId=api_id, StageName="beta")["StageVariables"] == {"k": "v"}
        event = call(again, "GET", f"/_lamina/api/{api_id}/beta/x").json()["event"]
        assert event["stageVariables"] == {"k": "v"}
        url_id = function_url.split("//")[1].split(".")[0]
        assert again.client().get_function_url_config(FunctionName=name)["FunctionUrl"].startswith(f"http://{url_id}.")
        assert call(again, "GET", f"/_lamina/url/{url_id}/").status == 201
    finally:
        again.stop()
