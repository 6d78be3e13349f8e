"""The closed error taxonomy. Class names are AWS's wire strings.

An :class:`AwsError` raised anywhere below the protocol edge becomes AWS's error response: the
``x-amzn-ErrorType`` header carries :attr:`AwsError.code`, the status is :attr:`AwsError.status` and
the body holds the message under the member name the service model uses for that shape
(``message`` or ``Message``; botocore reads either). Function errors (``Runtime.ImportModuleError``,
``Sandbox.Timedout`` ...) are not exceptions of the platform; they are values, see
:class:`lamina.types.FunctionErrorType`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AwsError(Exception):
    """An error answered to a client in AWS's shape.

    ``fields`` are extra body members (``Reason`` on throttles, ``retryAfterSeconds`` ...);
    ``headers`` are extra response headers (``Retry-After``).
    """

    code: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 500
    #: AWS marks client mistakes ``"User"`` and its own ``"Service"`` in the body's ``Type``.
    sender_fault: ClassVar[bool] = True

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"{self.code}({self.message!r})"



# Shared by every AWS service.

class ValidationException(AwsError):
    """AWS ``ValidationException`` (HTTP 400)."""

    code = "ValidationException"
    status = 400


class UnknownOperationException(AwsError):
    """AWS ``UnknownOperationException`` (HTTP 404)."""

    code = "UnknownOperationException"
    status = 404


class NotImplementedException(AwsError):
    """An operation the model has and Lamina does not implement yet.

    501, not 500: botocore retries 500/502/503/504 and a retry cannot help.
    """

    code = "NotImplementedException"
    status = 501
    sender_fault = False


class SerializationException(AwsError):
    """AWS ``SerializationException`` (HTTP 400)."""

    code = "SerializationException"
    status = 400


class AccessDeniedException(AwsError):
    """AWS ``AccessDeniedException`` (HTTP 403)."""

    code = "AccessDeniedException"
    status = 403


class InvalidSignatureException(AwsError):
    """AWS ``InvalidSignatureException`` (HTTP 403)."""

    code = "InvalidSignatureException"
    status = 403


class UnrecognizedClientException(AwsError):
    """AWS ``UnrecognizedClientException`` (HTTP 403)."""

    code = "UnrecognizedClientException"
    status = 403

# Lambda (botocore lambda/2015-03-31 error shapes).

class InvalidParameterValueException(AwsError):
    """AWS ``InvalidParameterValueException`` (HTTP 400)."""

    code = "InvalidParameterValueException"
    status = 400


class InvalidRequestContentException(AwsError):
    """AWS ``InvalidRequestContentException`` (HTTP 400)."""

    code = "InvalidRequestContentException"
    status = 400


class CodeStorageExceededException(AwsError):
    """AWS ``CodeStorageExceededException`` (HTTP 400)."""

    code = "CodeStorageExceededException"
    status = 400


class ResourceNotFoundException(AwsError):
    """AWS ``ResourceNotFoundException`` (HTTP 404)."""

    code = "ResourceNotFoundException"
    status = 404


class ResourceConflictException(AwsError):
    """AWS ``ResourceConflictException`` (HTTP 409)."""

    code = "ResourceConflictException"
    status = 409


class PreconditionFailedException(AwsError):
    """AWS ``PreconditionFailedException`` (HTTP 412)."""

    code = "PreconditionFailedException"
    status = 412


class RequestTooLargeException(AwsError):
    """AWS ``RequestTooLargeException`` (HTTP 413)."""

    code = "RequestTooLargeException"
    status = 413


class UnsupportedMediaTypeException(AwsError):
    """AWS ``UnsupportedMediaTypeException`` (HTTP 415)."""

    code = "UnsupportedMediaTypeException"
    status = 415


class TooManyRequestsException(AwsError):
    """AWS ``TooManyRequestsException`` (HTTP 429)."""

    code = "TooManyRequestsException"
    status = 429


class ServiceException(AwsError):
    """AWS ``ServiceException`` (HTTP 500)."""

    code = "ServiceException"
    status = 500
    sender_fault = False


class InvalidZipFileException(AwsError):
    """AWS ``InvalidZipFileException`` (HTTP 502)."""

    code = "InvalidZipFileException"
    status = 502
    sender_fault = False


class InvalidRuntimeException(AwsError):
    """AWS ``InvalidRuntimeException`` (HTTP 502)."""

    code = "InvalidRuntimeException"
    status = 502
    sender_fault = False


class PolicyLengthExceededException(AwsError):
    """AWS ``PolicyLengthExceededException`` (HTTP 400): a resource policy over 20 KB."""

    code = "PolicyLengthExceededException"
    status = 400


class ResourceInUseException(AwsError):
    """AWS ``ResourceInUseException`` (HTTP 400): e.g. an event source mapping between two states."""

    code = "ResourceInUseException"
    status = 400


class ResourceNotReadyException(AwsError):
    """AWS ``ResourceNotReadyException`` (HTTP 502)."""

    code = "ResourceNotReadyException"
    status = 502
    sender_fault = False


# SQS (botocore sqs/2012-11-05 error shapes). SQS moved from the query protocol to JSON and stayed
# ``awsQueryCompatible``: each error also travels under its legacy query code (see
# ``lamina.services.sqs.provider.QUERY_CODES``). Unmodelled ones (InvalidParameterValueException,
# MissingRequiredParameterException) are what AWS's JSON front end names them.

class QueueDoesNotExist(AwsError):
    """AWS ``QueueDoesNotExist`` (HTTP 400)."""

    code = "QueueDoesNotExist"
    status = 400


class QueueNameExists(AwsError):
    """AWS ``QueueNameExists`` (HTTP 400)."""

    code = "QueueNameExists"
    status = 400


class InvalidAttributeName(AwsError):
    """AWS ``InvalidAttributeName`` (HTTP 400)."""

    code = "InvalidAttributeName"
    status = 400


class InvalidAttributeValue(AwsError):
    """AWS ``InvalidAttributeValue`` (HTTP 400)."""

    code = "InvalidAttributeValue"
    status = 400


class InvalidMessageContents(AwsError):
    """AWS ``InvalidMessageContents`` (HTTP 400)."""

    code = "InvalidMessageContents"
    status = 400


class MissingRequiredParameterException(AwsError):
    """AWS ``MissingRequiredParameterException`` (HTTP 400)."""

    code = "MissingRequiredParameterException"
    status = 400


class ReceiptHandleIsInvalid(AwsError):
    """AWS ``ReceiptHandleIsInvalid`` (HTTP 400)."""

    code = "ReceiptHandleIsInvalid"
    status = 400


class MessageNotInflight(AwsError):
    """AWS ``MessageNotInflight`` (HTTP 400)."""

    code = "MessageNotInflight"
    status = 400


class EmptyBatchRequest(AwsError):
    """AWS ``EmptyBatchRequest`` (HTTP 400)."""

    code = "EmptyBatchRequest"
    status = 400


class TooManyEntriesInBatchRequest(AwsError):
    """AWS ``TooManyEntriesInBatchRequest`` (HTTP 400)."""

    code = "TooManyEntriesInBatchRequest"
    status = 400


class BatchEntryIdsNotDistinct(AwsError):
    """AWS ``BatchEntryIdsNotDistinct`` (HTTP 400)."""

    code = "BatchEntryIdsNotDistinct"
    status = 400


class InvalidBatchEntryId(AwsError):
    """AWS ``InvalidBatchEntryId`` (HTTP 400)."""

    code = "InvalidBatchEntryId"
    status = 400


class BatchRequestTooLong(AwsError):
    """AWS ``BatchRequestTooLong`` (HTTP 400)."""

    code = "BatchRequestTooLong"
    status = 400


class PurgeQueueInProgress(AwsError):
    """AWS ``PurgeQueueInProgress`` (HTTP 403)."""

    code = "PurgeQueueInProgress"
    status = 403


# API Gateway v2 (botocore apigatewayv2/2018-11-29 error shapes; their message member is ``Message``).

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
