"""rest-json for apigatewayv2, with API Gateway's error for bad input.

API Gateway answers every malformed or out-of-bounds parameter with ``BadRequestException``; it has
no ``ValidationException`` (the model lists none), so model-constraint failures are re-labelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.aws.http import HttpRequest
from lamina.aws.restjson import RestJsonProtocol
from lamina.errors import BadRequestException, ValidationException


class ApiGatewayV2Protocol(RestJsonProtocol):
    def __init__(self) -> None:
        super().__init__("apigatewayv2", parse_error=BadRequestException)

    def parse(self, operation: str, request: HttpRequest, labels: Mapping[str, str]) -> dict[str, Any]:
        try:
            return super().parse(operation, request, labels)
        except ValidationException as error:
            raise BadRequestException(error.message) from None
