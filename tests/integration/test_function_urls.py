"""Function URLs end to end: the Lambda API (boto3) defines them, a plain HTTP client calls them.

Requests go to 127.0.0.1 with the URL's ``Host`` header (the host form browsers use) or to the path
form; every field of the events the function receives and of the responses is checked.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from botocore.exceptions import ClientError

from tests.conftest import Server, create_python_function, start_server

MB = 1024 * 1024
ACCOUNT = "000000000000"

#: One function serves every case, chosen by the last path segment; it answers with the event it got.
WEB = """
import base64, json, time

def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    if path.endswith("/error"):
        raise ValueError("boom")
    if path.endswith("/malformed"):
        return {"statusCode": "not a status"}
    if path.endswith("/string"):
        return "plain text"
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "image/png"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if path.endswith("/sleep"):
        time.sleep(1.0)
        return {"statusCode": 200, "body": "late"}
    return {"statusCode": 201,
            "headers": {"content-type": "application/json", "x-custom": "yes",
                        "Access-Control-Allow-Origin": "https://function.example"},
            "cookies": ["session=abc; HttpOnly", "theme=dark"],
            "body": json.dumps({"event": event, "request_id": context.aws_request_id,
                                "invoked_arn": context.invoked_function_arn})}
"""

CORS = {"AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type"], "ExposeHeaders": ["x-custom"], "MaxAge": 300}


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def call(server: Server, method: str, path: str, *, host: str | None = None,
         headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (), body: bytes | None = None) -> Answer:
    """One request to 127.0.0.1 with exactly these header lines (``Host`` defaults to the server's)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{server.port}")
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return Answer(answer.status, answer.getheaders(), answer.read())
    finally:
        conn.close()


def url_id_of(function_url: str) -> str:
    match = re.fullmatch(r"http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/", function_url)
    assert match is not None, function_url
    return match[1]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def web(server: Server) -> str:
    return create_python_function(server.client(), WEB)


@pytest.fixture(scope="module")
def url(server: Server, web: str) -> dict[str, Any]:
    return server.client().create_function_url_config(FunctionName=web, AuthType="NONE", Cors=CORS)


def host_of(server: Server, url_id: str) -> str:
    return f"{url_id}.lambda-url.us-east-1.localhost:{server.port}"


# -- the API ---------------------------------------------------------------------------------------


def test_create_get_update_list_delete(server: Server) -> None:
    client = server.client()
    name = create_python_function(client, WEB)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    created = client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert url_id_of(created["FunctionUrl"]) and f":{server.port}/" in created["FunctionUrl"]
    assert (created["FunctionArn"], created["AuthType"], created["InvokeMode"]) == (arn, "NONE", "BUFFERED")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created["CreationTime"])
    assert "Cors" not in created and "LastModifiedTime" not in created

    got = client.get_function_url_config(FunctionName=arn)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["LastModifiedTime"] == created["CreationTime"]

    updated = client.update_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors=CORS,
                                                InvokeMode="RESPONSE_STREAM")
    assert (updated["AuthType"], updated["Cors"], updated["InvokeMode"]) == ("AWS_IAM", CORS, "RESPONSE_STREAM")
    assert updated["FunctionUrl"] == created["FunctionUrl"]
    assert updated["LastModifiedTime"] >= created["CreationTime"]

    listed = client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [item["FunctionUrl"] for item in listed] == [created["FunctionUrl"]]

    with pytest.raises(ClientError) as excinfo:
        client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert error_of(excinfo) == (
        "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig "
        "exists for this Lambda function", 409)

    deleted = client.delete_function_url_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    for operation in (client.get_function_url_config, client.delete_function_url_config):
        with pytest.raises(ClientError) as excinfo:
            operation(FunctionName=name)
        assert error_of(excinfo) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    assert client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    # The id is stable per function and qualifier: a new URL gets the same address.
    assert client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"] == \
        created["FunctionUrl"]


