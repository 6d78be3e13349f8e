"""serverless.yml maps onto SAM (then the same pipeline), with the Framework's names, defaults and variables."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lamina.deploy import cfnyaml, serverless, slsvars
from lamina.deploy.model import Concat, GetAtt, LocalPath, Ref, Stack, TemplateError
from lamina.deploy.template import load

SERVICE = """\
service: shop
frameworkVersion: '3'
custom:
  table: orders-${sls:stage}
  memory:
    dev: 256
    prod: 2048
provider:
  name: aws
  runtime: python3.12
  stage: ${opt:stage, 'dev'}
  region: ${opt:region, 'eu-west-1'}
  memorySize: ${self:custom.memory.${self:provider.stage}}
  architecture: arm64
  logRetentionInDays: 7
  environment:
    TABLE: ${self:custom.table}
    GREETING: ${env:SHOP_GREETING, 'hello'}
    RETRIES: 3
  httpApi:
    cors: true
functions:
  api:
    handler: handlers/api.main
    timeout: 10
    reservedConcurrency: 4
    environment:
      QUEUE_URL: !Ref Jobs
      RETRIES: 5
    events:
      - httpApi: GET /orders/{id}
      - httpApi:
          method: post
          path: /orders
      - http: GET legacy/{proxy+}
  worker:
    handler: handlers/worker.run
    runtime: python3.11
    provisionedConcurrency: 2
    events:
      - sqs:
          arn: !GetAtt Jobs.Arn
          batchSize: 5
          maximumBatchingWindow: 2
          functionResponseType: ReportBatchItemFailures
      - sqs: arn:aws:sqs:eu-west-1:123456789012:external
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: ${self:service}-${sls:stage}-jobs
  Outputs:
    JobsUrl:
      Value: !Ref Jobs
