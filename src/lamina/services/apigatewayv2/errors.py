"""API Gateway v2's error shapes (botocore apigatewayv2/2018-11-29). Their message member is
``Message``, which the protocol reads from the model.

These belong in :mod:`lamina.errors` with the rest of the closed taxonomy; they live here until that
module takes them (a move, no change).
"""

from __future__ import annotations

from lamina.errors import AwsError


class BadRequestException(AwsError):
    """AWS ``BadRequestException`` (HTTP 400)."""

    code = "BadRequestException"
    status = 400


class NotFoundException(AwsError):
    """AWS ``NotFoundException`` (HTTP 404)."""

    code = "NotFoundException"
    status = 404


class ConflictException(AwsError):
    """AWS ``ConflictException`` (HTTP 409)."""

    code = "ConflictException"
    status = 409
