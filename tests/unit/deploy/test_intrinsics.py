"""Static resolution: every intrinsic, conditions, NoValue, markers for what only exists once deployed."""

from __future__ import annotations

import base64
import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.deploy import cfnyaml
from lamina.deploy.intrinsics import Context, Resolver
from lamina.deploy.model import Concat, GetAtt, Ref, Resource, TemplateError
from lamina.deploy.parameters import parameter_values

CONTEXT = Context(region="eu-west-1", account_id="123456789012", stack_name="shop")

BASE = """\
Parameters:
  Stage: {Type: String, Default: dev}
  Sizes: {Type: CommaDelimitedList, Default: "a, b,c"}
  Memory: {Type: Number, Default: 512}
Mappings:
  Regions:
    eu-west-1: {Ami: ami-eu, Zones: [x, y]}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
Resources:
  Fn: {Type: AWS::Lambda::Function}
  Q: {Type: AWS::SQS::Queue}
"""


def load(text: str, overrides: dict[str, str] | None = None) -> tuple[dict[str, Resource], dict[str, Any]]:
    document = cfnyaml.parse_yaml(textwrap.dedent(text), Path("template.yaml"))
    values = parameter_values(document.data, overrides or {}, document.locator)
    resolver = Resolver(document.data, context=CONTEXT, parameters=values, where=document.locator)
    return resolver.resources(), resolver.outputs()


def value(expression: str, *, extra: str = "", overrides: dict[str, str] | None = None) -> Any:
    """The resolved value of ``expression`` in a property of resource R (after ``extra`` and BASE)."""
    resources, _ = load(extra + BASE + f"  R:\n    Type: AWS::SQS::Queue\n    Properties:\n      V: {expression}\n",
                        overrides)
    return resources["R"].properties.get("V", "<removed>")


def error(expression: str, *, extra: str = "") -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        value(expression, extra=extra)
    return caught.value


# The line of "V:" in the resource R that `value` appends after BASE.
VALUE_LINE = BASE.count("\n") + 4


def test_ref_to_parameters_pseudo_parameters_and_resources() -> None:
    assert value("!Ref Stage") == "dev"
    assert value("!Ref Stage", overrides={"Stage": "prod"}) == "prod"
    assert value("!Ref Sizes") == ["a", "b", "c"]
    assert value("!Ref Memory") == 512
    assert value("!Ref AWS::Region") == "eu-west-1"
    assert value("!Ref AWS::AccountId") == "123456789012"
    assert value("!Ref AWS::StackName") == "shop"
    assert value("!Ref AWS::Partition") == "aws"
    assert value("!Ref AWS::URLSuffix") == "amazonaws.com"
    assert value("!Ref AWS::NotificationARNs") == []
    assert value("!Ref AWS::StackId").startswith("arn:aws:cloudformation:eu-west-1:123456789012:stack/shop/")
    assert value("!Ref AWS::StackId") == value("!Ref AWS::StackId")
    assert value("!Ref Fn") == Ref("Fn")


def test_ref_to_an_unknown_name_names_it_and_its_line() -> None:
    caught = error("!Ref Nope")
    assert 'Ref to "Nope"' in caught.message
    assert caught.line == VALUE_LINE


def test_get_att_both_forms_and_unknown_resource() -> None:
    assert value("!GetAtt Fn.Arn") == GetAtt("Fn", "Arn")
    assert value("!GetAtt [Q, QueueName]") == GetAtt("Q", "QueueName")
    assert value('{"Fn::GetAtt": "Q.Arn"}') == GetAtt("Q", "Arn")
    assert value("!GetAtt [Fn, !Ref Stage]") == GetAtt("Fn", "dev")
    caught = error("!GetAtt Missing.Arn")
    assert '"Missing": no resource' in caught.message and caught.line == VALUE_LINE


def test_sub_string_form_literals_escapes_and_markers() -> None:
    assert value('!Sub "${Stage}-${AWS::Region}-${Memory}"') == "dev-eu-west-1-512"
    assert value('!Sub "keep ${!Literal} and ${!AWS::Region}"') == "keep ${Literal} and ${AWS::Region}"
    assert value('!Sub "${Fn.Arn}"') == GetAtt("Fn", "Arn")
    assert value('!Sub "https://${Q}/${Fn.Arn}:x"') == Concat(("https://", Ref("Q"), "/", GetAtt("Fn", "Arn"), ":x"))


def test_sub_list_form_variables_may_be_markers_and_flatten() -> None:
    result = value('!Sub ["${Name}/${Url}!", {Name: !Ref Stage, Url: !Join ["", ["q:", !Ref Q, ":z"]]}]')
    # The Join's Concat is spliced in and adjacent literals merge.
    assert result == Concat(("dev/q:", Ref("Q"), ":z!"))


def test_sub_of_a_list_parameter_is_refused() -> None:
    assert "Fn::Sub variable Sizes must be a string" in error('!Sub "${Sizes}"').message


