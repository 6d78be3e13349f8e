"""SAM templates expand through AWS's translator into the CloudFormation resources Lamina deploys."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from lamina.deploy.model import Concat, GetAtt, LocalPath, Ref, Stack, TemplateError
from lamina.deploy.template import load

APP = """\
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: python3.12
    MemorySize: 256
    Timeout: 10
    CodeUri: src/
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  Jobs:
    Type: AWS::SQS::Queue
  Dead:
    Type: AWS::SQS::Queue
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      AutoPublishAlias: live
      Layers: [!Ref Deps]
      ReservedConcurrentExecutions: 5
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt Dead.Arn
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt Dead.Arn
      FunctionUrlConfig:
        AuthType: NONE
      Environment:
        Variables:
          QUEUE_URL: !Ref Jobs
      Events:
        Hello:
          Type: HttpApi
          Properties:
            Path: /hello/{name}
            Method: GET
        Legacy:
          Type: Api
          Properties:
            Path: /legacy
            Method: post
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
Outputs:
  HttpUrl:
    Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com"
"""


def write(folder: Path, template: str, *, code: str = "def handler(event, context):\n    return 1\n") -> Path:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "app.py").write_text(code)
    (folder / "layer" / "python").mkdir(parents=True, exist_ok=True)
    (folder / "layer" / "python" / "helpers.py").write_text("X = 1\n")
    (folder / "template.yaml").write_text(textwrap.dedent(template))
    return folder


def deploy(folder: Path, **parameters: str) -> Stack:
    return load(folder, stack_name=None, region="eu-west-1", account_id="123456789012", parameters=parameters)


def line_of(template: str, text: str) -> int:
    return next(number for number, line in enumerate(template.splitlines(), 1) if text in line)


def refused(tmp_path: Path, template: str) -> TemplateError:
    write(tmp_path / "app", template)
    with pytest.raises(TemplateError) as caught:
        deploy(tmp_path / "app")
    return caught.value


def test_function_with_globals_layer_alias_and_local_code(tmp_path: Path) -> None:
    stack = deploy(write(tmp_path / "my_app", APP))
    assert stack.name == "my-app"
    function = stack.resources["Api"]
    assert function.type == "AWS::Lambda::Function"
    assert function.line == line_of(APP, "  Api:")
    properties = function.properties
    assert properties["Code"] == {"ZipFile": LocalPath(tmp_path / "my_app" / "src", "function", "python3.12")}
    assert properties["Runtime"] == "python3.12"
    assert properties["MemorySize"] == 256 and properties["Timeout"] == 10
    assert properties["Handler"] == "app.handler"
    assert properties["ReservedConcurrentExecutions"] == 5
    assert properties["Environment"] == {"Variables": {"STAGE": "dev", "QUEUE_URL": Ref("Jobs")}}
    assert properties["DeadLetterConfig"] == {"TargetArn": GetAtt("Dead", "Arn")}
    assert properties["Role"] == GetAtt("ApiRole", "Arn")

    [layer_id] = [key for key, resource in stack.resources.items() if resource.type == "AWS::Lambda::LayerVersion"]
    layer = stack.resources[layer_id]
    assert layer_id.startswith("Deps") and layer.line == line_of(APP, "  Deps:")
    assert layer.deletion_policy == "Retain"
    assert layer.properties["Content"] == {"ZipFile": LocalPath(tmp_path / "my_app" / "layer", "layer", "python3.12")}
    assert properties["Layers"] == [Ref(layer_id)]

    [version_id] = [key for key, resource in stack.resources.items() if resource.type == "AWS::Lambda::Version"]
    assert version_id.startswith("ApiVersion")
    assert stack.resources[version_id].deletion_policy == "Retain"
    assert stack.resources[version_id].line == function.line
    alias = stack.resources["ApiAliaslive"]
    assert alias.type == "AWS::Lambda::Alias"
    assert alias.properties == {"Name": "live", "FunctionName": Ref("Api"),
                                "FunctionVersion": GetAtt(version_id, "Version")}
    assert stack.resources["ApiRole"].type == "AWS::IAM::Role"


def test_events_url_and_invoke_config(tmp_path: Path) -> None:
    stack = deploy(write(tmp_path / "app", APP))
    resources = stack.resources

    mapping = resources["ApiWork"]
    assert mapping.type == "AWS::Lambda::EventSourceMapping"
    assert mapping.properties == {"BatchSize": 5, "EventSourceArn": GetAtt("Jobs", "Arn"),
                                  "FunctionName": Ref("ApiAliaslive")}

    http_api = resources["ServerlessHttpApi"]
    assert http_api.type == "AWS::ApiGatewayV2::Api"
    assert http_api.line == line_of(APP, "Hello:")
    route = http_api.properties["Body"]["paths"]["/hello/{name}"]["get"]["x-amazon-apigateway-integration"]
    assert route["payloadFormatVersion"] == "2.0" and route["type"] == "aws_proxy"
    assert route["uri"] == Concat(("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/",
                                   Ref("ApiAliaslive"), "/invocations"))
    stage = resources["ServerlessHttpApiApiGatewayDefaultStage"]
    assert stage.type == "AWS::ApiGatewayV2::Stage"
    assert stage.properties["StageName"] == "$default" and stage.properties["ApiId"] == Ref("ServerlessHttpApi")

    rest_api = resources["ServerlessRestApi"]
    assert rest_api.type == "AWS::ApiGateway::RestApi"
    assert rest_api.line == line_of(APP, "Legacy:")
    body = rest_api.properties["Body"]
    assert body["swagger"] == "2.0" and body["info"]["title"] == "app"
    assert body["paths"]["/legacy"]["post"]["x-amazon-apigateway-integration"]["uri"] == Concat(
        ("arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/", Ref("ApiAliaslive"), "/invocations"))
    assert resources["ServerlessRestApiProdStage"].properties["StageName"] == "Prod"
    assert any(resource.type == "AWS::ApiGateway::Deployment" for resource in resources.values())
    permission = resources["ApiHelloPermission"]
    assert permission.properties["SourceArn"] == Concat(
        ("arn:aws:execute-api:eu-west-1:123456789012:", Ref("ServerlessHttpApi"), "/*/GET/hello/*"))

    url = resources["ApiUrl"]
    assert url.type == "AWS::Lambda::Url"
    assert url.properties == {"AuthType": "NONE", "TargetFunctionArn": Ref("ApiAliaslive")}
    invoke_config = resources["ApiEventInvokeConfig"]
    assert invoke_config.type == "AWS::Lambda::EventInvokeConfig"
    assert invoke_config.properties == {
        "FunctionName": Ref("Api"), "Qualifier": "live", "MaximumRetryAttempts": 1,
        "DestinationConfig": {"OnFailure": {"Destination": GetAtt("Dead", "Arn")}},
    }
    assert invoke_config.depends_on == ("ApiAliaslive",)
    assert stack.outputs["HttpUrl"]["Value"] == Concat(
        ("https://", Ref("ServerlessHttpApi"), ".execute-api.eu-west-1.amazonaws.com"))


def test_inline_code_needs_no_code_uri(tmp_path: Path) -> None:
    template = """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Inline:
            Type: AWS::Serverless::Function
            Properties:
              Handler: index.handler
              Runtime: python3.12
              InlineCode: "def handler(event, context): return event"
        """
    stack = deploy(write(tmp_path / "app", template))
    assert stack.resources["Inline"].properties["Code"] == {"ZipFile": "def handler(event, context): return event"}


def test_version_changes_only_when_the_code_does(tmp_path: Path) -> None:
    def version_ids(stack: Stack) -> set[str]:
        return {key for key, resource in stack.resources.items() if resource.type == "AWS::Lambda::Version"}

    first = version_ids(deploy(write(tmp_path / "app", APP)))
    assert version_ids(deploy(write(tmp_path / "app", APP))) == first
    for cache in ("__pycache__", ".lamina-build"):
        (tmp_path / "app" / "src" / cache).mkdir()
        (tmp_path / "app" / "src" / cache / "built").write_bytes(b"cache")
    assert version_ids(deploy(tmp_path / "app")) == first
    changed = version_ids(deploy(write(tmp_path / "app", APP, code="def handler(event, context):\n    return 2\n")))
    assert changed != first and len(changed) == 1


@pytest.mark.parametrize(("event_type", "properties"), [
    ("S3", "{Bucket: !Ref B, Events: s3:ObjectCreated:*}"),
    ("Schedule", "{Schedule: rate(1 minute)}"),
    ("ScheduleV2", "{ScheduleExpression: rate(1 minute)}"),
    ("Kinesis", "{Stream: arn, StartingPosition: LATEST}"),
    ("DynamoDB", "{Stream: arn, StartingPosition: LATEST}"),
    ("SNS", "{Topic: arn}"),
    ("EventBridgeRule", "{Pattern: {source: [x]}}"),
    ("CloudWatchEvent", "{Pattern: {source: [x]}}"),
])
def test_unsupported_events_are_refused_with_their_line(tmp_path: Path, event_type: str, properties: str) -> None:
    template = APP.replace("        Work:\n", f"        Nightly:\n          Type: {event_type}\n"
                                              f"          Properties: {properties}\n        Work:\n")
    caught = refused(tmp_path, template)
    assert caught.message == f'Event "Nightly" of type {event_type} (function Api) is not supported by Lamina yet'
    assert caught.line == line_of(template, "Nightly:")


def test_an_event_under_a_false_condition_is_not_checked(tmp_path: Path) -> None:
    template = APP.replace("Globals:", "Conditions:\n  Never: !Equals [a, b]\nGlobals:").replace(
        "  Inline:\n", "  Cron:\n    Type: AWS::Serverless::Function\n    Condition: Never\n    Properties:\n"
                      "      Handler: app.handler\n      Events:\n        Tick:\n          Type: Schedule\n"
                      "          Properties: {Schedule: rate(1 minute)}\n  Inline:\n")
    stack = deploy(write(tmp_path / "app", template))
    assert "Cron" not in stack.resources and "CronRole" not in stack.resources


@pytest.mark.parametrize("resource_type", ["AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Serverless::StateMachine",
                                           "AWS::Serverless::SimpleTable"])
def test_unsupported_resources_are_refused_with_their_line(tmp_path: Path, resource_type: str) -> None:
    template = APP.replace("  Dead:\n", f"  Table:\n    Type: {resource_type}\n  Dead:\n")
    caught = refused(tmp_path, template)
    assert caught.message == f'Resource "Table" has type {resource_type}, which Lamina does not deploy'
    assert caught.line == line_of(template, f"Type: {resource_type}")


def test_deployment_preference_is_refused_with_its_line(tmp_path: Path) -> None:
    template = APP.replace("      AutoPublishAlias: live\n",
                           "      AutoPublishAlias: live\n      DeploymentPreference:\n        Type: AllAtOnce\n")
    caught = refused(tmp_path, template)
    assert caught.message == "DeploymentPreference (function Api) is not supported by Lamina yet: it needs CodeDeploy"
    assert caught.line == line_of(template, "DeploymentPreference:")


def test_generated_resources_lamina_does_not_deploy_point_at_their_source(tmp_path: Path) -> None:
    template = APP.replace("  Jobs:\n", "  Rest:\n    Type: AWS::Serverless::Api\n    Properties:\n"
                           "      StageName: v1\n      Auth:\n        ApiKeyRequired: true\n"
                           "        UsagePlan:\n          CreateUsagePlan: PER_API\n  Jobs:\n")
    caught = refused(tmp_path, template)
    assert caught.message == ('Resource "RestApiKey" has type AWS::ApiGateway::ApiKey, which Lamina does not deploy '
                              "(SAM generates it for Rest)")
    assert caught.line == line_of(template, "  Rest:")


def test_missing_code_path_is_refused_with_the_line(tmp_path: Path) -> None:
    template = APP.replace("ContentUri: layer/", "ContentUri: nowhere/")
    caught = refused(tmp_path, template)
    assert caught.message.startswith('ContentUri "nowhere/" does not exist')
    assert caught.line == line_of(template, "ContentUri")
    caught = refused(tmp_path, APP.replace("CodeUri: src/", "CodeUri: s3://bucket/code.zip"))
    assert "CodeUri in S3 is not supported by Lamina" in caught.message
    assert caught.line == line_of(APP, "CodeUri: src/")


def test_code_uri_may_be_a_parameter_and_a_zip_file(tmp_path: Path) -> None:
    template = APP.replace("    Default: dev\n", "    Default: dev\n  Code:\n    Type: String\n    Default: src\n") \
        .replace("CodeUri: src/", "CodeUri: !Ref Code")
    folder = write(tmp_path / "app", template)
    (folder / "bundle.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    assert deploy(folder).resources["Api"].properties["Code"]["ZipFile"].path == folder / "src"
    assert deploy(folder, Code="bundle.zip").resources["Api"].properties["Code"]["ZipFile"].path == \
        folder / "bundle.zip"


def test_translator_errors_list_every_cause_with_lines(tmp_path: Path) -> None:
    template = APP.replace("            Queue: !GetAtt Jobs.Arn\n", "").replace(
        "      ContentUri: layer/\n", "      ContentUri: layer/\n      RetentionPolicy: [not, a, string]\n")
    caught = refused(tmp_path, template)
    assert "the SAM template has 2 problems" in caught.message
    assert f"line {line_of(template, '        Work:')}: " in caught.message
    assert "Queue" in caught.message
    assert f"line {line_of(template, '  Deps:')}: " in caught.message
    assert caught.line == line_of(template, "        Work:")


def test_a_single_translator_error_is_the_message(tmp_path: Path) -> None:
    caught = refused(tmp_path, APP.replace("            Queue: !GetAtt Jobs.Arn\n", ""))
    assert caught.message == "Resource with id [ApiWork] is invalid. Missing required property 'Queue'."
    assert caught.line == line_of(APP, "        Work:")


def test_missing_translator_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "samtranslator.translator.translator", None)
    caught = refused(tmp_path, APP)
    assert caught.message == "SAM templates need aws-sam-translator: pip install 'lamina[sam]'"
    assert caught.line == 2
