"""``lamina generate-event SERVICE [KIND]``: sample events shaped as AWS delivers them to a function.

The shapes follow what each service sends (and what ``sam local generate-event`` prints), so a handler
tested with them sees the same fields in production. Ids and times are fresh on every call; the
account is the documentation account 123456789012, as in AWS's own samples.
"""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Options:
    """The fields people change; each kind reads the ones that apply to it."""

    region: str = "us-east-1"
    method: str = "GET"
    path: str = "/"
    body: str | None = None
    bucket: str = "example-bucket"
    key: str = "test/key"
    size: int = 1024
    queue_arn: str | None = None
    data: str = "Hello, this is a test."
    stream_arn: str | None = None
    intent: str = "OrderFlowers"
    text: str = "I would like to order flowers"


def _split(path: str) -> tuple[str, str, dict[str, str]]:
    raw_path, _, query = path.partition("?")
    # Repeated names: API Gateway keeps the last value in the single-value map (payload 1.0 and 2.0
    # differ only in the 2.0 comma-join, which sample events rarely need).
    return raw_path or "/", query, dict(urllib.parse.parse_qsl(query, keep_blank_values=True))


def _headers(options: Options) -> dict[str, str]:
    headers = {"accept": "*/*", "host": f"abcdef1234.execute-api.{options.region}.amazonaws.com",
               "user-agent": "curl/8.5.0", "x-forwarded-for": "192.0.2.1", "x-forwarded-port": "443",
               "x-forwarded-proto": "https"}
    if options.body is not None:
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(options.body.encode()))
    return headers


def http_api(options: Options) -> dict[str, Any]:
    """API Gateway HTTP API, payload format 2.0."""
    raw_path, query, params = _split(options.path)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query,
        "headers": _headers(options),
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "abcdef1234",
            "domainName": f"abcdef1234.execute-api.{options.region}.amazonaws.com", "domainPrefix": "abcdef1234",
            "http": {"method": options.method.upper(), "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "curl/8.5.0"},
            "requestId": base64.b32encode(uuid.uuid4().bytes)[:16].decode(), "routeKey": "$default",
            "stage": "$default", "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000)},
        "isBase64Encoded": False,
    }
    # Payload 2.0 omits empty collections and an absent body rather than sending nulls.
    if params:
        event["queryStringParameters"] = params
    if options.body is not None:
        event["body"] = options.body
    return event


def rest_api(options: Options) -> dict[str, Any]:
    """API Gateway REST API proxy integration, payload format 1.0."""
    raw_path, _, params = _split(options.path)
    now = time.time()
    headers = _headers(options)
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}", "path": raw_path, "httpMethod": options.method.upper(),
        "headers": headers, "multiValueHeaders": {name: [value] for name, value in headers.items()},
        # Payload 1.0 sends null, not {}, for the maps that are empty.
        "queryStringParameters": params or None,
        "multiValueQueryStringParameters": {name: [value] for name, value in params.items()} or None,
        "pathParameters": {"proxy": raw_path.lstrip("/")} if raw_path != "/" else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "abcdef1234", "resourceId": "a1b2c3", "resourcePath": "/{proxy+}",
            "httpMethod": options.method.upper(), "path": f"/prod{raw_path}", "protocol": "HTTP/1.1",
            "stage": "prod", "requestId": request_id, "extendedRequestId": request_id[:16],
            "domainName": headers["host"], "domainPrefix": "abcdef1234",
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
                         "cognitoAuthenticationType": None, "cognitoIdentityId": None,
                         "cognitoIdentityPoolId": None, "principalOrgId": None, "sourceIp": "192.0.2.1",
                         "user": None, "userAgent": "curl/8.5.0", "userArn": None}},
        "body": options.body, "isBase64Encoded": False,
    }


def _s3(options: Options, name: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": options.region,
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "eventName": name,
        "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "192.0.2.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                             "x-amz-id-2": base64.b64encode(uuid.uuid4().bytes * 2).decode()},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "lamina-sample",
               "bucket": {"name": options.bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                          "arn": f"arn:aws:s3:::{options.bucket}"},
               # S3 URL-encodes the key in notifications (a space arrives as "+"); handlers must unquote_plus.
               "object": {"key": urllib.parse.quote_plus(options.key, safe="/"), **obj,
                          "sequencer": f"{time.time_ns():018X}"[:18]}}}]}


def s3_put(options: Options) -> dict[str, Any]:
    """S3 ObjectCreated:Put notification."""
    etag = hashlib.md5(f"{options.bucket}/{options.key}".encode(), usedforsecurity=False).hexdigest()
    return _s3(options, "ObjectCreated:Put", {"size": options.size, "eTag": etag})


def s3_delete(options: Options) -> dict[str, Any]:
    """S3 ObjectRemoved:Delete notification (no size or eTag: the object is gone)."""
    return _s3(options, "ObjectRemoved:Delete", {})


