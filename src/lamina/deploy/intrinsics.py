"""Static resolution of CloudFormation intrinsics: everything knowable before any resource exists.

:func:`lamina.deploy.parameters.parameter_values` checks parameter overrides against the template's
declarations first. :class:`Resolver` then walks a template's
resources and outputs: parameters, pseudo parameters, conditions (a resource whose ``Condition`` is
false is left out; ``Fn::If``), mappings and the string and list functions are computed; a reference to
a resource becomes a :class:`~lamina.deploy.model.Ref` / :class:`~lamina.deploy.model.GetAtt`
marker, and a string built from literals and such values a :class:`~lamina.deploy.model.Concat`.
``AWS::NoValue`` removes its key or list item.

What needs a resource's value to compute (``Fn::Select``/``Fn::Split``/``Fn::Base64`` over a marker),
or something Lamina does not have (``Fn::ImportValue``, ``Fn::Cidr``, ``Fn::Transform``), is refused
with a :class:`~lamina.deploy.model.TemplateError` naming the function and the line.

Values follow CloudFormation: a ``Number`` parameter is an ``int`` or ``float`` (CloudFormation's
resource handlers coerce strings to the property's type; a number is what the engine needs), a list
parameter a ``list[str]``; joined into a string, numbers are written as CloudFormation writes them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.deploy.cfnyaml import Locator, NodePath
from lamina.deploy.model import Concat, GetAtt, Ref, Resource, markers

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
DELETION_POLICIES = frozenset({"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"})

#: Functions Lamina refuses, and why.
REFUSED: Mapping[str, str] = {
    "Fn::ImportValue": "Fn::ImportValue is not supported by Lamina: stacks do not export values",
    "Fn::Cidr": "Fn::Cidr is not supported by Lamina: it has no VPCs to carve addresses from",
    "Fn::Transform": "Fn::Transform (AWS::Include, macros) is not supported by Lamina: templates deploy as written",
    "Fn::GetStackOutput": "Fn::GetStackOutput is not supported by Lamina: stacks do not share outputs",
}


class _NoValue:
    """``AWS::NoValue``: the key or list item holding it disappears."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()

Part = str | Ref | GetAtt


@dataclass(frozen=True)
class Context:
    """Where the stack goes: what the pseudo parameters answer."""

    region: str
    account_id: str
    stack_name: str

    def pseudo_parameters(self) -> dict[str, Any]:
        # The stack id is made up but stable: the same stack name gives the same id on every load.
        stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"lamina:{self.region}:{self.account_id}:{self.stack_name}")
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/"
                            f"{stack_uuid}",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }


def transforms(template: Mapping[str, Any]) -> list[str]:
    """The template's ``Transform`` names (a string, a list, or macros given as ``{Name: …}``)."""
    declared = template.get("Transform")
    items = declared if isinstance(declared, list) else [] if declared is None else [declared]
    return [str(item.get("Name")) if isinstance(item, dict) else str(item) for item in items]


