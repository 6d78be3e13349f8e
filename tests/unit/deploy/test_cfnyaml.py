"""Reading templates: short-form tags to long form, lines of every node, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.deploy import cfnyaml
from lamina.deploy.model import TemplateError

SOURCE = Path("template.yaml")


def parse(text: str) -> cfnyaml.Document:
    return cfnyaml.parse_yaml(text, SOURCE)


def test_every_short_form_becomes_its_long_form() -> None:
    document = parse(
        """
Values:
  Ref: !Ref Thing
  AttDot: !GetAtt Fn.Arn
  AttDeep: !GetAtt Db.Endpoint.Address
  AttList: !GetAtt [Fn, Arn]
  Sub: !Sub "${AWS::Region}-x"
  SubList: !Sub ["${A}", {A: !Ref Thing}]
  Join: !Join [",", [a, b]]
  Select: !Select [0, !Split [",", "a,b"]]
  If: !If [Cond, 1, 2]
  Cond: !And [!Equals [a, b], !Or [!Not [!Condition C], !Condition D]]
  Map: !FindInMap [M, K, V]
  B64: !Base64 text
  Cidr: !Cidr ["10.0.0.0/16", 2, 8]
  Import: !ImportValue Exported
  Azs: !GetAZs ''
  Transform: !Transform {Name: AWS::Include, Parameters: {Location: x}}
"""
    )
    values = document.data["Values"]
    assert values["Ref"] == {"Ref": "Thing"}
    assert values["AttDot"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert values["AttDeep"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    assert values["AttList"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert values["Sub"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert values["SubList"] == {"Fn::Sub": ["${A}", {"A": {"Ref": "Thing"}}]}
    assert values["Join"] == {"Fn::Join": [",", ["a", "b"]]}
    assert values["Select"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert values["If"] == {"Fn::If": ["Cond", 1, 2]}
    assert values["Cond"] == {"Fn::And": [{"Fn::Equals": ["a", "b"]},
                                          {"Fn::Or": [{"Fn::Not": [{"Condition": "C"}]}, {"Condition": "D"}]}]}
    assert values["Map"] == {"Fn::FindInMap": ["M", "K", "V"]}
    assert values["B64"] == {"Fn::Base64": "text"}
    assert values["Cidr"] == {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}
    assert values["Import"] == {"Fn::ImportValue": "Exported"}
    assert values["Azs"] == {"Fn::GetAZs": ""}
    assert values["Transform"] == {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "x"}}}


def test_dates_stay_strings() -> None:
    assert parse("AWSTemplateFormatVersion: 2010-09-09\n").data["AWSTemplateFormatVersion"] == "2010-09-09"


def test_lines_of_resources_and_properties() -> None:
    document = parse(
        """Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Handler: app.handler
      Layers:
        - !Ref Layer
        - arn:aws:lambda:us-east-1:1:layer:x:1
"""
    )
    lines = document.lines
    assert lines.at(("Resources", "Fn")) == 2
    assert lines.at(("Resources", "Fn", "Properties", "Handler")) == 5
    assert lines.at(("Resources", "Fn", "Properties", "Layers", 0)) == 7
    assert lines.at(("Resources", "Fn", "Properties", "Layers", 0, "Ref")) == 7
    assert lines.at(("Resources", "Fn", "Properties", "Layers", 1)) == 8
    # A node the file does not have answers with its nearest ancestor's line.
    assert lines.at(("Resources", "Fn", "Properties", "Code", "ZipFile")) == 4


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: 1\nb: [1,\n", 3, "invalid YAML"),
        ("a:\n  b: 1\n  b: 2\n", 3, 'duplicate key "b"'),
        ("a: 1\nb: !Bogus x\n", 2, "unknown tag !Bogus"),
        ("a: 1\n\nb: !GetAtt NoDot\n", 3, "LogicalId.Attribute"),
        ("a: !Ref [x]\n", 1, "!Ref takes a name"),
        ("- a\n- b\n", 1, "mapping at the top level"),
        ("a: 'unterminated\n", 2, "invalid YAML"),
    ],
)
def test_errors_carry_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(text)
    assert caught.value.line == line
    assert words in caught.value.message
    assert str(caught.value).startswith(f"template.yaml:{line}: ")


def test_json_templates_have_values_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text('{\n\t"Resources": {\n\t\t"Q": {"Type": "AWS::SQS::Queue"}\n\t}\n}\n')
    document = cfnyaml.load(path)
    assert document.data == {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    assert document.lines.at(("Resources", "Q")) == 3


def test_json_syntax_error_has_the_line(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text('{\n  "Resources": {\n    "Q": {"Type": }\n  }\n}\n')
    with pytest.raises(TemplateError) as caught:
        cfnyaml.load(path)
    assert caught.value.line == 3
    assert "invalid JSON" in caught.value.message


def test_unreadable_file_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read"):
        cfnyaml.load(tmp_path / "missing.yaml")
