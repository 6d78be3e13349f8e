"""load(): finding the template, naming the stack, plain CloudFormation end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.deploy.model import GetAtt, LocalPath, Ref, Stack, TemplateError
from lamina.deploy.template import find_template, load, safe_stack_name

PLAIN = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Memory: {Type: Number, Default: 256}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties: {AssumeRolePolicyDocument: {}}
  Fn:
    Type: AWS::Lambda::Function
    DeletionPolicy: Retain
    Properties:
      Runtime: python3.12
      Handler: app.handler
      MemorySize: !Ref Memory
      Role: !GetAtt Role.Arn
      Code: ./src
  Inline:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: "def handler(e, c): return 1"
  Deps:
    Type: AWS::Lambda::LayerVersion
    Properties:
      CompatibleRuntimes: [python3.11]
      Content: layer
"""

END = PLAIN.count("\n")


def app(folder: Path, text: str = PLAIN, name: str = "template.yaml") -> Path:
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "layer").mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def deploy(path: Path, stack_name: str | None = None, **parameters: str) -> Stack:
    return load(path, stack_name=stack_name, region="us-east-1", account_id="123456789012", parameters=parameters)


def refused(path: Path, stack_name: str | None = None) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        deploy(path, stack_name)
    return caught.value


def test_plain_cloudformation_with_local_code(tmp_path: Path) -> None:
    stack = deploy(app(tmp_path / "orders.service"), Memory="1024")
    assert stack.name == "orders-service"
    assert stack.source == tmp_path / "orders.service" / "template.yaml"
    assert (stack.region, stack.account_id) == ("us-east-1", "123456789012")
    assert list(stack.resources) == ["Role", "Fn", "Inline", "Deps"]
    fn = stack.resources["Fn"]
    assert fn.line == 8 and fn.deletion_policy == "Retain"
    assert fn.properties == {
        "Runtime": "python3.12", "Handler": "app.handler", "MemorySize": 1024, "Role": GetAtt("Role", "Arn"),
        "Code": {"ZipFile": LocalPath(tmp_path / "orders.service" / "src", "function", "python3.12")},
    }
    assert stack.resources["Inline"].properties["Code"] == {"ZipFile": "def handler(e, c): return 1"}
    assert stack.resources["Deps"].properties["Content"] == {
        "ZipFile": LocalPath(tmp_path / "orders.service" / "layer", "layer", "python3.11")}
    assert stack.resources["Role"].references() == set()
    assert fn.references() == {"Role"}


def test_json_template_in_a_folder(tmp_path: Path) -> None:
    template = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"},
                              "Policy": {"Type": "AWS::SQS::QueuePolicy",
                                         "Properties": {"Queues": [{"Ref": "Q"}], "PolicyDocument": {}}}}}
    (tmp_path / "json-app").mkdir()
    (tmp_path / "json-app" / "template.json").write_text(json.dumps(template, indent=2))
    stack = deploy(tmp_path / "json-app")
    assert stack.resources["Policy"].properties == {"Queues": [Ref("Q")], "PolicyDocument": {}}
    assert stack.resources["Policy"].line == 6


def test_folder_lookup_order_and_explicit_files(tmp_path: Path) -> None:
    app(tmp_path, name="template.yml")
    (tmp_path / "serverless.yml").write_text("service: s\nprovider: {name: aws}\n")
    assert find_template(tmp_path) == tmp_path / "template.yml"
    (tmp_path / "template.yaml").write_text(PLAIN)
    assert find_template(tmp_path) == tmp_path / "template.yaml"
    assert find_template(tmp_path / "serverless.yml") == tmp_path / "serverless.yml"
    (tmp_path / "empty").mkdir()
    caught = refused(tmp_path / "empty")
    assert caught.message.startswith(f"no template in {tmp_path / 'empty'}: looked for template.yaml, template.yml")
    assert "does not exist" in refused(tmp_path / "nothing.yaml").message


@pytest.mark.parametrize(("folder", "name"), [
    ("my_app", "my-app"), ("2024 project", "stack-2024-project"), ("__", "stack"), ("a..b--c", "a-b-c"),
    ("x" * 200, "x" * 128),
])
def test_default_stack_names_follow_cloudformations_rules(folder: str, name: str) -> None:
    assert safe_stack_name(folder) == name


def test_explicit_stack_name_is_checked(tmp_path: Path) -> None:
    app(tmp_path)
    assert deploy(tmp_path, "Orders-2").name == "Orders-2"
    assert "must start with a letter" in refused(tmp_path, "orders_2").message


@pytest.mark.parametrize(("text", "line", "words"), [
    (PLAIN.replace("      Code: ./src\n", "      Code: {S3Bucket: b, S3Key: k}\n"), 16, "from S3 or a container image"),
    (PLAIN.replace("      Code: ./src\n", "      Code: ./missing\n"), 16, 'Code "./missing" does not exist'),
    ("Transform: AWS::Include\n" + PLAIN, 1, "Transform AWS::Include is not supported by Lamina"),
    (PLAIN + "Globals:\n  Function: {Timeout: 3}\n", END + 1, "Globals needs 'Transform: AWS::Serverless-2016-10-31'"),
    (PLAIN + "Extras: {}\n", END + 1, 'unknown top-level section "Extras"'),
    ("Resources: {}\n", 1, "the template has no Resources"),
    (PLAIN + "  Table:\n    Type: AWS::DynamoDB::Table\n", END + 2, 'Resource "Table" has type AWS::DynamoDB::Table'),
])
def test_refusals_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    caught = refused(app(tmp_path, text))
    assert words in caught.message
    assert caught.line == line
    assert str(caught).startswith(f"template.yaml:{line}: ")
