"""Constraint validation of parsed parameters against an operation's input shape.

The constraints (``required``, ``min``, ``max``, ``pattern``, ``enum``) come from the botocore model;
a service may tighten them with *overrides* keyed ``"ShapeName.MemberName"`` because the model's
bounds are sometimes wider than the documented quotas (Lambda's ``MemorySize`` allows 32768 in the
model, 10240 for standard functions).

Messages copy AWS's (Coral's) wording, which SDKs and users grep for::

    1 validation error detected: Value '10241' at 'memorySize' failed to satisfy constraint:
    Member must have value less than or equal to 10240

Paths are member names with the first letter lowered, joined by ``.``; list items are
``layers.1.member`` (1-based). Sensitive values are left out (``Value at 'x' failed ...``), as AWS does.
"""

from __future__ import annotations

import datetime
import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lamina.errors import ValidationException

if TYPE_CHECKING:
    from botocore.model import ServiceModel, Shape

#: ``{"CreateFunctionRequest.MemorySize": {"max": 10240}}``; keys ``min``, ``max`` (int), ``pattern`` (str).
Overrides = Mapping[str, Mapping[str, int | str]]

_LENGTH_TYPES = frozenset({"string", "blob", "list", "map"})
_VALUE_TYPES = frozenset({"integer", "long", "float", "double"})
_CACHED_LENGTH = 256
_CACHED_VALUES = 1024


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | None:
    """Compile a model pattern (a Java regex) with Python's ``re``; None when ``re`` cannot.

    A handful of model patterns use Java-only syntax (``\\p{L}`` Unicode classes). Skipping them
    accepts some values AWS would reject, which is safer than rejecting values AWS accepts.
    """
    try:
        # Java character classes like ``[a-z-_]`` or ``[[...]]`` make ``re`` warn about future set
        # semantics; the meaning today is the Java one, so the warning is noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(pattern)
    except re.error:
        return None


@dataclass(frozen=True, slots=True)
class _Rules:
    """The scalar constraints of one member. ``length`` measures len(), otherwise the value itself."""

    length: bool
    min: float | None
    max: float | None
    pattern: str | None
    regex: re.Pattern[str] | None
    enum: frozenset[str] | None
    enum_text: str
    sensitive: bool
    #: Short strings known to pass; the hot path validates the same function names and qualifiers
    #: over and over, and a dict hit is cheaper than a regex. Bounded; never holds sensitive values.
    passed: dict[str, None] = field(default_factory=dict, compare=False)

    def ok(self, value: Any) -> bool:
        """True when ``value`` satisfies every constraint."""
        if type(value) is not str:
            return not self.failures(value)
        if value in self.passed:
            return True
        if self.failures(value):
            return False
        if not self.sensitive and len(value) <= _CACHED_LENGTH:
            if len(self.passed) >= _CACHED_VALUES:
                self.passed.clear()
            self.passed[value] = None
        return True

    def failures(self, value: Any) -> list[str]:
        """Constraint texts this value violates, in AWS's order (max, min, pattern, enum)."""
        out: list[str] = []
        measure: Any = len(value) if self.length else value
        what = "length" if self.length else "value"
        if self.max is not None and measure > self.max:
            out.append(f"Member must have {what} less than or equal to {_num(self.max)}")
        if self.min is not None and measure < self.min:
            out.append(f"Member must have {what} greater than or equal to {_num(self.min)}")
        if self.regex is not None and isinstance(value, str) and self.regex.fullmatch(value) is None:
            out.append(f"Member must satisfy regular expression pattern: {self.pattern}")
        if self.enum is not None and value not in self.enum:
            out.append(f"Member must satisfy enum value set: {self.enum_text}")
        return out

    def texts(self) -> list[str]:
        """Every constraint, as AWS lists them inside ``Map keys must satisfy constraint: [...]``."""
        what = "length" if self.length else "value"
        out = []
        if self.max is not None:
            out.append(f"Member must have {what} less than or equal to {_num(self.max)}")
        if self.min is not None:
            out.append(f"Member must have {what} greater than or equal to {_num(self.min)}")
        if self.pattern is not None:
            out.append(f"Member must satisfy regular expression pattern: {self.pattern}")
        if self.enum is not None:
            out.append(f"Member must satisfy enum value set: {self.enum_text}")
        return out


