"""Fixtures for the protocol edge: the real Lambda model, and botocore as the independent client."""

from __future__ import annotations

from typing import Any

import pytest

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
    return RestJsonProtocol("lambda", overrides=LAMBDA_OVERRIDES,
                            parse_error=InvalidRequestContentException)


@pytest.fixture(scope="session")
def lambda_model() -> Any:
    return service_model("lambda")