def test_join_of_literals_numbers_and_markers() -> None:
    assert value('!Join ["-", [a, 1, true, !Ref Stage]]') == "a-1-true-dev"
    assert value('!Join [":", [arn, !GetAtt Q.Arn]]') == Concat(("arn:", GetAtt("Q", "Arn")))
    assert value('!Join [",", !Ref Sizes]') == "a,b,c"
    assert value('!Join ["", []]') == ""


def test_select_split_and_getazs() -> None:
    assert value('!Select [1, !Split [",", "x,y,z"]]') == "y"
    assert value("!Select ['0', !Ref Sizes]") == "a"
    assert value("!Select [0, [!Ref Fn, b]]") == Ref("Fn")
    assert value("!GetAZs ''") == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert value("!Select [2, !GetAZs us-east-1]") == "us-east-1c"
    assert "out of range" in error("!Select [5, [a]]").message


@pytest.mark.parametrize(
    ("expression", "function"),
    [
        ('!Split [",", !GetAtt Q.Arn]', "Fn::Split"),
        ('!Split [",", !Sub "x${Q}"]', "Fn::Split"),
        ("!Select [0, !GetAtt Q.Arn]", "Fn::Select"),
        ("!Base64 {Ref: Q}", "Fn::Base64"),
        ('!Join [",", !GetAtt Fn.Layers]', "Fn::Join"),
    ],
)
def test_functions_over_a_marker_are_refused_with_the_line(expression: str, function: str) -> None:
    caught = error(expression)
    assert caught.message.startswith(f"{function} over a value known only once a resource exists")
    assert caught.line == VALUE_LINE


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("!ImportValue Shared", "Fn::ImportValue is not supported by Lamina: stacks do not export values"),
        ('!Cidr ["10.0.0.0/16", 2, 8]', "Fn::Cidr is not supported by Lamina"),
        ("!Transform {Name: AWS::Include}", "Fn::Transform (AWS::Include, macros) is not supported"),
        ("!Equals [a, b]", "Fn::Equals can only be used in Conditions"),
        ('{"Fn::Bogus": 1}', "unknown intrinsic function Fn::Bogus"),
        ("!ToJsonString {a: 1}", "Fn::ToJsonString needs 'Transform: AWS::LanguageExtensions'"),
    ],
)
def test_refused_functions_name_themselves_and_the_line(expression: str, words: str) -> None:
    caught = error(expression)
    assert words in caught.message
    assert caught.line == VALUE_LINE


def test_base64_find_in_map_and_language_extensions() -> None:
    assert value("!Base64 hello") == base64.b64encode(b"hello").decode()
    assert value("!FindInMap [Regions, !Ref AWS::Region, Ami]") == "ami-eu"
    assert value("!FindInMap [Regions, eu-west-1, Zones]") == ["x", "y"]
    assert 'no key "us-east-1" in Mappings.Regions' in error("!FindInMap [Regions, us-east-1, Ami]").message
    extensions = "Transform: AWS::LanguageExtensions\n"
    assert value("!ToJsonString {a: [1, !Ref Stage]}", extra=extensions) == '{"a":[1,"dev"]}'
    assert value('{"Fn::Length": [a, b, c]}', extra=extensions) == 3
    assert value("!FindInMap [Regions, nowhere, Ami, {DefaultValue: fallback}]", extra=extensions) == "fallback"
    assert "over a resource's value" in error("!ToJsonString {a: !Ref Q}", extra=extensions).message


def test_if_and_no_value_remove_keys_and_list_items() -> None:
    assert value("!If [IsProd, big, small]") == "small"
    assert value("!If [IsDev, big, small]") == "big"
    assert value("!If [IsProd, x, !Ref AWS::NoValue]") == "<removed>"
    assert value("[a, !Ref AWS::NoValue, !If [IsProd, c, !Ref AWS::NoValue], d]") == ["a", "d"]
    assert value("{Keep: 1, Drop: !Ref AWS::NoValue}") == {"Keep": 1}
    assert 'no condition named "Nope"' in error("!If [Nope, a, b]").message


def test_condition_functions() -> None:
    template = BASE.replace(
        "Conditions:\n",
        "Conditions:\n"
        "  Both: !And [!Condition IsDev, !Equals [!Ref Memory, '512']]\n"
        "  Either: !Or [!Condition IsProd, !Equals [!Select [0, !Ref Sizes], a]]\n"
        "  Neither: !Not [!Condition Either]\n"
        "  Listy: !Equals [!Ref Sizes, [a, b, c]]\n"
        "  Falsy: !And [!Condition IsDev, !Condition IsProd]\n",
    )
    for name in ("Both", "Either", "Neither", "Listy", "Falsy"):
        template += f"  {name}Queue: {{Type: AWS::SQS::Queue, Condition: {name}}}\n"
    resources, _ = load(template)
    assert {"BothQueue", "EitherQueue", "ListyQueue"} <= set(resources)
    assert "NeitherQueue" not in resources and "FalsyQueue" not in resources
    resources, _ = load(template, {"Stage": "prod", "Memory": "256"})
    assert "BothQueue" not in resources and "FalsyQueue" not in resources and "EitherQueue" in resources


