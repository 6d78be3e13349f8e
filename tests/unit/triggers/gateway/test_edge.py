"""Which requests are for a trigger (host and path forms), stage resolution, and the model's ids."""

from __future__ import annotations

import re

import pytest

from lamina.triggers.gateway.edge import Target, target_of
from lamina.triggers.gateway.http_api import apigw_request_id, stage_for
from lamina.triggers.gateway.model import FunctionRef, HttpApi, Stage, function_ref, url_id


@pytest.mark.parametrize(("host", "path", "expected"), [
    ("abc.lambda-url.us-east-1.localhost", "/x/y", Target("url", "abc", "/x/y", region="us-east-1")),
    ("ABC.Lambda-Url.eu-west-1.LOCALHOST", "/", Target("url", "abc", "/", region="eu-west-1")),
    ("a1b2c3d4e5.execute-api.localhost", "/prod/items", Target("api", "a1b2c3d4e5", "/prod/items")),
    ("a1b2c3d4e5.execute-api.us-east-1.localhost", "/", Target("api", "a1b2c3d4e5", "/")),
    ("127.0.0.1", "/_lamina/url/abc", Target("url", "abc", "/")),
    ("127.0.0.1", "/_lamina/url/abc/", Target("url", "abc", "/")),
    ("127.0.0.1", "/_lamina/url/abc/a%20b", Target("url", "abc", "/a%20b")),
    ("127.0.0.1", "/_lamina/api/xyz/prod/items", Target("api", "xyz", "/prod/items")),
    ("127.0.0.1", "/_lamina/api/xyz/$default/items", Target("api", "xyz", "/items", stage="$default")),
    ("127.0.0.1", "/_lamina/api/xyz/%24default", Target("api", "xyz", "/", stage="$default")),
])
def test_trigger_requests_are_recognised(host: str, path: str, expected: Target) -> None:
    assert target_of(host, path) == expected


@pytest.mark.parametrize(("host", "path"), [
    ("127.0.0.1", "/2015-03-31/functions"), ("localhost", "/"), ("bucket.s3.localhost", "/key"),
    ("x.lambda-url.localhost", "/"), ("x.execute-api.example.com", "/"), ("127.0.0.1", "/_lamina/url/"),
    ("127.0.0.1", "/_lamina/health"),
])
def test_other_requests_are_not(host: str, path: str) -> None:
    assert target_of(host, path) is None


def test_stages_by_first_segment_else_default() -> None:
    prod = Stage("prod", 0, 0)
    default = Stage("$default", 0, 0)
    api = HttpApi("a", "us-east-1", "0" * 12, "n", 0, stages={"prod": prod, "$default": default})
    assert stage_for(api, "/prod/items") == (prod, "/items")
    assert stage_for(api, "/prod") == (prod, "/")
    assert stage_for(api, "/items") == (default, "/items")
    assert stage_for(api, "/$default/items") == (default, "/$default/items")
    assert stage_for(api, "/items", explicit="$default") == (default, "/items")
    only_prod = api.replace(stages={"prod": prod})
    assert stage_for(only_prod, "/items") == (None, "/items")


def test_url_ids_are_32_lowercase_alphanumerics_and_stable() -> None:
    first = url_id("000000000000", "us-east-1", "fn", None)
    assert len(first) == 32 and first.isalnum() and first == first.lower()
    assert url_id("000000000000", "us-east-1", "fn", None) == first
    assert url_id("000000000000", "us-east-1", "fn", "live") != first


def test_function_refs_from_arns_and_invocation_uris() -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert function_ref(arn) == FunctionRef("us-east-1", "000000000000", "hello", None)
    assert function_ref(arn + ":live") == FunctionRef("us-east-1", "000000000000", "hello", "live")
    assert function_ref(arn + ":$LATEST") == FunctionRef("us-east-1", "000000000000", "hello", None)
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    assert function_ref(uri) == FunctionRef("us-east-1", "000000000000", "hello", None)
    assert function_ref("https://example.com") is None
    assert function_ref("hello") is None


def test_apigw_request_ids_look_like_awss() -> None:
    ident = apigw_request_id()
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", ident)
    assert apigw_request_id() != ident