def test_a_url_on_an_alias_invokes_through_the_alias(server: Server) -> None:
    client = server.client()
    name = create_python_function(client, WEB)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    version = client.publish_version(FunctionName=name)["Version"]
    client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    made = client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert made["FunctionArn"] == f"{arn}:live"
    assert client.get_function_url_config(FunctionName=f"{arn}:live")["FunctionUrl"] == made["FunctionUrl"]
    assert [c["FunctionArn"] for c in client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]] == \
        [f"{arn}:live"]
    with pytest.raises(ClientError) as excinfo:
        client.get_function_url_config(FunctionName=name)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    answer = call(server, "GET", f"/_lamina/url/{url_id_of(made['FunctionUrl'])}/")
    assert answer.status == 201 and answer.json()["invoked_arn"] == f"{arn}:live"
    with pytest.raises(ClientError) as excinfo:
        client.create_function_url_config(FunctionName=f"{arn}:{version}", AuthType="NONE")
    assert error_of(excinfo)[0] == "ValidationException"  # the model's pattern excludes versions


@pytest.mark.parametrize(("cors", "fragment"), [
    ({"AllowMethods": ["FETCH"]}, "AllowMethods"),
    ({"AllowOrigins": ["example.com"]}, "AllowOrigins"),
    ({"AllowHeaders": ["bad header"]}, "AllowHeaders"),
])
def test_invalid_cors_is_refused(server: Server, cors: dict[str, Any], fragment: str) -> None:
    client = server.client()
    name = create_python_function(client, WEB)
    with pytest.raises(ClientError) as excinfo:
        client.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterValueException", 400) and fragment in message
    assert client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_bad_targets_are_refused(server: Server, web: str) -> None:
    client = server.client()
    with pytest.raises(ClientError) as excinfo:
        client.create_function_url_config(FunctionName="no-such-function", AuthType="NONE")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        client.create_function_url_config(FunctionName=web, AuthType="NONE", Qualifier="no-such-alias")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        client.create_function_url_config(FunctionName=web, AuthType="SOMETIMES")
    assert error_of(excinfo)[0] == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        client.list_function_url_configs(FunctionName="no-such-function")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


# -- invoking --------------------------------------------------------------------------------------