@dataclass(slots=True)
class _Member:
    name: str
    label: str
    required: bool
    rules: _Rules | None
    node: _Struct | _List | _Map | None


@dataclass(slots=True)
class _Struct:
    members: list[_Member] = field(default_factory=list)


@dataclass(slots=True)
class _List:
    item: _Member


@dataclass(slots=True)
class _Map:
    key: _Rules | None
    value: _Rules | None
    node: _Struct | _List | _Map | None


class Validator:
    """Validates the parameters of one operation. Build once per operation; calls are cheap.

    ``shape`` is the operation's input shape (None for operations without input).
    """

    __slots__ = ("_root",)

    def __init__(self, shape: Shape | None, overrides: Overrides | None = None) -> None:
        memo: dict[str, Any] = {}
        self._root = _build_struct(shape, overrides or {}, memo) if shape is not None else None

    def errors(self, params: Mapping[str, Any]) -> list[str]:
        """Every violation as one AWS-worded sentence, in model member order."""
        errors: list[str] = []
        if self._root is not None:
            _check_struct(self._root, params, "", errors)
        return errors

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`~lamina.errors.ValidationException` listing every violation, or return."""
        errors = self.errors(params)
        if errors:
            raise ValidationException(validation_message(errors))


def validation_message(errors: Sequence[str]) -> str:
    """``N validation error(s) detected: <e1>; <e2>`` as AWS joins them."""
    n = len(errors)
    return f"{n} validation error{'s' if n != 1 else ''} detected: {'; '.join(errors)}"


def check_overrides(model: ServiceModel, overrides: Overrides) -> None:
    """Raise ValueError when an override names a shape member or key the model does not have.

    A typo in an override would otherwise silently leave AWS's documented limit unenforced.
    """
    for key, values in overrides.items():
        shape_name, _, member = key.partition(".")
        shape = model.shape_for(shape_name)  # raises NoShapeFoundError for an unknown shape
        names = {"list": {"member"}, "map": {"key", "value"}}.get(shape.type_name)
        if member not in (names if names is not None else getattr(shape, "members", {})):
            raise ValueError(f"constraint override {key!r}: {shape_name} has no member {member!r}")
        unknown = set(values) - {"min", "max", "pattern"}
        if unknown:
            raise ValueError(f"constraint override {key!r}: unsupported keys {sorted(unknown)}")


def _build_struct(shape: Shape, overrides: Overrides, memo: dict[str, Any]) -> _Struct:
    node = _Struct()
    memo[shape.name] = node  # registered before the members so recursive shapes terminate
    required = set(shape.required_members)
    for name, member in shape.members.items():
        compiled = _build_member(member, name, shape.name, name in required, overrides, memo)
        if compiled.required or compiled.rules is not None or compiled.node is not None:
            node.members.append(compiled)
    return node


def _build_member(shape: Shape, name: str, parent: str, required: bool, overrides: Overrides,
                  memo: dict[str, Any]) -> _Member:
    rules = _rules(shape, overrides.get(f"{parent}.{name}", {}))
    label = name[:1].lower() + name[1:]
    return _Member(name, label, required, rules, _build_node(shape, overrides, memo))


def _build_node(shape: Shape, overrides: Overrides, memo: dict[str, Any]) -> _Struct | _List | _Map | None:
    kind = shape.type_name
    if shape.metadata.get("document"):
        return None
    if kind in ("structure", "list", "map") and shape.name in memo:
        node: _Struct | _List | _Map | None = memo[shape.name]
        return node
    if kind == "structure":
        return _build_struct(shape, overrides, memo)
    if kind == "list":
        item = _build_member(shape.member, "member", shape.name, False, overrides, memo)
        lst = _List(item)
        memo[shape.name] = lst
        return lst
    if kind == "map":
        mapping = _Map(_rules(shape.key, overrides.get(f"{shape.name}.key", {})),
                       _rules(shape.value, overrides.get(f"{shape.name}.value", {})), None)
        memo[shape.name] = mapping
        mapping.node = _build_node(shape.value, overrides, memo)
        return mapping
    return None


def _rules(shape: Shape, override: Mapping[str, int | str]) -> _Rules | None:
    meta = {**shape.metadata, **override}
    kind = shape.type_name
    lo, hi = meta.get("min"), meta.get("max")
    if kind not in _LENGTH_TYPES and kind not in _VALUE_TYPES:
        lo = hi = None
    pattern = meta.get("pattern") if kind == "string" else None
    enum = meta.get("enum") if kind == "string" else None
    if lo is None and hi is None and pattern is None and not enum:
        return None
    return _Rules(
        length=kind in _LENGTH_TYPES, min=lo, max=hi,
        pattern=pattern, regex=_compile(pattern) if pattern is not None else None,
        enum=frozenset(enum) if enum else None, enum_text=f"[{', '.join(enum)}]" if enum else "",
        sensitive=bool(shape.metadata.get("sensitive")),
    )


def _check_struct(node: _Struct, value: Mapping[str, Any], path: str, errors: list[str]) -> None:
    for member in node.members:
        item = value.get(member.name)
        if item is None:
            if member.required:
                where = f"{path}.{member.label}" if path else member.label
                errors.append(f"Value null at '{where}' failed to satisfy constraint: "
                              "Member must not be null")
        elif member.node is not None or (member.rules is not None and not member.rules.ok(item)):
            # Paths are only built on the way to a nested shape or an error: most values pass.
            _check_member(member, item, f"{path}.{member.label}" if path else member.label, errors)


def _check_member(member: _Member, value: Any, where: str, errors: list[str]) -> None:
    rules = member.rules
    if rules is not None and not rules.ok(value):
        for text in rules.failures(value):
            errors.append(f"{_subject(value, rules.sensitive)} at '{where}' "
                          f"failed to satisfy constraint: {text}")
    node = member.node
    if node is None:
        return
    if isinstance(node, _Struct):
        if isinstance(value, Mapping):
            _check_struct(node, value, where, errors)
    elif isinstance(node, _List):
        for index, item in enumerate(value, 1):
            if item is not None:
                _check_member(node.item, item, f"{where}.{index}.member", errors)
    elif isinstance(value, Mapping):
        _check_map(node, value, where, errors, member.rules.sensitive if member.rules else False)


def _check_map(node: _Map, value: Mapping[str, Any], where: str, errors: list[str], sensitive: bool) -> None:
    # AWS reports a bad key once for the whole map, listing every constraint of the key shape:
    # "Value '{a=b}' at 'x' failed to satisfy constraint: Map keys must satisfy constraint: [...]".
    sensitive = sensitive or any(r is not None and r.sensitive for r in (node.key, node.value))
    for rules, values, kind in ((node.key, value.keys(), "keys"), (node.value, value.values(), "value")):
        if rules is not None and any(rules.failures(v) for v in values if v is not None):
            errors.append(f"{_subject(value, sensitive)} at '{where}' failed to satisfy constraint: "
                          f"Map {kind} must satisfy constraint: [{', '.join(rules.texts())}]")
    if node.node is not None:
        inner = _Member("value", "value", False, None, node.node)
        for key, item in value.items():
            if item is not None:
                _check_member(inner, item, f"{where}.{key}", errors)


def _subject(value: Any, sensitive: bool) -> str:
    return "Value" if sensitive else f"Value '{_java(value)}'"


def _java(value: Any) -> str:
    """The value as AWS's Java services print it (``[a, b]``, ``{k=v}``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_java(k)}={_java(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    return str(value)


def _num(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)
