"""``lamina deploy`` / ``delete`` / ``stacks`` as subprocesses against a live server, on real templates.

The SAM template uses Globals, a layer, AutoPublishAlias, an HttpApi event, an SQS event and a
DeadLetterQueue; the result is checked with boto3, over HTTP through the gateway and through the
queue, then redeployed unchanged, with new code, and deleted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import BEACON_CODE, Beacon, Server, free_port, http_request, unique_name, wait_for
from tests.integration.test_function_urls import call

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  BeaconUrl:
    Type: String
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        BEACON: !Ref BeaconUrl
        STAGE: test
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  Dlq:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 3
  Items:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Layers: [!Ref Shared]
      AutoPublishAlias: live
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt Dlq.Arn
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: get
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
Outputs:
  ApiUrl:
    Description: Where the API answers
    Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com/items/1"
  QueueUrl:
    Value: !Ref Work
"""

APP = BEACON_CODE + '''
import json, os
import greeting

CODE = "first"

def handler(event, context):
    if "Records" in event:
        for record in event["Records"]:
            beacon(os.environ["BEACON"], body=record["body"], arn=context.invoked_function_arn, code=CODE)
        return {}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"code": CODE, "greeting": greeting.GREETING, "stage": os.environ["STAGE"],
                                "id": event["pathParameters"]["id"], "version": context.function_version})}
'''


