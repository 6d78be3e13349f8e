"""What asynchronous invocation delivers after the last attempt: AWS's invocation record (for
OnSuccess / OnFailure destinations) and the dead-letter queue message's attributes.

Record shape (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)::

    {"version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
     "requestContext": {"requestId": ..., "functionArn": "...:function:name:$LATEST",
                        "condition": "Success" | "RetriesExhausted" | "EventAgeExceeded",
                        "approximateInvokeCount": 1},
     "requestPayload": <the event>,
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
     "responsePayload": <what the function returned, or its error object>}

Dead-letter queue (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq):
the body is the original event, unchanged; the message attributes are ``RequestID`` (String),
``ErrorCode`` (Number, the 3-digit HTTP status code of the last attempt: 200 for a function error,
429 for a throttle, 5xx for a system error) and ``ErrorMessage`` (String, the first 1 KB).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

ERROR_MESSAGE_BYTES = 1024


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The last attempt that did not succeed, or the successful one: what a record reports."""

    status_code: int
    executed_version: str | None = None
    function_error: str | None = None
    payload: str = ""
    error_message: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> AttemptResult | None:
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


def timestamp(epoch_s: float) -> str:
    """``2019-11-14T18:16:05.568Z``: ISO 8601 in UTC with milliseconds, as the record carries it."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def invocation_record(*, request_id: str, function_arn: str, condition: str, invoke_count: int,
                      request_payload: bytes, result: AttemptResult | None, now: float) -> dict[str, Any]:
    """AWS's invocation record. ``result`` is None when the function never ran (every attempt was
    throttled): the record then has no response members."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": timestamp(now),
        "requestContext": {"requestId": request_id, "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invoke_count},
        "requestPayload": _json_or_text(request_payload.decode("utf-8", "replace")),
    }
    if result is not None and result.executed_version is not None:
        response: dict[str, Any] = {"statusCode": result.status_code, "executedVersion": result.executed_version}
        if result.function_error:
            response["functionError"] = result.function_error
        record["responseContext"] = response
        record["responsePayload"] = _json_or_text(result.payload)
    return record


def dead_letter_attributes(request_id: str, result: AttemptResult | None) -> dict[str, dict[str, str]]:
    """The message attributes of the dead-letter queue message."""
    status = result.status_code if result is not None else 500
    message = (result.error_message if result is not None else "") or "Unknown error"
    return {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": str(status)},
        "ErrorMessage": {"DataType": "String", "StringValue": truncate(message, ERROR_MESSAGE_BYTES)},
    }


def error_message(payload: bytes) -> str:
    """The ``errorMessage`` of a function's error object, else the payload as text."""
    text = payload.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict) and isinstance(data.get("errorMessage"), str):
        return str(data["errorMessage"])
    return text


def truncate(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``limit`` bytes."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _json_or_text(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