def text(value: Any) -> str:
    """A scalar as CloudFormation writes it into a string (``true``, ``5``, ``0.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Resolver:
    """Resolves one template's intrinsics given its parameter values and where the stack goes."""

    def __init__(self, template: Mapping[str, Any], *, context: Context, parameters: Mapping[str, Any],
                 where: Locator) -> None:
        self._where = where
        self._pseudo = context.pseudo_parameters()
        self._parameters = dict(parameters)
        self._resources: Mapping[str, Any] = template.get("Resources") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._mappings: Mapping[str, Any] = template.get("Mappings") or {}
        self._language_extensions = LANGUAGE_EXTENSIONS in transforms(template)
        self._outputs: Mapping[str, Any] = template.get("Outputs") or {}
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._functions: dict[str, Callable[[Any, NodePath], Any]] = {
            "Ref": self._ref, "Fn::GetAtt": self._get_att, "Fn::Sub": self._sub, "Fn::Join": self._join,
            "Fn::Select": self._select, "Fn::Split": self._split, "Fn::Base64": self._base64,
            "Fn::FindInMap": self._find_in_map, "Fn::If": self._if, "Fn::GetAZs": self._get_azs,
            "Fn::ToJsonString": self._to_json_string, "Fn::Length": self._length,
        }
        for section in ("Resources", "Conditions", "Mappings", "Outputs"):
            if not isinstance(template.get(section) or {}, dict):
                raise where.error(f"{section} must be a mapping", (section,))

    # Resources and outputs.

    def included(self, logical_id: str) -> bool:
        """Whether a resource is part of the stack: it has no ``Condition``, or its condition holds."""
        declaration = self._resources.get(logical_id)
        name = declaration.get("Condition") if isinstance(declaration, dict) else None
        if name is None:
            return True
        if not isinstance(name, str):
            raise self._where.error("a resource's Condition must be a condition's name",
                                    ("Resources", logical_id, "Condition"))
        return self.condition(name, ("Resources", logical_id, "Condition"))

    def resources(self) -> dict[str, Resource]:
        """The resources whose condition holds, in template order, with their properties resolved."""
        result: dict[str, Resource] = {}
        for logical_id, declaration in self._resources.items():
            path = ("Resources", logical_id)
            if logical_id.startswith("Fn::ForEach::"):
                raise self._where.error("Fn::ForEach is not supported by Lamina yet", path)
            if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
                raise self._where.error(f'Resource "{logical_id}" needs a Type', path)
            if not self.included(logical_id):
                continue
            properties = self.value(declaration.get("Properties") or {}, (*path, "Properties"))
            if not isinstance(properties, dict):
                raise self._where.error(f'Properties of "{logical_id}" must be a mapping', (*path, "Properties"))
            policy = self.value(declaration.get("DeletionPolicy", "Delete"), (*path, "DeletionPolicy"))
            if policy not in DELETION_POLICIES:
                choices = ", ".join(sorted(DELETION_POLICIES))
                raise self._where.error(f'DeletionPolicy "{policy}" is not one of {choices}', (*path, "DeletionPolicy"))
            result[logical_id] = Resource(
                logical_id=logical_id, type=declaration["Type"], properties=properties,
                depends_on=self._depends_on(logical_id, declaration.get("DependsOn"), (*path, "DependsOn")),
                line=self._where.line_of(path), deletion_policy=policy,
            )
        return result

    def outputs(self) -> dict[str, dict[str, Any]]:
        """Each output whose condition holds, resolved (``Value``, and ``Description``/``Export`` if given)."""
        result: dict[str, dict[str, Any]] = {}
        for name, declaration in self._outputs.items():
            path = ("Outputs", name)
            if not isinstance(declaration, dict) or "Value" not in declaration:
                raise self._where.error(f'Output "{name}" needs a Value', path)
            condition = declaration.get("Condition")
            if condition is not None and not self.condition(str(condition), (*path, "Condition")):
                continue
            resolved = self.value({key: item for key, item in declaration.items() if key != "Condition"}, path)
            if resolved.get("Value", NO_VALUE) is NO_VALUE:
                raise self._where.error(f'Output "{name}" has no value (AWS::NoValue)', (*path, "Value"))
            result[name] = resolved
        return result

    def _depends_on(self, logical_id: str, declared: Any, path: NodePath) -> tuple[str, ...]:
        names = [declared] if isinstance(declared, str) else declared or []
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise self._where.error("DependsOn must be a logical id or a list of them", path)
        for name in names:
            self._require_resource(name, path, f'"{logical_id}" depends on')
        return tuple(names)

    def _require_resource(self, name: str, path: NodePath, what: str) -> None:
        if name not in self._resources:
            raise self._where.error(f'{what} "{name}": no resource by that name', path)
        if not self.included(name):
            condition = self._resources[name].get("Condition")
            raise self._where.error(f'{what} "{name}", which its condition "{condition}" leaves out of the stack',
                                    path)

    # Conditions.

    def condition(self, name: str, path: NodePath) -> bool:
        """The value of the condition ``name`` (each is evaluated once; cycles are refused)."""
        known = self._condition_values.get(name)
        if known is not None:
            return known
        if name not in self._conditions:
            raise self._where.error(f'no condition named "{name}" in Conditions', path)
        if name in self._evaluating:
            raise self._where.error(f'condition "{name}" depends on itself', ("Conditions", name))
        self._evaluating.add(name)
        try:
            result = self._condition_expression(self._conditions[name], ("Conditions", name))
        finally:
            self._evaluating.discard(name)
        self._condition_values[name] = result
        return result

    def _condition_expression(self, node: Any, path: NodePath) -> bool:
        if not isinstance(node, dict) or len(node) != 1:
            raise self._where.error("a condition must be one of Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition",
                                    path)
        ((function, argument),) = node.items()
        inner = (*path, function)
        if function == "Condition" and isinstance(argument, str):
            return self.condition(argument, inner)
        if function == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
            left, right = (self._static(item, (*inner, index), function) for index, item in enumerate(argument))
            return bool(_comparable(left) == _comparable(right))
        if function == "Fn::Not" and isinstance(argument, list) and len(argument) == 1:
            return not self._condition_expression(argument[0], (*inner, 0))
        if function in ("Fn::And", "Fn::Or") and isinstance(argument, list) and 2 <= len(argument) <= 10:
            results = [self._condition_expression(item, (*inner, index)) for index, item in enumerate(argument)]
            return all(results) if function == "Fn::And" else any(results)
        raise self._where.error(f"{function} is not a condition function, or its arguments are malformed", inner)

    def _static(self, node: Any, path: NodePath, function: str) -> Any:
        value = self.value(node, path)
        if next(markers(value), None) is not None:
            raise self._where.error(f"{function} can only use parameters, pseudo parameters and mappings, "
                                    "not a resource's value", path)
        return value

    # Values.

    def value(self, node: Any, path: NodePath) -> Any:
        """``node`` with every intrinsic resolved (may be :data:`NO_VALUE` for ``AWS::NoValue``)."""
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, argument),) = node.items()
                if key == "Ref" or (isinstance(key, str) and key.startswith("Fn::")):
                    return self._function(key, argument, (*path, key))
            resolved = {key: self.value(item, (*path, key)) for key, item in node.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(node, list):
            items = [self.value(item, (*path, index)) for index, item in enumerate(node)]
            return [item for item in items if item is not NO_VALUE]
        return node

    def _function(self, name: str, argument: Any, path: NodePath) -> Any:
        if name in REFUSED:
            raise self._where.error(REFUSED[name], path)
        if name in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"):
            raise self._where.error(f"{name} can only be used in Conditions", path)
        if name in ("Fn::ToJsonString", "Fn::Length") and not self._language_extensions:
            raise self._where.error(f"{name} needs 'Transform: {LANGUAGE_EXTENSIONS}' in the template", path)
        handler = self._functions.get(name)
        if handler is None:
            raise self._where.error(f"unknown intrinsic function {name}", path)
        return handler(argument, path)

    def _ref(self, name: Any, path: NodePath) -> Any:
        if not isinstance(name, str):
            raise self._where.error("Ref takes the name of a parameter or resource", path)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return copy.deepcopy(self._pseudo[name])
        if name in self._parameters:
            return copy.deepcopy(self._parameters[name])
        if name in self._resources:
            self._require_resource(name, path, "Ref to")
            return Ref(name)
        raise self._where.error(f'Ref to "{name}": no parameter, pseudo parameter or resource by that name', path)

    def _get_att(self, argument: Any, path: NodePath) -> GetAtt:
        if isinstance(argument, str) and "." in argument:
            argument = argument.split(".", 1)
        if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[0], str):
            raise self._where.error("Fn::GetAtt takes [LogicalId, Attribute]", path)
        attribute = self.value(argument[1], (*path, 1))
        if not isinstance(attribute, str):
            raise self._where.error("Fn::GetAtt's attribute must resolve to a string", path)
        self._require_resource(argument[0], path, "Fn::GetAtt of")
        return GetAtt(argument[0], attribute)

    def _sub(self, argument: Any, path: NodePath) -> Any:
        if isinstance(argument, str):
            template, variables = argument, {}
        elif (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)
              and isinstance(argument[1], dict)):
            template = argument[0]
            variables = {key: self.value(item, (*path, 1, key)) for key, item in argument[1].items()}
        else:
            raise self._where.error("Fn::Sub takes a string, or [string, {variable: value}]", path)
        parts: list[Any] = []
        position = 0
        for match in re.finditer(r"\$\{([^}]*)\}", template):
            parts.append(template[position:match.start()])
            name = match.group(1).strip()
            if name.startswith("!"):
                parts.append("${" + match.group(1).lstrip()[1:] + "}")
            elif name in variables:
                parts.append(self._piece(variables[name], path, f"Fn::Sub variable {name}"))
            elif "." in name and name.split(".", 1)[0] in self._resources:
                parts.append(self._get_att(name.split(".", 1), path))
            else:
                parts.append(self._piece(self._ref(name, path), path, f"Fn::Sub variable {name}"))
            position = match.end()
        parts.append(template[position:])
        return self._concat(parts)

    def _join(self, argument: Any, path: NodePath) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise self._where.error("Fn::Join takes [delimiter, [values]]", path)
        delimiter = self.value(argument[0], (*path, 0))
        items = self.value(argument[1], (*path, 1))
        if not isinstance(delimiter, str):
            raise self._where.error("Fn::Join's delimiter must be a string", path)
        self._refuse_marker(items, "Fn::Join", path)
        if not isinstance(items, list):
            raise self._where.error("Fn::Join's second argument must be a list", path)
        parts: list[Any] = []
        for index, item in enumerate(items):
            if index:
                parts.append(delimiter)
            parts.append(self._piece(item, path, "an item of Fn::Join"))
        return self._concat(parts)

    def _select(self, argument: Any, path: NodePath) -> Any:
        if not isinstance(argument, list) or len(argument) != 2:
            raise self._where.error("Fn::Select takes [index, [values]]", path)
        index = self.value(argument[0], (*path, 0))
        items = self.value(argument[1], (*path, 1))
        self._refuse_marker(items, "Fn::Select", path)
        if not isinstance(items, list):
            raise self._where.error("Fn::Select's second argument must be a list", path)
        try:
            position = int(text(index))
        except ValueError:
            raise self._where.error(f'Fn::Select\'s index must be a number, not "{text(index)}"', path) from None
        if not 0 <= position < len(items):
            raise self._where.error(f"Fn::Select's index {position} is out of range for a list of {len(items)}", path)
        return items[position]

    def _split(self, argument: Any, path: NodePath) -> list[str]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise self._where.error("Fn::Split takes [delimiter, string]", path)
        delimiter = self.value(argument[0], (*path, 0))
        source = self.value(argument[1], (*path, 1))
        self._refuse_marker(source, "Fn::Split", path)
        if not isinstance(delimiter, str) or not delimiter or not isinstance(source, str):
            raise self._where.error("Fn::Split takes a delimiter and a string", path)
        return source.split(delimiter)

    def _base64(self, argument: Any, path: NodePath) -> str:
        value = self.value(argument, path)
        self._refuse_marker(value, "Fn::Base64", path)
        if not isinstance(value, str):
            raise self._where.error("Fn::Base64 takes a string", path)
        return base64.b64encode(value.encode()).decode()

    def _find_in_map(self, argument: Any, path: NodePath) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            raise self._where.error("Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]", path)
        keys = [text(self._static(item, (*path, index), "Fn::FindInMap")) for index, item in enumerate(argument[:3])]
        default = argument[3] if len(argument) == 4 else None
        if default is not None and not (self._language_extensions and isinstance(default, dict)
                                        and set(default) == {"DefaultValue"}):
            raise self._where.error("Fn::FindInMap's fourth argument is {DefaultValue: …} and needs "
                                    f"'Transform: {LANGUAGE_EXTENSIONS}'", (*path, 3))
        found: Any = self._mappings
        for depth, key in enumerate(keys):
            if not isinstance(found, dict) or key not in found:
                if default is not None:
                    return self.value(default["DefaultValue"], (*path, 3, "DefaultValue"))
                where = ["Mappings", *keys[:depth]]
                raise self._where.error(f'Fn::FindInMap: no key "{key}" in {".".join(where)}', path)
            found = found[key]
        return copy.deepcopy(found)

    def _if(self, argument: Any, path: NodePath) -> Any:
        if not isinstance(argument, list) or len(argument) != 3 or not isinstance(argument[0], str):
            raise self._where.error("Fn::If takes [ConditionName, value if true, value if false]", path)
        chosen = 1 if self.condition(argument[0], (*path, 0)) else 2
        return self.value(argument[chosen], (*path, chosen))

    def _get_azs(self, argument: Any, path: NodePath) -> list[str]:
        region = self.value(argument, path)
        if not isinstance(region, str):
            raise self._where.error("Fn::GetAZs takes a region name or ''", path)
        region = region or str(self._pseudo["AWS::Region"])
        return [f"{region}{zone}" for zone in "abc"]

    def _to_json_string(self, argument: Any, path: NodePath) -> str:
        value = self.value(argument, path)
        if next(markers(value), None) is not None:
            raise self._where.error("Fn::ToJsonString over a resource's value is not supported by Lamina", path)
        return json.dumps(value, separators=(",", ":"))

    def _length(self, argument: Any, path: NodePath) -> int:
        value = self.value(argument, path)
        if not isinstance(value, list):
            raise self._where.error("Fn::Length takes a list", path)
        return len(value)

    # Helpers.

    def _refuse_marker(self, value: Any, function: str, path: NodePath) -> None:
        if isinstance(value, Ref | GetAtt | Concat):
            raise self._where.error(f"{function} over a value known only once a resource exists "
                                    f"({_describe(value)}) is not supported by Lamina", path)

    def _piece(self, value: Any, path: NodePath, what: str) -> Any:
        if isinstance(value, str | Ref | GetAtt | Concat):
            return value
        if isinstance(value, int | float | bool):
            return text(value)
        raise self._where.error(f"{what} must be a string, not {type(value).__name__}", path)

    @staticmethod
    def _concat(parts: list[Any]) -> Any:
        flat: list[Part] = []
        for part in parts:
            for piece in part.parts if isinstance(part, Concat) else (part,):
                if isinstance(piece, str) and flat and isinstance(flat[-1], str):
                    flat[-1] += piece
                elif piece != "":
                    flat.append(piece)
        if not flat:
            return ""
        if len(flat) == 1:
            return flat[0]
        return Concat(tuple(flat))


def _comparable(value: Any) -> Any:
    return [text(item) for item in value] if isinstance(value, list) else text(value)


def _describe(value: Ref | GetAtt | Concat) -> str:
    if isinstance(value, Ref):
        return f"Ref {value.logical_id}"
    if isinstance(value, GetAtt):
        return f"Fn::GetAtt {value.logical_id}.{value.attribute}"
    return ", ".join(_describe(part) for part in value.parts if not isinstance(part, str))