def test_false_condition_drops_the_resource_and_refs_to_it_fail() -> None:
    template = BASE + "  Prod:\n    Type: AWS::SQS::Queue\n    Condition: IsProd\n"
    resources, _ = load(template)
    assert "Prod" not in resources and "Q" in resources
    resources, _ = load(template, {"Stage": "prod"})
    assert "Prod" in resources
    with pytest.raises(TemplateError) as caught:
        load(template + "  User:\n    Type: AWS::SQS::Queue\n    Properties:\n      Name: !Ref Prod\n")
    assert 'which its condition "IsProd" leaves out' in caught.value.message
    # Inside the branch Fn::If does not take, the reference is fine.
    resources, _ = load(template + "  User:\n    Type: AWS::SQS::Queue\n    Properties:\n"
                                   "      Name: !If [IsProd, !Ref Prod, none]\n")
    assert resources["User"].properties == {"Name": "none"}


def test_condition_errors() -> None:
    cyclic = BASE.replace("Conditions:\n", "Conditions:\n  Loop: !Not [!Condition Loop]\n")
    with pytest.raises(TemplateError, match='condition "Loop" depends on itself'):
        load(cyclic + "  X: {Type: AWS::SQS::Queue, Condition: Loop}\n")
    on_resource = BASE.replace("Conditions:\n", "Conditions:\n  Bad: !Equals [!Ref Q, x]\n")
    with pytest.raises(TemplateError, match="not a resource's value") as caught:
        load(on_resource + "  X: {Type: AWS::SQS::Queue, Condition: Bad}\n")
    assert caught.value.line == 9


def test_resource_attributes_depends_on_deletion_policy_and_lines() -> None:
    resources, _ = load(BASE + "  R:\n    Type: AWS::SQS::Queue\n    DependsOn: Fn\n    DeletionPolicy: Retain\n")
    resource = resources["R"]
    assert resource.depends_on == ("Fn",)
    assert resource.deletion_policy == "Retain"
    assert resource.line == BASE.count("\n") + 1
    assert resources["Fn"].deletion_policy == "Delete"
    assert resources["Fn"].line == BASE.count("\n") - 1
    assert resource.references() == {"Fn"}
    with pytest.raises(TemplateError, match='depends on "Ghost": no resource'):
        load(BASE + "  R:\n    Type: AWS::SQS::Queue\n    DependsOn: [Ghost]\n")


def test_outputs_are_resolved_and_conditional() -> None:
    _, outputs = load(BASE + textwrap.dedent(
        """\
        Outputs:
          Url:
            Description: the queue
            Value: !Sub "${Q}?stage=${Stage}"
          OnlyProd:
            Condition: IsProd
            Value: x
        """
    ))
    assert outputs == {"Url": {"Description": "the queue", "Value": Concat((Ref("Q"), "?stage=dev"))}}


@given(st.lists(st.one_of(st.text(alphabet=st.characters(blacklist_characters="${}"), min_size=1),
                          st.sampled_from(["${Q}", "${Fn.Arn}", "${Stage}", "${!Escaped}"])), max_size=8))
def test_sub_keeps_literals_and_flattens_into_one_concat(pieces: list[str]) -> None:
    template = {"Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
                "Resources": {"Q": {"Type": "AWS::SQS::Queue"}, "Fn": {"Type": "AWS::Lambda::Function"}}}
    where = cfnyaml.Locator(Path("t.yaml"), lambda path: None)
    resolver = Resolver(template, context=CONTEXT, parameters={"Stage": "dev"}, where=where)
    result = resolver.value({"Fn::Sub": "".join(pieces)}, ())
    expected = {"${Q}": Ref("Q"), "${Fn.Arn}": GetAtt("Fn", "Arn"), "${Stage}": "dev", "${!Escaped}": "${Escaped}"}
    wanted = [expected.get(piece, piece) for piece in pieces]
    parts = result.parts if isinstance(result, Concat) else (result,) if result != "" else ()
    # Adjacent literals merge: the literal runs and the markers come out in order, never two strings in a row.
    assert list(parts) == _runs(wanted)
    assert not any(isinstance(a, str) and isinstance(b, str) for a, b in itertools.pairwise(parts))


def _runs(items: list[object]) -> list[object]:
    merged: list[object] = []
    for item in items:
        if isinstance(item, str) and merged and isinstance(merged[-1], str):
            merged[-1] = str(merged[-1]) + item
        elif item != "":
            merged.append(item)
    return merged