def sqs(options: Options) -> dict[str, Any]:
    """SQS batch of one message, as the event source mapping delivers it."""
    arn = options.queue_arn or f"arn:aws:sqs:{options.region}:{ACCOUNT}:my-queue"
    body = "Hello from SQS!" if options.body is None else options.body
    sent = int(time.time() * 1000)
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": base64.b64encode(uuid.uuid4().bytes * 3).decode(),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(sent), "SenderId": ACCOUNT,
                       "ApproximateFirstReceiveTimestamp": str(sent + 1)},
        "messageAttributes": {}, "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": arn.split(":")[3] or options.region}]}


def kinesis(options: Options) -> dict[str, Any]:
    """Kinesis Data Streams batch of one record; ``data`` arrives base64-encoded."""
    arn = options.stream_arn or f"arn:aws:kinesis:{options.region}:{ACCOUNT}:stream/my-stream"
    sequence = str(49590338271490256608559692538361571095921575989136588898 + time.time_ns())
    return {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1", "sequenceNumber": sequence,
                    "data": base64.b64encode(options.data.encode()).decode(),
                    "approximateArrivalTimestamp": round(time.time(), 3)},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
        "awsRegion": arn.split(":")[3] or options.region, "eventSourceARN": arn}]}


def dynamodb_update(options: Options) -> dict[str, Any]:
    """DynamoDB Streams batch with an INSERT, a MODIFY and a REMOVE (NEW_AND_OLD_IMAGES), as SAM's sample."""
    arn = f"arn:aws:dynamodb:{options.region}:{ACCOUNT}:table/ExampleTable/stream/2026-01-01T00:00:00.000"
    keys = {"Id": {"N": "101"}}
    new = {"Message": {"S": "New item!"}, "Id": {"N": "101"}}
    changed = {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}}
    images: list[tuple[str, dict[str, Any]]] = [
        ("INSERT", {"NewImage": new}), ("MODIFY", {"OldImage": new, "NewImage": changed}),
        ("REMOVE", {"OldImage": changed})]
    now = float(int(time.time()))
    return {"Records": [{
        "eventID": uuid.uuid4().hex, "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": options.region,
        "dynamodb": {"ApproximateCreationDateTime": now, "Keys": keys, **image,
                     "SequenceNumber": str(111 * (index + 1)), "SizeBytes": 26 + 33 * index,
                     "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "eventSourceARN": arn} for index, (name, image) in enumerate(images)]}


def schedule(options: Options) -> dict[str, Any]:
    """EventBridge scheduled event (a rule with a rate or cron expression)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": options.region, "resources": [f"arn:aws:events:{options.region}:{ACCOUNT}:rule/my-schedule"],
            "detail": {}}


def lex_v2(options: Options) -> dict[str, Any]:
    """Amazon Lex V2 fulfillment code hook, text input."""
    intent = {"name": options.intent, "slots": {}, "state": "ReadyForFulfillment", "confirmationState": "None"}
    return {
        "messageVersion": "1.0", "invocationSource": "FulfillmentCodeHook", "inputMode": "Text",
        "responseContentType": "text/plain; charset=utf-8", "sessionId": str(uuid.uuid4().int)[:15],
        "inputTranscript": options.text,
        "bot": {"id": "ABCDEFGHIJ", "name": "SampleBot", "aliasId": "TSTALIASID", "aliasName": "TestBotAlias",
                "localeId": "en_US", "version": "DRAFT"},
        "interpretations": [{"intent": intent, "nluConfidence": 1.0, "interpretationSource": "Lex"}],
        "requestAttributes": {},
        "sessionState": {"sessionAttributes": {}, "activeContexts": [], "intent": intent,
                         "originatingRequestId": str(uuid.uuid4())},
        "transcriptions": [{"transcription": options.text, "transcriptionConfidence": 1.0,
                            "resolvedContext": {"intent": options.intent}, "resolvedSlots": {}}],
    }


#: service -> kind -> generator; the first kind of each service is its default.
KINDS: dict[str, dict[str, Callable[[Options], dict[str, Any]]]] = {
    "apigateway": {"http-api": http_api, "rest": rest_api},
    "s3": {"put": s3_put, "delete": s3_delete},
    "sqs": {"receive-message": sqs},
    "kinesis": {"get-records": kinesis},
    "dynamodb": {"update": dynamodb_update},
    "schedule": {"scheduled-event": schedule},
    "lex-v2": {"fulfillment": lex_v2},
}


def listing() -> str:
    return ", ".join(f"{service} {'|'.join(kinds)}" for service, kinds in KINDS.items())


def generate(service: str, kind: str | None, options: Options) -> dict[str, Any]:
    """The sample event; raises ValueError naming the choices for an unknown service or kind."""
    kinds = KINDS.get(service)
    if kinds is None:
        raise ValueError(f"unknown service {service!r}; choose from: {listing()}")
    make = kinds.get(kind or next(iter(kinds)))
    if make is None:
        raise ValueError(f"unknown kind {kind!r} for {service}; choose from: {', '.join(kinds)}")
    return make(options)
