"""Errors of CloudWatch Logs and CloudWatch (metrics), with their wire codes and statuses.

They live beside the observability domain rather than in :mod:`lamina.errors` because the same code
means a different status here: Logs answers ``ResourceNotFoundException`` with 400, Lambda with 404
(botocore's ``logs`` model has no status on its errors, and AWS sends 400 for every one of them).
"""

from __future__ import annotations

from lamina.errors import AwsError


class LogsResourceNotFound(AwsError):
    code = "ResourceNotFoundException"
    status = 400


class ResourceAlreadyExistsException(AwsError):
    code = "ResourceAlreadyExistsException"
    status = 400


class InvalidParameterException(AwsError):
    code = "InvalidParameterException"
    status = 400


class DataAlreadyAcceptedException(AwsError):
    code = "DataAlreadyAcceptedException"
    status = 400


class LimitExceededException(AwsError):
    code = "LimitExceededException"
    status = 400


# CloudWatch (metrics) reuses InvalidParameterValueException and MissingRequiredParameterException
# from lamina.errors (same code and status); the query-era codes (``InvalidParameterValue`` ...)
# come from the model's error shapes and go out in ``x-amzn-query-error``.

class InvalidParameterCombinationException(AwsError):
    code = "InvalidParameterCombinationException"
    status = 400


class InvalidNextToken(AwsError):
    code = "InvalidNextToken"
    status = 400
