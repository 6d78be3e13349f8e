"""Fixtures for the protocol edge: the real Lambda model, and botocore as the independent client."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.aws.http import HttpRequest, HttpResponse
from lamina.aws.model import service_model
from lamina.aws.restjson import RestJsonProtocol
from lamina.errors import InvalidRequestContentException

#: The documented quotas for standard functions, tighter than the model's bounds.
LAMBDA_OVERRIDES: dict[str, dict[str, int | str]] = {
    "CreateFunctionRequest.MemorySize": {"max": 10240},
    "CreateFunctionRequest.Timeout": {"max": 900},
}


@pytest.fixture(scope="session")
def lambda_protocol() -> RestJsonProtocol:
    return RestJsonProtocol("lambda", overrides=LAMBDA_OVERRIDES, parse_error=InvalidRequestContentException)


@pytest.fixture(scope="session")
def lambda_model() -> Any:
    return service_model("lambda")


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
