"""Parameter overrides checked against the template's declarations, as CloudFormation checks them."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from lamina.deploy import cfnyaml
from lamina.deploy.model import TemplateError
from lamina.deploy.parameters import parameter_values


def values(parameters: str, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    text = "Parameters:\n" + textwrap.indent(textwrap.dedent(parameters), "  ")
    document = cfnyaml.parse_yaml(text, Path("template.yaml"))
    return parameter_values(document.data, overrides or {}, document.locator)


def refused(parameters: str, overrides: dict[str, str] | None = None) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        values(parameters, overrides)
    return caught.value


def test_types_defaults_and_overrides() -> None:
    declared = """\
        Name: {Type: String, Default: 7}
        Flag: {Type: String, Default: true}
        Size: {Type: Number, Default: 128}
        Ratio: {Type: Number, Default: "0.5"}
        Names: {Type: CommaDelimitedList, Default: "a, b"}
        Ports: {Type: List<Number>, Default: "80,443"}
        Subnet: {Type: AWS::EC2::Subnet::Id, Default: subnet-1}
        Subnets: {Type: List<AWS::EC2::Subnet::Id>, Default: [subnet-1, subnet-2]}
        Key: {Type: AWS::SSM::Parameter::Name, Default: /app/key}
        """
    assert values(declared) == {
        "Name": "7", "Flag": "true", "Size": 128, "Ratio": 0.5, "Names": ["a", "b"], "Ports": ["80", "443"],
        "Subnet": "subnet-1", "Subnets": ["subnet-1", "subnet-2"], "Key": "/app/key",
    }
    assert values(declared, {"Size": "1024", "Names": "x"})["Size"] == 1024
    assert values(declared, {"Names": "x,y , z"})["Names"] == ["x", "y", "z"]


def test_missing_value_names_the_parameter_and_its_line() -> None:
    caught = refused("Other: {Type: String, Default: x}\nStage:\n  Type: String\n")
    assert 'Parameter "Stage" has no value' in caught.message
    assert caught.line == 3


def test_unknown_overrides_and_unknown_types_are_refused() -> None:
    assert "does not declare: Nope" in refused("A: {Type: String, Default: x}", {"Nope": "1"}).message
    assert 'unknown Type "Strin"' in refused("A: {Type: Strin, Default: x}").message
    assert "needs a Type" in refused("A: {Default: x}").message


def test_ssm_parameter_types_are_refused_clearly() -> None:
    caught = refused("Ami:\n  Type: AWS::SSM::Parameter::Value<String>\n  Default: /ami\n")
    assert "SSM parameters are not supported by Lamina" in caught.message
    assert caught.line == 3


@pytest.mark.parametrize(
    ("declaration", "override", "words"),
    [
        ("{Type: String, AllowedValues: [dev, prod]}", "test", "must be one of dev, prod"),
        ("{Type: String, AllowedPattern: '[a-z]+'}", "abc1", "must match the pattern [a-z]+"),
        ("{Type: String, MinLength: 3}", "ab", "MinLength is 3"),
        ("{Type: String, MaxLength: 3}", "abcd", "MaxLength is 3"),
        ("{Type: Number, MinValue: 128}", "64", "MinValue is 128"),
        ("{Type: Number, MaxValue: 10240}", "20000", "MaxValue is 10240"),
        ("{Type: Number}", "lots", "must be a number"),
        ("{Type: List<Number>}", "1,x", "must be a number"),
        ("{Type: CommaDelimitedList, AllowedValues: [a, b]}", "a,c", '"c"; it must be one of a, b'),
        ("{Type: String, AllowedValues: [a], ConstraintDescription: pick a}", "b", "(pick a)"),
    ],
)
def test_constraints_are_checked(declaration: str, override: str, words: str) -> None:
    caught = refused(f"P: {declaration}", {"P": override})
    assert words in caught.message
    assert caught.line == 2


def test_values_within_constraints_pass_and_defaults_are_checked_too() -> None:
    declared = "P: {Type: Number, MinValue: 1, MaxValue: 10, AllowedValues: [1, 5, 10], Default: 5}"
    assert values(declared) == {"P": 5}
    assert values(declared, {"P": "10"}) == {"P": 10}
    assert "must be one of" in refused("P: {Type: String, AllowedValues: [a], Default: b}").message
