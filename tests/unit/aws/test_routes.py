"""Route tables built from the model: Lambda's (rest-json) and S3's (rest-xml, for greedy labels and
literal query parts), checked against the requests botocore itself builds."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.aws.http import HttpRequest
from lamina.aws.model import service_model
from lamina.aws.restjson import RestJsonProtocol
from lamina.aws.routes import RouteTable, compile_route

from .wire import botocore_request


def test_invoke_route_with_encoded_qualifier(lambda_protocol: RestJsonProtocol) -> None:
    request = HttpRequest("POST", "/2015-03-31/functions/my-fn/invocations", "Qualifier=%24LATEST")
    call = lambda_protocol.match(request)
    assert call is not None
    assert (call.operation, dict(call.labels)) == ("Invoke", {"FunctionName": "my-fn"})


@pytest.mark.parametrize(("method", "path", "operation"), [
    ("POST", "/2015-03-31/functions", "CreateFunction"),
    ("GET", "/2015-03-31/functions", "ListFunctions"),
    ("GET", "/2015-03-31/functions/", "ListFunctions"),
    ("GET", "/2015-03-31/functions/f", "GetFunction"),
    ("GET", "/2015-03-31/functions/f/configuration", "GetFunctionConfiguration"),
    ("DELETE", "/2015-03-31/functions/f", "DeleteFunction"),
    # Same path, different date prefix per operation: the prefix is part of the route.
    ("GET", "/2019-09-30/functions/f/concurrency", "GetFunctionConcurrency"),
    ("PUT", "/2017-10-31/functions/f/concurrency", "PutFunctionConcurrency"),
    ("DELETE", "/2017-10-31/functions/f/concurrency", "DeleteFunctionConcurrency"),
    ("GET", "/2016-08-19/account-settings", "GetAccountSettings"),
    ("GET", "/2016-08-19/account-settings/", "GetAccountSettings"),
])
def test_lambda_routes(lambda_protocol: RestJsonProtocol, method: str, path: str, operation: str) -> None:
    call = lambda_protocol.match(HttpRequest(method, path))
    assert call is not None and call.operation == operation


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/2017-10-31/functions/f/concurrency"),  # Put's prefix with Get's method
    ("PUT", "/2019-09-30/functions/f/concurrency"),
    ("GET", "/2015-03-31/functions/a/b/c"),
    ("GET", "/"),
    ("PATCH", "/2015-03-31/functions"),
])
def test_unknown_routes(lambda_protocol: RestJsonProtocol, method: str, path: str) -> None:
    assert lambda_protocol.match(HttpRequest(method, path)) is None


@pytest.mark.parametrize("path", [
    "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn",
    "/2017-03-31/tags/arn:aws:lambda:us-east-1:123456789012:function:my-fn",
])
def test_tag_resource_arn_label_is_decoded(lambda_protocol: RestJsonProtocol, path: str) -> None:
    call = lambda_protocol.match(HttpRequest("POST", path))
    assert call is not None and call.operation == "TagResource"
    assert call.labels == {"Resource": "arn:aws:lambda:us-east-1:123456789012:function:my-fn"}


def _labels(operation: Any) -> dict[str, str]:
    shape = operation.input_shape
    members = shape.members.items() if shape is not None else []
    return {name: "a:b c" for name, member in members if member.serialization.get("location") == "uri"}


@pytest.mark.parametrize("operation", service_model("lambda").operation_names)
def test_every_lambda_operation_routes_as_botocore_sends_it(lambda_protocol: RestJsonProtocol,
                                                           operation: str) -> None:
    params = _labels(service_model("lambda").operation_model(operation))
    call = lambda_protocol.match(botocore_request("lambda", operation, params))
    assert call is not None
    assert call.operation == operation
    wire_names = {service_model("lambda").operation_model(operation).input_shape.members[name]
                  .serialization["name"]: value for name, value in params.items()}
    assert call.labels == wire_names


@pytest.fixture(scope="module")
def s3_routes() -> RouteTable:
    return RouteTable.from_model(service_model("s3"))


@pytest.mark.parametrize(("method", "path", "query", "operation", "labels"), [
    ("GET", "/bucket/a/b%2Fc%20d.txt", "", "GetObject", {"Bucket": "bucket", "Key": "a/b/c d.txt"}),
    ("GET", "/bucket/dir/", "", "GetObject", {"Bucket": "bucket", "Key": "dir/"}),
    ("PUT", "/bucket", "", "CreateBucket", {"Bucket": "bucket"}),
    ("PUT", "/bucket", "notification", "PutBucketNotificationConfiguration", {"Bucket": "bucket"}),
    ("GET", "/bucket", "notification=", "GetBucketNotificationConfiguration", {"Bucket": "bucket"}),
    ("GET", "/bucket", "list-type=2&prefix=a", "ListObjectsV2", {"Bucket": "bucket"}),
    ("GET", "/bucket", "prefix=a", "ListObjects", {"Bucket": "bucket"}),
    ("POST", "/bucket/k", "uploads", "CreateMultipartUpload", {"Bucket": "bucket", "Key": "k"}),
])
def test_greedy_labels_and_literal_query_parts(s3_routes: RouteTable, method: str, path: str, query: str,
                                               operation: str, labels: dict[str, str]) -> None:
    assert s3_routes.match(method, path, query) == (operation, labels)


def test_more_literal_text_wins_over_a_label() -> None:
    table = RouteTable([compile_route("ByName", {"method": "GET", "requestUri": "/things/{Name}"}),
                        compile_route("Special", {"method": "GET", "requestUri": "/things/special"}),
                        compile_route("Deep", {"method": "GET", "requestUri": "/things/{Path+}"})])
    assert table.match("GET", "/things/special", "") == ("Special", {})
    assert table.match("GET", "/things/other", "") == ("ByName", {"Name": "other"})
    assert table.match("GET", "/things/a/b", "") == ("Deep", {"Path": "a/b"})