def lamina(server: Server | None, *args: str, endpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    target = endpoint or (server.endpoint if server else "")
    return subprocess.run([sys.executable, "-m", "lamina", *args, "--endpoint", target], capture_output=True,
                          text=True, timeout=180, check=False, env={**os.environ, "COLUMNS": "200"})


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def actions(document: dict[str, Any]) -> dict[str, str]:
    return {row["logicalId"]: row["action"] for row in document["plan"]}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    (folder / "src").mkdir(parents=True)
    (folder / "layer" / "python").mkdir(parents=True)
    (folder / "template.yaml").write_text(TEMPLATE)
    (folder / "src" / "app.py").write_text(APP)
    (folder / "layer" / "python" / "greeting.py").write_text('GREETING = "hello from the layer"\n')
    return folder


def get_item(server: Server, api_id: str, item: str) -> Any:
    answer = call(server, "GET", f"/items/{item}", host=f"{api_id}.execute-api.localhost:{server.port}")
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


def test_a_sam_stack_is_deployed_redeployed_changed_and_deleted(server: Server, project: Path,
                                                                beacon: Beacon) -> None:
    name = unique_name("shop")
    params = ["--stack-name", name, "--parameter-overrides", f"BeaconUrl={beacon.url}"]
    lam, sqs, apigw = server.client("lambda"), server.client("sqs"), server.client("apigatewayv2")

    # --dry-run: the plan, and nothing changes.
    dry = ok_json(lamina(server, "deploy", str(project), *params, "--dry-run", "--output", "json"))
    assert dry["dryRun"] is True and dry["stackName"] == name
    assert set(actions(dry).values()) == {"create", "no-op"}
    assert {row["type"] for row in dry["plan"]} >= {"AWS::Lambda::Function", "AWS::Lambda::LayerVersion",
                                                    "AWS::Lambda::Alias", "AWS::Lambda::EventSourceMapping",
                                                    "AWS::ApiGatewayV2::Api", "AWS::SQS::Queue"}
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=f"{name}-Items")
    assert http_request(server, "GET", f"/_lamina/stacks/{name}").status == 404

    # Deploy: the table output says where things are.
    done = lamina(server, "deploy", str(project), *params)
    assert done.returncode == 0, done.stderr
    assert f"Stack {name}: CREATE_COMPLETE" in done.stdout and "Traceback" not in done.stderr
    record = http_request(server, "GET", f"/_lamina/stacks/{name}").json()["document"]
    api_id = record["resources"]["ServerlessHttpApi"]["physicalId"]
    assert f"http://{api_id}.execute-api.localhost:{server.port}/" in done.stdout
    assert f"http://{api_id}.execute-api.localhost:{server.port}/items/1" in done.stdout  # the ApiUrl output
    assert f"{name}-Items" in done.stdout and f"{name}-Work" in done.stdout

    function = f"{name}-Items"
    config = lam.get_function_configuration(FunctionName=function)
    assert (config["Runtime"], config["Timeout"], config["MemorySize"]) == ("python3.12", 10, 256)
    assert config["Environment"]["Variables"] == {"BEACON": beacon.url, "STAGE": "test"}
    assert config["DeadLetterConfig"]["TargetArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}-Dlq"
    assert [layer["Arn"] for layer in config["Layers"]] == [record["resources"][next(
        lid for lid in record["resources"] if lid.startswith("Shared"))]["physicalId"]]
    assert lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == "1"
    mapping = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [(m["State"], m["BatchSize"], m["FunctionArn"]) for m in mapping] == [
        ("Enabled", 5, f"arn:aws:lambda:us-east-1:000000000000:function:{function}:live")]
    assert get_item(server, api_id, "7") == {"code": "first", "greeting": "hello from the layer", "stage": "test",
                                             "id": "7", "version": "1"}
    work = sqs.get_queue_url(QueueName=f"{name}-Work")["QueueUrl"]
    sqs.send_message(QueueUrl=work, MessageBody="order 1")
    assert beacon.wait(lambda m: m.get("body") == "order 1", timeout=20)[0]["arn"].endswith(f"{function}:live")

    # Unchanged: every resource unchanged, no new version.
    again = ok_json(lamina(server, "deploy", str(project), *params, "--output", "json"))
    assert set(actions(again).values()) == {"unchanged", "no-op"}
    assert {row["action"] for row in again["done"]} == {"unchanged", "no-op"}
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]] == ["$LATEST", "1"]
    assert again["outputs"]["QueueUrl"] == work
    assert again["functions"] == [{"logicalId": "Items", "name": function,
                                   "arn": f"arn:aws:lambda:us-east-1:000000000000:function:{function}"}]
    assert again["apis"][0]["id"] == api_id and again["queues"][1]["url"] == work

    # New code: the function is updated and a new version goes behind the alias.
    (project / "src" / "app.py").write_text(APP.replace('CODE = "first"', 'CODE = "second"'))
    changed = ok_json(lamina(server, "deploy", str(project), *params, "--output", "json"))
    by_type: dict[str, list[tuple[str, list[str]]]] = {}
    for row in changed["plan"]:
        by_type.setdefault(row["type"], []).append((row["action"], row["changes"]))
    assert by_type["AWS::Lambda::Function"] == [("update", ["Code"])]
    assert sorted(a for a, _ in by_type["AWS::Lambda::Version"]) == ["create", "retain"]
    assert by_type["AWS::Lambda::Alias"] == [("update", ["FunctionVersion"])]
    assert by_type["AWS::Lambda::LayerVersion"] == [("unchanged", [])]
    assert lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == "2"
    assert get_item(server, api_id, "8")["code"] == "second"
    assert changed["status"] == "UPDATE_COMPLETE"

    listed = ok_json(lamina(server, "stacks", "--output", "json"))
    assert {"name": name, "status": "UPDATE_COMPLETE"} in [{k: s[k] for k in ("name", "status")} for s in listed]

    # Delete: everything goes but what DeletionPolicy Retain keeps (the layer version; retained function
    # versions go with their function).
    deleted = ok_json(lamina(server, "delete", name, "--output", "json"))
    gone = {row["type"] for row in deleted["deleted"]}
    assert gone >= {"AWS::Lambda::Function", "AWS::Lambda::Alias", "AWS::Lambda::EventSourceMapping",
                    "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "AWS::SQS::Queue",
                    "AWS::Lambda::Permission"}
    assert [row["type"] for row in deleted["retained"]] == ["AWS::Lambda::LayerVersion"]
    layer_arn = deleted["retained"][0]["physicalId"]
    assert lam.get_layer_version_by_arn(Arn=layer_arn)["LayerVersionArn"] == layer_arn
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=function)
    assert not sqs.list_queues(QueueNamePrefix=name).get("QueueUrls")
    assert api_id not in [api["ApiId"] for api in apigw.get_apis()["Items"]]
    assert wait_for(lambda: not lam.list_event_source_mappings(
        EventSourceArn=f"arn:aws:sqs:us-east-1:000000000000:{name}-Work")["EventSourceMappings"])
    assert http_request(server, "GET", f"/_lamina/stacks/{name}").status == 404
    assert name not in [s["name"] for s in ok_json(lamina(server, "stacks", "--output", "json"))]