"""


def write(folder: Path, text: str = SERVICE) -> Path:
    (folder / "handlers").mkdir(parents=True, exist_ok=True)
    (folder / "handlers" / "api.py").write_text("def main(event, context):\n    return 1\n")
    (folder / "serverless.yml").write_text(textwrap.dedent(text))
    return folder


def deploy(folder: Path, **options: str) -> Stack:
    return load(folder, stack_name=None, region="us-east-1", account_id="123456789012", parameters=options)


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def refused(tmp_path: Path, text: str) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        deploy(write(tmp_path / "svc", text))
    return caught.value


def test_functions_get_the_frameworks_names_defaults_and_provider_settings(tmp_path: Path) -> None:
    stack = deploy(write(tmp_path / "svc"))
    assert stack.name == "shop-dev"
    assert stack.region == "eu-west-1"
    api = stack.resources["ApiLambdaFunction"]
    assert api.type == "AWS::Lambda::Function"
    assert api.line == line_of(SERVICE, "  api:")
    properties = api.properties
    assert properties["FunctionName"] == "shop-dev-api"
    assert properties["Handler"] == "handlers/api.main"
    assert properties["Code"] == {"ZipFile": LocalPath(tmp_path / "svc", "function", "python3.12")}
    assert properties["MemorySize"] == 256
    assert properties["Timeout"] == 10
    assert properties["Architectures"] == ["arm64"]
    assert properties["ReservedConcurrentExecutions"] == 4
    assert properties["Environment"] == {"Variables": {
        "TABLE": "orders-dev", "GREETING": "hello", "RETRIES": "5", "QUEUE_URL": Ref("Jobs")}}

    worker = stack.resources["WorkerLambdaFunction"].properties
    assert worker["Runtime"] == "python3.11"
    assert worker["Timeout"] == 6 and worker["MemorySize"] == 256
    alias = stack.resources["WorkerLambdaFunctionAliasprovisioned"]
    assert alias.properties["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}


def test_events_become_apis_and_queue_mappings(tmp_path: Path) -> None:
    stack = deploy(write(tmp_path / "svc"))
    resources = stack.resources
    http_api = resources["HttpApi"]
    assert http_api.type == "AWS::ApiGatewayV2::Api"
    assert http_api.line == line_of(SERVICE, "- httpApi: GET /orders/{id}")
    body = http_api.properties["Body"]
    assert set(body["paths"]) == {"/orders/{id}", "/orders"}
    assert set(body["paths"]["/orders"]) == {"post"}
    assert body["info"]["title"] == "dev-shop"
    assert body["x-amazon-apigateway-cors"]["allowOrigins"] == ["*"]
    assert body["paths"]["/orders"]["post"]["x-amazon-apigateway-integration"]["uri"] == Concat(
        ("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/", GetAtt("ApiLambdaFunction", "Arn"),
         "/invocations"))

    rest_api = resources["ApiGatewayRestApi"]
    assert rest_api.type == "AWS::ApiGateway::RestApi"
    assert set(rest_api.properties["Body"]["paths"]) == {"/legacy/{proxy+}"}
    assert resources["ApiGatewayRestApidevStage"].properties["StageName"] == "dev"

    mappings = {key: resource for key, resource in resources.items()
                if resource.type == "AWS::Lambda::EventSourceMapping"}
    assert {mapping.properties["EventSourceArn"] for mapping in mappings.values()} == {
        GetAtt("Jobs", "Arn"), "arn:aws:sqs:eu-west-1:123456789012:external"}
    first = mappings["WorkerLambdaFunctionSqs0"].properties
    assert first["BatchSize"] == 5 and first["MaximumBatchingWindowInSeconds"] == 2
    assert first["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert first["FunctionName"] == Ref("WorkerLambdaFunctionAliasprovisioned")
    assert resources["Jobs"].properties == {"QueueName": "shop-dev-jobs"}
    assert resources["Jobs"].line == line_of(SERVICE, "    Jobs:")
    assert stack.outputs["JobsUrl"] == {"Value": Ref("Jobs")}
    assert stack.outputs["HttpApiUrl"]["Value"] == Concat(
        ("https://", Ref("HttpApi"), ".execute-api.eu-west-1.amazonaws.com"))


def test_options_and_environment_feed_the_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_GREETING", "hej")
    stack = deploy(write(tmp_path / "svc"), stage="prod", region="eu-north-1")
    assert stack.name == "shop-prod" and stack.region == "eu-north-1"
    properties = stack.resources["ApiLambdaFunction"].properties
    assert properties["FunctionName"] == "shop-prod-api"
    assert properties["MemorySize"] == 2048
    assert properties["Environment"]["Variables"]["TABLE"] == "orders-prod"
    assert properties["Environment"]["Variables"]["GREETING"] == "hej"


def test_opt_stage_without_fallback_is_the_default_stage() -> None:
    text = "service: s\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  x: ${opt:stage}-${opt:region}\n"
    document = cfnyaml.parse_yaml(text, Path("serverless.yml"))
    converted = serverless.convert(document, region="us-east-2", account_id="1", options={}, environ={})
    assert converted.stack_name == "s-dev" and converted.region == "us-east-2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${self:custom.list}", ["a", "b"]),
        ("${self:custom.missing, self:custom.word}", "w"),
        ("${env:NOPE, 42}", 42),
        ("${env:NOPE, \"quoted, with comma\"}", "quoted, with comma"),
        ("x-${aws:accountId}-${aws:region}", "x-123456789012-us-east-1"),
        ("${AWS::Region}-${Param}", "${AWS::Region}-${Param}"),
        ("${self:custom.nested}", "w-w"),
    ],
)
def test_variable_forms(value: str, expected: object) -> None:
    text = ("service: s\nprovider:\n  name: aws\ncustom:\n  list: [a, b]\n  word: w\n"
            "  nested: ${self:custom.word}-${self:custom.word}\n"
            f"  probe: '{value}'\n")
    document = cfnyaml.parse_yaml(text, Path("serverless.yml"))
    variables = slsvars.Variables(document, options={}, environ={}, region="us-east-1",
                                      account_id="123456789012")
    assert variables.resolve(document.data["custom"]["probe"], ("custom", "probe")) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("${self:custom.nothing}", "cannot resolve variable ${self:custom.nothing}"),
        ("${env:LAMINA_SURELY_UNSET}", "cannot resolve variable ${env:LAMINA_SURELY_UNSET}"),
        ("${ssm:/app/secret}", "${ssm:…} variables are not supported by Lamina"),
        ("${file(./config.yml):key}", "${file:…} variables are not supported by Lamina"),
        ("${self:custom.probe}", "${self:custom.probe} refers to itself"),
    ],
)
def test_unresolvable_variables_are_refused_with_the_line(tmp_path: Path, value: str, words: str) -> None:
    text = SERVICE.replace("custom:\n", f"custom:\n  probe: '{value}'\n")
    caught = refused(tmp_path, text)
    assert words in caught.message
    assert caught.line == line_of(text, "  probe:")


@pytest.mark.parametrize("event", ["s3: photos", "schedule: rate(1 minute)", "stream: arn:aws:dynamodb:x",
                                   "sns: topic", "eventBridge: {pattern: {source: [x]}}"])
def test_unsupported_events_are_refused_with_their_line(tmp_path: Path, event: str) -> None:
    legacy = "      - http: GET legacy/{proxy+}\n"
    text = SERVICE.replace(legacy, f"{legacy}      - {event}\n")
    caught = refused(tmp_path, text)
    kind = event.split(":")[0]
    assert caught.message == f'Event "events[3]" of type {kind} (function api) is not supported by Lamina yet'
    assert caught.line == line_of(text, f"- {event}")


def test_layers_and_logical_names(tmp_path: Path) -> None:
    text = SERVICE.replace("functions:\n", "layers:\n  deps:\n    path: layer\n    compatibleRuntimes: [python3.12]\n"
                                           "functions:\n  my-tool_x:\n    handler: tool.run\n"
                                           "    layers: [!Ref DepsLambdaLayer]\n")
    folder = write(tmp_path / "svc", text)
    (folder / "layer").mkdir()
    stack = deploy(folder)
    assert serverless.logical_name("my-tool_x") == "MyDashtoolUnderscorex"
    tool = stack.resources["MyDashtoolUnderscorexLambdaFunction"].properties
    assert tool["FunctionName"] == "shop-dev-my-tool_x"
    [layer_id] = [key for key, resource in stack.resources.items() if resource.type == "AWS::Lambda::LayerVersion"]
    assert layer_id.startswith("DepsLambdaLayer")
    assert tool["Layers"] == [Ref(layer_id)]
    assert stack.resources[layer_id].properties["Content"] == {
        "ZipFile": LocalPath(folder / "layer", "layer", "python3.12")}


def test_shape_errors(tmp_path: Path) -> None:
    assert "needs a handler" in refused(tmp_path, SERVICE.replace("    handler: handlers/api.main\n", "")).message
    assert "provider google is not supported" in refused(tmp_path, SERVICE.replace("name: aws", "name: google")).message
    text = SERVICE.replace("  Outputs:\n", "    Photos:\n      Type: AWS::S3::Bucket\n  Outputs:\n")
    caught = refused(tmp_path, text)
    assert caught.message == 'Resource "Photos" has type AWS::S3::Bucket, which Lamina does not deploy'
    assert caught.line == line_of(text, "AWS::S3::Bucket")