def test_host_form_event_and_response_field_by_field(server: Server, url: dict[str, Any]) -> None:
    url_id = url_id_of(url["FunctionUrl"])
    host = host_of(server, url_id)
    before = time.time()
    answer = call(server, "POST", "/items/42?a=1&a=2&b=x%20y", host=host, body=b'{"hello": "world"}', headers=[
        ("Content-Type", "application/json"), ("User-Agent", "tests/1.0"), ("X-Multi", "one"), ("X-Multi", "two"),
        ("Cookie", "c1=v1; c2=v2"), ("Origin", "https://app.example.com")])
    assert answer.status == 201
    result = answer.json()
    event, request_id = result["event"], result["request_id"]
    LambdaFunctionUrlModel(**event)
    context = event["requestContext"]
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert before * 1000 - 1000 <= context["timeEpoch"] <= time.time() * 1000 + 1000
    trace = event["headers"]["x-amzn-trace-id"]
    assert trace.startswith("Root=1-")
    assert event == {
        "version": "2.0", "routeKey": "$default", "rawPath": "/items/42", "rawQueryString": "a=1&a=2&b=x%20y",
        "cookies": ["c1=v1", "c2=v2"],
        "headers": {"host": host, "content-type": "application/json", "user-agent": "tests/1.0",
                    "x-multi": "one,two", "origin": "https://app.example.com", "content-length": "18",
                    "x-amzn-trace-id": trace, "x-forwarded-for": "127.0.0.1", "x-forwarded-port": str(server.port),
                    "x-forwarded-proto": "http"},
        "queryStringParameters": {"a": "1,2", "b": "x y"},
        "requestContext": {
            "accountId": "anonymous", "apiId": url_id, "domainName": f"{url_id}.lambda-url.us-east-1.localhost",
            "domainPrefix": url_id,
            "http": {"method": "POST", "path": "/items/42", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "tests/1.0"},
            "requestId": request_id, "routeKey": "$default", "stage": "$default", "time": context["time"],
            "timeEpoch": context["timeEpoch"],
        },
        "body": '{"hello": "world"}', "isBase64Encoded": False,
    }
    # The response: the function's status, headers and cookies; the platform's CORS and ids.
    assert answer.header("x-custom") == "yes"
    assert answer.header("content-type") == "application/json"
    assert answer.all("set-cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert answer.all("access-control-allow-origin") == ["https://app.example.com"]
    assert answer.header("access-control-expose-headers") == "x-custom"
    assert answer.header("x-amzn-requestid") == request_id
    assert answer.header("x-amzn-trace-id") == trace


def test_path_form_reaches_the_same_url(server: Server, url: dict[str, Any]) -> None:
    url_id = url_id_of(url["FunctionUrl"])
    answer = call(server, "GET", f"/_lamina/url/{url_id}/a/b?x=1")
    assert answer.status == 201
    event = answer.json()["event"]
    LambdaFunctionUrlModel(**event)
    assert (event["rawPath"], event["rawQueryString"], event["queryStringParameters"]) == ("/a/b", "x=1", {"x": "1"})
    assert event["headers"]["host"] == f"127.0.0.1:{server.port}"
    assert event["requestContext"]["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost"
    assert "body" not in event and event["isBase64Encoded"] is False
    assert call(server, "GET", f"/_lamina/url/{url_id}").json()["event"]["rawPath"] == "/"


def test_binary_in_and_out(server: Server, url: dict[str, Any]) -> None:
    url_id = url_id_of(url["FunctionUrl"])
    raw = bytes(range(256)) * 4
    event = call(server, "PUT", f"/_lamina/url/{url_id}/upload", body=raw,
                 headers=[("Content-Type", "application/octet-stream")]).json()["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    answer = call(server, "GET", f"/_lamina/url/{url_id}/binary")
    assert (answer.status, answer.header("content-type"), answer.body) == (200, "image/png", bytes(range(256)))


def test_plain_string_result_is_a_json_200(server: Server, url: dict[str, Any]) -> None:
    answer = call(server, "GET", f"/_lamina/url/{url_id_of(url['FunctionUrl'])}/string")
    assert (answer.status, answer.header("content-type"), answer.body) == (200, "application/json", b"plain text")


@pytest.mark.parametrize("case", ["error", "malformed"])
def test_function_errors_and_malformed_results_are_502(server: Server, url: dict[str, Any], case: str) -> None:
    answer = call(server, "GET", f"/_lamina/url/{url_id_of(url['FunctionUrl'])}/{case}")
    assert (answer.status, answer.json()) == (502, {"message": "Internal Server Error"})


def test_preflight_is_answered_by_the_platform(server: Server, url: dict[str, Any]) -> None:
    url_id = url_id_of(url["FunctionUrl"])
    answer = call(server, "OPTIONS", "/anything", host=host_of(server, url_id), headers=[
        ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "Content-Type")])
    assert (answer.status, answer.body) == (200, b"")
    assert answer.header("access-control-allow-origin") == "https://app.example.com"
    assert answer.header("access-control-allow-methods") == "GET,POST"
    assert answer.header("access-control-allow-headers") == "content-type"
    assert answer.header("access-control-max-age") == "300"
    refused = call(server, "OPTIONS", "/", host=host_of(server, url_id), headers=[
        ("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
    assert refused.status == 200 and refused.header("access-control-allow-origin") is None


def test_oversized_body_is_413(server: Server, url: dict[str, Any]) -> None:
    answer = call(server, "POST", f"/_lamina/url/{url_id_of(url['FunctionUrl'])}/big", body=b"x" * (6 * MB + 1))
    assert (answer.status, answer.json()) == (413, {"message": "Request Entity Too Large"})


def test_unknown_url_is_refused(server: Server) -> None:
    answer = call(server, "GET", "/", host=f"{'z' * 32}.lambda-url.us-east-1.localhost:{server.port}")
    assert (answer.status, answer.header("x-amzn-errortype"), answer.json()) == (403, "AccessDeniedException",
                                                                                 {"Message": None})
    assert call(server, "GET", f"/_lamina/url/{'z' * 32}/").status == 403


def test_throttled_function_is_429(server: Server) -> None:
    client = server.client()
    name = create_python_function(client, WEB)
    url_id = url_id_of(client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    answer = call(server, "GET", f"/_lamina/url/{url_id}/")
    assert (answer.status, answer.json()) == (429, {"message": "Too Many Requests"})


def test_deleting_the_function_deletes_its_url(server: Server) -> None:
    client = server.client()
    name = create_python_function(client, WEB)
    url_id = url_id_of(client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    assert call(server, "GET", f"/_lamina/url/{url_id}/").status == 201
    client.delete_function(FunctionName=name)
    assert call(server, "GET", f"/_lamina/url/{url_id}/").status == 403
    create_python_function(client, WEB, name=name)
    with pytest.raises(ClientError) as excinfo:
        client.get_function_url_config(FunctionName=name)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


# -- AWS_IAM -----------------------------------------------------------------------------------------


def signed(method: str, url: str, body: bytes, *, service: str = "lambda", secret: str = "test",
           access_key: str = "AKIDLOCAL") -> list[tuple[str, str]]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(access_key, secret), service, "us-east-1").add_auth(request)
    return [(k, v) for k, v in request.headers.items() if k.lower() != "host"]


def test_aws_iam_requires_a_valid_signature(server: Server) -> None:
    client = server.client()
    name = create_python_function(client, WEB)
    url_id = url_id_of(client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])
    host = host_of(server, url_id)
    body = b'{"signed": true}'
    target = f"http://{host}/private?q=1"

    ok = call(server, "POST", "/private?q=1", host=host, body=body, headers=signed("POST", target, body))
    assert ok.status == 201
    event = ok.json()["event"]
    LambdaFunctionUrlModel(**event)
    assert event["requestContext"]["accountId"] == ACCOUNT
    assert event["requestContext"]["authorizer"] == {"iam": {
        "accessKey": "AKIDLOCAL", "accountId": ACCOUNT, "callerId": "AKIDLOCAL", "cognitoIdentity": None,
        "principalOrgId": None, "userArn": f"arn:aws:iam::{ACCOUNT}:root", "userId": "AKIDLOCAL"}}
    # The path form is signed as the client sent it.
    path = f"/_lamina/url/{url_id}/private"
    assert call(server, "POST", path, body=body,
                headers=signed("POST", f"http://127.0.0.1:{server.port}{path}", body)).status == 201

    for headers in ([], signed("POST", target, body, secret="wrong"), signed("POST", target, body, service="s3"),
                    signed("POST", target, b"other body")):
        denied = call(server, "POST", "/private?q=1", host=host, body=body, headers=headers)
        assert (denied.status, denied.json(), denied.header("x-amzn-errortype")) == (
            403, {"Message": "Forbidden"}, "AccessDeniedException")


def test_aws_iam_with_authentication_on_takes_only_configured_keys(tmp_path: Any) -> None:
    running = start_server(tmp_path / "data", env={"LAMINA_AUTH": "1", "LAMINA_CREDENTIALS": "AKIDKNOWN:s3cret"})
    try:
        from botocore.config import Config

        client = boto3.client("lambda", endpoint_url=running.endpoint, region_name="us-east-1",
                              aws_access_key_id="AKIDKNOWN", aws_secret_access_key="s3cret",
                              config=Config(retries={"max_attempts": 1}))
        name = create_python_function(client, WEB)
        url_id = url_id_of(client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])
        host = host_of(running, url_id)
        target = f"http://{host}/"
        known = signed("GET", target, b"", access_key="AKIDKNOWN", secret="s3cret")
        assert call(running, "GET", "/", host=host, body=b"", headers=known).status == 201
        unknown = signed("GET", target, b"", access_key="AKIDLOCAL", secret="test")
        assert call(running, "GET", "/", host=host, body=b"", headers=unknown).status == 403
    finally:
        running.stop()
