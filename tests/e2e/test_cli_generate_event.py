"""``lamina generate-event``: every kind is JSON that Powertools' parser models accept, and options land."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import models
from typer.testing import CliRunner

from lamina.cli.main import app

MODELS: dict[tuple[str, str], Any] = {
    ("apigateway", "http-api"): models.APIGatewayProxyEventV2Model,
    ("apigateway", "rest"): models.APIGatewayProxyEventModel,
    ("s3", "put"): models.S3Model,
    ("s3", "delete"): models.S3Model,
    ("sqs", "receive-message"): models.SqsModel,
    ("kinesis", "get-records"): models.KinesisDataStreamModel,
    ("dynamodb", "update"): models.DynamoDBStreamModel,
    ("schedule", "scheduled-event"): models.EventBridgeModel,
}


def generate(*args: str) -> Any:
    result = CliRunner().invoke(app, ["generate-event", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(("service", "kind"), list(MODELS))
def test_every_kind_validates_with_its_powertools_model(service: str, kind: str) -> None:
    MODELS[service, kind].model_validate(generate(service, kind))


def test_lex_v2_fulfillment_shape() -> None:
    # Powertools has no Lex V2 model; check the fields a fulfillment handler reads.
    event = generate("lex-v2", "--intent", "BookHotel", "--text", "a room please")
    assert event["invocationSource"] == "FulfillmentCodeHook" and event["messageVersion"] == "1.0"
    assert event["sessionState"]["intent"]["name"] == "BookHotel"
    assert event["interpretations"][0]["intent"]["name"] == "BookHotel"
    assert event["inputTranscript"] == "a room please"
    assert event["transcriptions"][0]["transcription"] == "a room please"
    assert set(event["bot"]) >= {"id", "name", "aliasId", "localeId", "version"}


def test_kind_defaults_to_the_services_first() -> None:
    assert generate("sqs")["Records"][0]["eventSource"] == "aws:sqs"
    assert "routeKey" in generate("apigateway")


def test_apigateway_options() -> None:
    v2 = models.APIGatewayProxyEventV2Model.model_validate(
        generate("apigateway", "http-api", "--method", "post", "--path", "/items/7?color=red", "--body", '{"a": 1}'))
    assert (v2.requestContext.http.method, v2.rawPath, v2.rawQueryString) == ("POST", "/items/7", "color=red")
    assert v2.queryStringParameters == {"color": "red"} and v2.body == '{"a": 1}'
    rest = models.APIGatewayProxyEventModel.model_validate(
        generate("apigateway", "rest", "--method", "PUT", "--path", "/items/7?color=red", "--body", "hi"))
    assert (rest.httpMethod, rest.path, rest.body) == ("PUT", "/items/7", "hi")
    assert rest.queryStringParameters == {"color": "red"} and rest.pathParameters == {"proxy": "items/7"}
    plain = generate("apigateway", "http-api")
    assert "body" not in plain and "queryStringParameters" not in plain


def test_s3_options() -> None:
    put = models.S3Model.model_validate(
        generate("s3", "put", "--bucket", "photos", "--key", "2026/my cat.jpg", "--size", "99", "--region",
                 "eu-west-1")).Records[0]
    assert put.eventName == "ObjectCreated:Put" and put.awsRegion == "eu-west-1"
    assert put.s3.bucket.name == "photos" and put.s3.bucket.arn == "arn:aws:s3:::photos"
    assert put.s3.object is not None and put.s3.object.size == 99
    assert put.s3.object.key == "2026/my+cat.jpg"
    assert urllib.parse.unquote_plus(put.s3.object.key) == "2026/my cat.jpg"
    gone = models.S3Model.model_validate(generate("s3", "delete", "--key", "old")).Records[0]
    assert gone.eventName == "ObjectRemoved:Delete" and gone.s3.object is not None
    assert gone.s3.object.key == "old" and gone.s3.object.size is None


def test_sqs_kinesis_dynamodb_schedule_options() -> None:
    arn = "arn:aws:sqs:eu-central-1:111122223333:jobs"
    message = models.SqsModel.model_validate(generate("sqs", "--body", "job 1", "--queue-arn", arn)).Records[0]
    assert message.body == "job 1" and message.eventSourceARN == arn and message.awsRegion == "eu-central-1"
    stream = "arn:aws:kinesis:us-west-2:111122223333:stream/clicks"
    raw = generate("kinesis", "--data", "click!", "--stream-arn", stream)
    assert base64.b64decode(raw["Records"][0]["kinesis"]["data"]) == b"click!"
    record = models.KinesisDataStreamModel.model_validate(raw).Records[0]
    assert record.kinesis.data == b"click!" and record.eventSourceARN == stream
    changes = models.DynamoDBStreamModel.model_validate(generate("dynamodb", "update", "--region", "ap-south-1"))
    assert [r.eventName for r in changes.Records] == ["INSERT", "MODIFY", "REMOVE"]
    assert changes.Records[1].dynamodb is not None and changes.Records[1].dynamodb.OldImage is not None
    assert all(r.awsRegion == "ap-south-1" for r in changes.Records)
    tick = models.EventBridgeModel.model_validate(generate("schedule", "--region", "eu-north-1"))
    assert tick.detail_type == "Scheduled Event" and tick.source == "aws.events" and tick.region == "eu-north-1"


def test_unknown_service_kind_and_output_are_refused() -> None:
    for args in (["nope"], ["s3", "copy"], ["sqs", "--output", "table"]):
        result = CliRunner().invoke(app, ["generate-event", *args])
        assert result.exit_code == 2, args


def test_python_dash_m_prints_json() -> None:
    done = subprocess.run([sys.executable, "-m", "lamina", "generate-event", "schedule", "--output", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    models.EventBridgeModel.model_validate(json.loads(done.stdout))