CLOUDFORMATION = """\
Parameters:
  Greeting:
    Type: String
    Default: hello
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
  Hello:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Environment:
        Variables:
          GREETING: !Ref Greeting
      Code:
        ZipFile: |
          import os
          def handler(event, context):
              return {"greeting": os.environ["GREETING"]}
Outputs:
  Name:
    Value: !Ref Hello
"""


def test_a_cloudformation_template_with_inline_code_and_parameter_overrides(server: Server, tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(CLOUDFORMATION)
    name = unique_name("cfn")
    document = ok_json(lamina(server, "deploy", str(tmp_path / "template.yaml"), "--stack-name", name,
                              "--parameter-overrides", "Greeting=bonjour", "--output", "json"))
    assert document["outputs"] == {"Name": f"{name}-Hello"}
    answer = server.client("lambda").invoke(FunctionName=f"{name}-Hello")
    assert json.load(answer["Payload"]) == {"greeting": "bonjour"}
    changed = ok_json(lamina(server, "deploy", str(tmp_path), "--stack-name", name, "--parameter-overrides",
                             "ParameterKey=Greeting,ParameterValue=salut", "--output", "json"))
    assert actions(changed) == {"Role": "no-op", "Hello": "update"}
    assert [row["changes"] for row in changed["plan"] if row["logicalId"] == "Hello"] == [["Environment"]]
    answer = server.client("lambda").invoke(FunctionName=f"{name}-Hello")
    assert json.load(answer["Payload"]) == {"greeting": "salut"}
    table = lamina(server, "delete", name)
    assert table.returncode == 0 and f"Stack {name} deleted" in table.stdout


def test_a_resource_the_server_refuses_exits_2_naming_it_and_delete_cleans_up(server: Server, tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(CLOUDFORMATION.replace("Runtime: python3.12", "Runtime: cobol85").replace(
        "Resources:\n", "Resources:\n  Early:\n    Type: AWS::SQS::Queue\n"))
    name = unique_name("refused")
    done = lamina(server, "deploy", str(tmp_path), "--stack-name", name, "--output", "json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: Hello (AWS::Lambda::Function): ValidationException: ")
    assert f"lamina delete {name}" in done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "UPDATE_FAILED" and document["error"]["logicalId"] == "Hello"
    assert [row["logicalId"] for row in document["done"] if row["action"] == "create"] == ["Early"]
    sqs = server.client("sqs")
    assert sqs.list_queues(QueueNamePrefix=f"{name}-Early").get("QueueUrls")
    deleted = ok_json(lamina(server, "delete", name, "--output", "json"))
    assert [row["logicalId"] for row in deleted["deleted"]] == ["Early"]
    assert not sqs.list_queues(QueueNamePrefix=f"{name}-Early").get("QueueUrls")


def test_bad_input_exits_2_with_a_message_and_no_traceback(server: Server, tmp_path: Path) -> None:
    empty = lamina(server, "deploy", str(tmp_path))
    assert empty.returncode == 2 and empty.stderr.startswith("error: ") and "no template in" in empty.stderr
    (tmp_path / "template.yaml").write_text("Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n")
    unsupported = lamina(server, "deploy", str(tmp_path))
    assert unsupported.returncode == 2 and "template.yaml:3" in unsupported.stderr
    assert "AWS::DynamoDB::Table" in unsupported.stderr
    unreachable = lamina(None, "deploy", str(tmp_path), endpoint=f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 2 and "cannot reach Lamina" in unreachable.stderr
    missing = lamina(server, "delete", unique_name("nothing"))
    assert missing.returncode == 2 and "does not exist in us-east-1" in missing.stderr
    for done in (empty, unsupported, unreachable, missing):
        assert "Traceback" not in done.stderr and done.stdout == ""
    bad_override = lamina(server, "deploy", str(tmp_path), "--parameter-overrides", "novalue")
    assert bad_override.returncode == 2 and "Key=Value" in bad_override.stderr


def test_stacks_lists_nothing_for_an_empty_region(server: Server) -> None:
    assert ok_json(lamina(server, "stacks", "--region", "ap-south-2", "--output", "json")) == []
    table = lamina(server, "stacks", "--region", "ap-south-2")
    assert table.returncode == 0 and "Stacks in ap-south-2" in table.stdout
