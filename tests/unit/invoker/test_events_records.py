"""AWS's invocation record and the dead-letter queue message attributes."""

from __future__ import annotations

import json

from lamina.invoker.event_records import (
    AttemptResult,
    dead_letter_attributes,
    error_message,
    invocation_record,
    timestamp,
    truncate,
)

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"


def test_timestamp_is_iso_utc_with_milliseconds() -> None:
    assert timestamp(1573755365.5681) == "2019-11-14T18:16:05.568Z"


def test_failure_record_has_the_response_of_the_last_attempt() -> None:
    failed = AttemptResult(200, "$LATEST", "Unhandled", json.dumps({"errorMessage": "boom", "errorType": "E"}),
                           "boom")
    record = invocation_record(request_id="r-1", function_arn=ARN, condition="RetriesExhausted", invoke_count=3,
                               request_payload=b'{"k": 1}', result=failed, now=1573755365.0)
    assert record == {
        "version": "1.0", "timestamp": "2019-11-14T18:16:05.000Z",
        "requestContext": {"requestId": "r-1", "functionArn": ARN, "condition": "RetriesExhausted",
                           "approximateInvokeCount": 3},
        "requestPayload": {"k": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom", "errorType": "E"},
    }


def test_success_record_has_no_function_error_and_keeps_null_responses() -> None:
    record = invocation_record(request_id="r", function_arn=ARN, condition="Success", invoke_count=1,
                               request_payload=b"{}", result=AttemptResult(200, "3", None, "null"), now=0.0)
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "3"}
    assert record["responsePayload"] is None


def test_a_function_that_never_ran_has_no_response_members() -> None:
    record = invocation_record(request_id="r", function_arn=ARN, condition="EventAgeExceeded", invoke_count=0,
                               request_payload=b"[1]", result=AttemptResult(429, error_message="Rate Exceeded."),
                               now=0.0)
    assert "responseContext" not in record and "responsePayload" not in record
    assert record["requestPayload"] == [1]


def test_dead_letter_attributes() -> None:
    attributes = dead_letter_attributes("r-9", AttemptResult(200, "$LATEST", "Unhandled", "{}", "x" * 5000))
    assert attributes["RequestID"] == {"DataType": "String", "StringValue": "r-9"}
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert len(attributes["ErrorMessage"]["StringValue"]) == 1024
    assert dead_letter_attributes("r", None)["ErrorCode"]["StringValue"] == "500"


def test_error_message_and_truncation() -> None:
    assert error_message(b'{"errorMessage": "bad", "errorType": "X"}') == "bad"
    assert error_message(b"plain") == "plain"
    assert truncate("é" * 600, 1024) == "é" * 512
    assert AttemptResult.from_json(AttemptResult(500, error_message="m").to_json()) == AttemptResult(
        500, error_message="m")
    assert AttemptResult.from_json("not json") is None
