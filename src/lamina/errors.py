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


def _error(name: str, status: int, sender_fault: bool = True) -> type[AwsError]:
    return type(name, (AwsError,), {"code": name, "status": status, "sender_fault": sender_fault,
                                    "__doc__": f"AWS ``{name}`` (HTTP {status})."})


# Shared by every AWS service.
ValidationException = _error("ValidationException", 400)
UnknownOperationException = _error("UnknownOperationException", 404)
# An operation the model has and Lamina does not implement yet. 501, not 500: botocore retries
# 500/502/503/504 and a retry cannot help.
NotImplementedException = _error("NotImplementedException", 501, sender_fault=False)
SerializationException = _error("SerializationException", 400)
AccessDeniedException = _error("AccessDeniedException", 403)
InvalidSignatureException = _error("InvalidSignatureException", 403)
UnrecognizedClientException = _error("UnrecognizedClientException", 403)

# Lambda (botocore lambda/2015-03-31 error shapes).
InvalidParameterValueException = _error("InvalidParameterValueException", 400)
InvalidRequestContentException = _error("InvalidRequestContentException", 400)
CodeStorageExceededException = _error("CodeStorageExceededException", 400)
ResourceNotFoundException = _error("ResourceNotFoundException", 404)
ResourceConflictException = _error("ResourceConflictException", 409)
PreconditionFailedException = _error("PreconditionFailedException", 412)
RequestTooLargeException = _error("RequestTooLargeException", 413)
UnsupportedMediaTypeException = _error("UnsupportedMediaTypeException", 415)
TooManyRequestsException = _error("TooManyRequestsException", 429)
ServiceException = _error("ServiceException", 500, sender_fault=False)
InvalidZipFileException = _error("InvalidZipFileException", 502, sender_fault=False)
InvalidRuntimeException = _error("InvalidRuntimeException", 502, sender_fault=False)
ResourceNotReadyException = _error("ResourceNotReadyException", 502, sender_fault=False)

# SQS (botocore sqs/2012-11-05 error shapes). SQS moved from the query protocol to JSON and stayed
# ``awsQueryCompatible``: each error also travels under its legacy query code (see
# ``lamina.services.sqs.provider.QUERY_CODES``). Unmodelled ones (InvalidParameterValueException,
# MissingRequiredParameterException) are what AWS's JSON front end names them.
QueueDoesNotExist = _error("QueueDoesNotExist", 400)
QueueNameExists = _error("QueueNameExists", 400)
InvalidAttributeName = _error("InvalidAttributeName", 400)
InvalidAttributeValue = _error("InvalidAttributeValue", 400)
InvalidMessageContents = _error("InvalidMessageContents", 400)
MissingRequiredParameterException = _error("MissingRequiredParameterException", 400)
ReceiptHandleIsInvalid = _error("ReceiptHandleIsInvalid", 400)
MessageNotInflight = _error("MessageNotInflight", 400)
EmptyBatchRequest = _error("EmptyBatchRequest", 400)
TooManyEntriesInBatchRequest = _error("TooManyEntriesInBatchRequest", 400)
BatchEntryIdsNotDistinct = _error("BatchEntryIdsNotDistinct", 400)
InvalidBatchEntryId = _error("InvalidBatchEntryId", 400)
BatchRequestTooLong = _error("BatchRequestTooLong", 400)
PurgeQueueInProgress = _error("PurgeQueueInProgress", 403)
