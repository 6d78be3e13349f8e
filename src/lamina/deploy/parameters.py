"""Template parameters: every declared parameter's value, the override or its ``Default``, typed as
CloudFormation types it (``Number`` an ``int`` or ``float``, list types a ``list[str]``) and checked
against its constraints (``AllowedValues``, ``AllowedPattern``, ``Min``/``MaxLength``,
``Min``/``MaxValue``), every error naming the parameter and its line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lamina.deploy.cfnyaml import Locator, NodePath
from lamina.deploy.intrinsics import text


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str], where: Locator) -> dict[str, Any]:
    """Every declared parameter's value: the override, else its ``Default``; checked against its constraints."""
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise where.error("Parameters must be a mapping", ("Parameters",))
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise where.error(f"parameter overrides name parameters the template does not declare: {', '.join(unknown)}",
                          ("Parameters",))
    values: dict[str, Any] = {}
    for name, declaration in declared.items():
        path = ("Parameters", name)
        if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
            raise where.error(f'Parameter "{name}" needs a Type', path)
        kind: str = declaration["Type"]
        if kind.startswith("AWS::SSM::Parameter::Value<"):
            raise where.error(f'Parameter "{name}" has type {kind}: SSM parameters are not supported by Lamina; '
                              "declare it as String and give the value itself", (*path, "Type"))
        if name in overrides:
            raw: Any = overrides[name]
        elif declaration.get("Default") is not None:
            raw = declaration["Default"]
        else:
            raise where.error(f'Parameter "{name}" has no value: it has no Default, so give one '
                              f"(--parameter-overrides {name}=...)", path)
        values[name] = _typed_parameter(name, kind, raw, declaration, path, where)
    return values


def _typed_parameter(name: str, kind: str, raw: Any, declaration: Mapping[str, Any], path: NodePath,
                     where: Locator) -> Any:
    is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
    if is_list:
        items = [text(item) for item in raw] if isinstance(raw, list) else text(raw).split(",")
        value: Any = [item.strip() for item in items]
    elif kind == "String" or kind.startswith("AWS::"):
        value = text(raw)
    elif kind == "Number":
        value = _number(name, raw, path, where)
    else:
        raise where.error(f'Parameter "{name}" has an unknown Type "{kind}"', (*path, "Type"))
    numbers = kind in ("Number", "List<Number>")
    for item in value if is_list else [value]:
        _check_constraint(name, _number(name, item, path, where) if numbers else item, declaration, path, where)
    return value


def _number(name: str, raw: Any, path: NodePath, where: Locator) -> int | float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw
    try:
        number = float(text(raw))
    except ValueError:
        raise where.error(f'Parameter "{name}" must be a number, not "{text(raw)}"', path) from None
    return int(number) if number.is_integer() and "." not in text(raw) else number


def _check_constraint(name: str, value: Any, declaration: Mapping[str, Any], path: NodePath, where: Locator) -> None:
    shown = text(value)
    hint = f" ({declaration['ConstraintDescription']})" if declaration.get("ConstraintDescription") else ""
    allowed = declaration.get("AllowedValues")
    if isinstance(allowed, list) and shown not in [text(choice) for choice in allowed]:
        raise where.error(f'Parameter "{name}" is "{shown}"; it must be one of '
                          f"{', '.join(text(choice) for choice in allowed)}{hint}", path)
    pattern = declaration.get("AllowedPattern")
    if isinstance(value, str) and pattern is not None and not re.fullmatch(str(pattern), value):
        raise where.error(f'Parameter "{name}" is "{shown}"; it must match the pattern {pattern}{hint}', path)
    for key, too_short in (("MinLength", True), ("MaxLength", False)):
        limit = declaration.get(key)
        if isinstance(value, str) and limit is not None and (len(value) < int(limit) if too_short
                                                             else len(value) > int(limit)):
            raise where.error(f'Parameter "{name}" is "{shown}"; its {key} is {limit}{hint}', path)
    for key, too_small in (("MinValue", True), ("MaxValue", False)):
        limit = declaration.get(key)
        if isinstance(value, int | float) and limit is not None and (value < float(limit) if too_small
                                                                     else value > float(limit)):
            raise where.error(f'Parameter "{name}" is {shown}; its {key} is {text(limit)}{hint}', path)
