"""Reading a template file: YAML with CloudFormation's short-form tags, or JSON, plus where every node is.

:func:`load` returns a :class:`Document`: the data as plain dicts and lists with every short-form tag
(``!Ref``, ``!GetAtt``, ``!Sub``, …) already in long form (``{"Ref": …}``, ``{"Fn::GetAtt": […]}``),
and :class:`Lines`, the source line of every node keyed by its path (``("Resources", "Fn",
"Properties", "Events", "Api")``; a list item's path ends in its index; a tag's value sits under its
long-form key). Every error is a :class:`~lamina.deploy.model.TemplateError` with the line.

YAML is read as YAML 1.1 (what CloudFormation and PyYAML read) with one exception: dates stay strings,
since ``AWSTemplateFormatVersion: 2010-09-09`` must not become a ``datetime.date``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lamina.deploy.model import TemplateError

#: A node's place in a document: mapping keys and list indexes from the root.
NodePath = tuple[str | int, ...]

#: Short-form tags and the long-form key each becomes (``!Condition`` is the condition reference).
SHORT_FORMS: Mapping[str, str] = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    **{
        f"!{name}": f"Fn::{name}"
        for name in (
            "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "And", "Or", "Not", "FindInMap",
            "Base64", "Cidr", "ImportValue", "GetAZs", "Transform", "ToJsonString", "Length",
        )
    },
}


@dataclass(frozen=True)
class Lines:
    """Source lines by node path; :meth:`at` answers with the nearest ancestor's line when a node has none."""

    by_path: Mapping[NodePath, int] = field(default_factory=dict)

    def at(self, path: NodePath) -> int | None:
        """The line of ``path``, else of its longest prefix that has one (None for an empty index)."""
        for end in range(len(path), -1, -1):
            line = self.by_path.get(path[:end])
            if line is not None:
                return line
        return None


@dataclass(frozen=True)
class Locator:
    """Turns a node path into a :class:`TemplateError` that names the file and the line."""

    source: Path
    line_of: Callable[[NodePath], int | None]

    def error(self, message: str, path: NodePath) -> TemplateError:
        return TemplateError(message, source=self.source, line=self.line_of(path))


@dataclass(frozen=True)
class Document:
    """A parsed template: its top-level mapping and the line of every node."""

    source: Path
    data: dict[str, Any]
    lines: Lines

    @property
    def locator(self) -> Locator:
        return Locator(self.source, self.lines.at)


def load(path: Path) -> Document:
    """Read ``path`` (``.json`` as JSON, anything else as YAML); refuses a file whose root is not a mapping."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TemplateError(f"cannot read the template: {exc.strerror or exc}", source=path) from exc
    except UnicodeDecodeError as exc:
        raise TemplateError("the template is not UTF-8 text", source=path) from exc
    return parse_json(text, path) if path.suffix.lower() == ".json" else parse_yaml(text, path)


def parse_yaml(text: str, source: Path) -> Document:
    """Parse YAML text (CloudFormation short forms included) into a :class:`Document`."""
    loader = _Loader(text, source)
    try:
        node = loader.get_single_node()
        if node is None:
            raise TemplateError("the template is empty", source=source, line=1)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = f"{exc.problem} ({exc.context})" if exc.context else str(exc.problem)
        raise TemplateError(f"invalid YAML: {problem}", source=source,
                            line=mark.line + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"invalid YAML: {exc}", source=source) from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise TemplateError("the template must be a mapping at the top level", source=source, line=1)
    by_path: dict[NodePath, int] = {}
    _record_lines(node, (), by_path, set())
    return Document(source, data, Lines(by_path))


def parse_json(text: str, source: Path) -> Document:
    """Parse JSON text; lines come from reading the same text as YAML (JSON is YAML's flow style)."""
    try:
        data = json.loads(text, object_pairs_hook=_json_object(source))
    except json.JSONDecodeError as exc:
        raise TemplateError(f"invalid JSON: {exc.msg}", source=source, line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise TemplateError("the template must be an object at the top level", source=source, line=1)
    by_path: dict[NodePath, int] = {}
    try:
        # Tabs may indent JSON but not YAML; they only matter here for the lines, not for the values.
        node = yaml.compose(text.replace("\t", " "), Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        node = None
    if node is not None:
        _record_lines(node, (), by_path, set())
    return Document(source, data, Lines(by_path))


def _json_object(source: Path) -> Any:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise TemplateError(f'duplicate key "{key}"', source=source)
            result[key] = value
        return result

    return build


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """SafeLoader with CloudFormation's short forms, duplicate keys refused, and no timestamp type."""

    def __init__(self, text: str, source: Path) -> None:
        super().__init__(text)
        self.source = source

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                raise TemplateError(f'duplicate key "{key_node.value}"', source=self.source,
                                    line=key_node.start_mark.line + 1)
            seen.add(key_node.value)
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_short_form(loader: _Loader, node: yaml.Node) -> dict[str, Any]:
    tag = node.tag
    key = SHORT_FORMS[tag]
    line = node.start_mark.line + 1
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag == "!GetAtt":
            resource, dot, attribute = str(value).partition(".")
            if not dot or not resource or not attribute:
                raise TemplateError(f'!GetAtt "{value}" must read LogicalId.Attribute', source=loader.source,
                                    line=line)
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag in ("!Ref", "!Condition") and not isinstance(value, str):
        raise TemplateError(f"{tag} takes a name", source=loader.source, line=line)
    return {key: value}


def _construct_unknown(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    raise TemplateError(f"unknown tag !{suffix}", source=loader.source, line=node.start_mark.line + 1)


for _tag in SHORT_FORMS:
    _Loader.add_constructor(_tag, _construct_short_form)
_Loader.add_multi_constructor("!", _construct_unknown)


def _record_lines(node: yaml.Node, path: NodePath, out: dict[NodePath, int], active: set[int]) -> None:
    # ``active`` guards against anchors that contain themselves (PyYAML allows recursive aliases).
    if id(node) in active:
        return
    out.setdefault(path, node.start_mark.line + 1)
    if node.tag in SHORT_FORMS:
        path = (*path, SHORT_FORMS[node.tag])
        out.setdefault(path, node.start_mark.line + 1)
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, key_node.value)
                out.setdefault(child, key_node.start_mark.line + 1)
                _record_lines(value_node, child, out, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), out, active)
    active.discard(id(node))
