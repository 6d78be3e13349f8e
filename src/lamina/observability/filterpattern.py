"""CloudWatch Logs filter patterns: compile once, then test each event's message.

The syntax is AWS's ("Filter pattern syntax for metric filters, subscription filters, filter log
events", CloudWatch Logs user guide):

- an empty pattern matches everything;
- terms: ``ERROR Exception`` (every term, case-sensitive), ``"quoted phrase"`` (an exact phrase),
  ``?ERROR ?WARN`` (any of the ``?`` terms), ``-DEBUG`` (none of the ``-`` terms); terms with other
  characters than letters, digits and ``_`` go in double quotes;
- JSON patterns on events that are JSON objects: ``{ $.level = "ERROR" }``, ``{ $.latency > 100 }``,
  ``{ ($.a = 1) && ($.b != "x*") || $.c IS TRUE }``, ``IS NULL``, ``NOT EXISTS``, ``$.list[0]``;
  string values may use ``*`` as a wildcard;
- ``%regular expression%``.

Space-delimited patterns (``[ip, user, ...]``) are not supported: they answer
``InvalidParameterException``, as any pattern that does not parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lamina.observability.errors import InvalidParameterException

Matcher = Callable[[str], bool]

_TERM = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')
_BARE = re.compile(r"[A-Za-z0-9_.:/@*+-]+")
_JSON_TOKEN = re.compile(r"""\s*(?:(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))|"(?P<str>(?:[^"\\]|\\.)*)"|"""
                         r"""(?P<sel>\$(?:\.[A-Za-z0-9_@$-]+|\[\d+\]|\.\*)*)|(?P<word>[^\s()&|=<>!"]+))""")


def _invalid(pattern: str) -> InvalidParameterException:
    return InvalidParameterException(f"Invalid filter pattern: {pattern}")


def compile_pattern(pattern: str | None) -> Matcher:
    """A predicate over event messages; raises InvalidParameterException for a bad pattern."""
    text = (pattern or "").strip()
    if not text:
        return _everything
    if text.startswith("{"):
        if not text.endswith("}"):
            raise _invalid(text)
        return _json_matcher(_JsonParser(text[1:-1], text).parse())
    if text.startswith("%") and text.endswith("%") and len(text) > 1:
        try:
            regex = re.compile(text[1:-1])
        except re.error:
            raise _invalid(text) from None
        return lambda message: regex.search(message) is not None
    if text.startswith("["):
        raise InvalidParameterException("Space-delimited filter patterns are not supported by Lamina.")
    return _term_matcher(text)


def _everything(message: str) -> bool:
    return True


# -- terms ----------------------------------------------------------------------------------------

def _term_matcher(text: str) -> Matcher:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None:
            if text[position:].strip():
                raise _invalid(text)
            break
        position = match.end()
        prefix, quoted, bare = match.groups()
        if quoted is not None:
            term = quoted.replace('\\"', '"').replace("\\\\", "\\")
        else:
            if not _BARE.fullmatch(bare):
                raise _invalid(text)
            term = bare
        if not term:
            continue
        {"?": optional, "-": excluded}.get(prefix, required).append(term)

    def matches(message: str) -> bool:
        if any(term in message for term in excluded):
            return False
        if not all(term in message for term in required):
            return False
        return not optional or any(term in message for term in optional)

    return matches


# -- JSON patterns --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Compare:
    path: tuple[str | int, ...]
    op: str          # = != < > <= >= | IS TRUE | IS FALSE | IS NULL | NOT EXISTS | EXISTS
    value: Any = None


@dataclass(frozen=True, slots=True)
class _Logic:
    op: str          # && or ||
    left: _Node
    right: _Node


_Node = _Compare | _Logic
_MISSING = object()


class _JsonParser:
    """Recursive descent: ``||`` binds looser than ``&&``; parentheses group."""

    def __init__(self, body: str, pattern: str) -> None:
        self._pattern = pattern
        self._tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(body):
            if not body[position:].strip():
                break
            match = _JSON_TOKEN.match(body, position)
            if match is None or match.end() == position:
                raise _invalid(pattern)
            position = match.end()
            kind = match.lastgroup
            assert kind is not None
            self._tokens.append((kind, match.group(kind)))
        self._at = 0

    def parse(self) -> _Node:
        node = self._or()
        if self._at != len(self._tokens):
            raise _invalid(self._pattern)
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise _invalid(self._pattern)
        self._at += 1
        return token

    def _or(self) -> _Node:
        node = self._and()
        while self._peek() == ("op", "||"):
            self._at += 1
            node = _Logic("||", node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._unary()
        while self._peek() == ("op", "&&"):
            self._at += 1
            node = _Logic("&&", node, self._unary())
        return node

    def _unary(self) -> _Node:
        kind, text = self._take()
        if (kind, text) == ("op", "("):
            node = self._or()
            if self._take() != ("op", ")"):
                raise _invalid(self._pattern)
            return node
        if kind != "sel":
            raise _invalid(self._pattern)
        path = _path(text)
        kind, text = self._take()
        if kind == "word" and text.upper() in ("IS", "NOT"):
            return self._keyword(path, text.upper())
        if kind == "word" and text.upper() == "EXISTS":
            return _Compare(path, "EXISTS")
        if kind != "op" or text in ("(", ")", "&&", "||"):
            raise _invalid(self._pattern)
        return _Compare(path, text, self._value())

    def _keyword(self, path: tuple[str | int, ...], first: str) -> _Node:
        kind, text = self._take()
        word = text.upper() if kind == "word" else ""
        if first == "IS" and word in ("TRUE", "FALSE", "NULL"):
            return _Compare(path, f"IS {word}")
        if first == "NOT" and word == "EXISTS":
            return _Compare(path, "NOT EXISTS")
        raise _invalid(self._pattern)

    def _value(self) -> Any:
        kind, text = self._take()
        if kind == "str":
            return text.replace('\\"', '"').replace("\\\\", "\\")
        if kind != "word":
            raise _invalid(self._pattern)
        try:
            return float(text)
        except ValueError:
            return text


def _path(selector: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for piece in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector[1:]):
        parts.append(piece[0] if piece[0] else int(piece[1]))
    return tuple(parts)


def _lookup(document: Any, path: tuple[str | int, ...]) -> Any:
    value = document
    for part in path:
        if part == "*":
            return value
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return _MISSING
            value = value[part]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in text), re.DOTALL)


def _evaluate(node: _Node, document: Any) -> bool:
    if isinstance(node, _Logic):
        if node.op == "&&":
            return _evaluate(node.left, document) and _evaluate(node.right, document)
        return _evaluate(node.left, document) or _evaluate(node.right, document)
    value = _lookup(document, node.path)
    op = node.op
    if op == "NOT EXISTS":
        return value is _MISSING
    if op == "EXISTS":
        return value is not _MISSING
    if value is _MISSING:
        return False
    if op == "IS NULL":
        return value is None
    if op in ("IS TRUE", "IS FALSE"):
        return value is (op == "IS TRUE")
    target = node.value
    if isinstance(target, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return op == "!="
        return _numeric(op, float(value), target)
    if op not in ("=", "!="):
        return False
    if isinstance(value, bool):
        value = "true" if value else "false"
    if not isinstance(value, str | int | float):
        return op == "!="
    equal = _wildcard(target).fullmatch(str(value)) is not None if "*" in target else str(value) == target
    return equal if op == "=" else not equal


def _numeric(op: str, value: float, target: float) -> bool:
    if op == "=":
        return value == target
    if op == "!=":
        return value != target
    if op == "<":
        return value < target
    if op == ">":
        return value > target
    if op == "<=":
        return value <= target
    return value >= target


def _json_matcher(node: _Node) -> Matcher:
    def matches(message: str) -> bool:
        text = message.strip()
        if not text.startswith("{"):
            return False
        try:
            document = json.loads(text)
        except ValueError:
            return False
        return isinstance(document, dict) and _evaluate(node, document)

    return matches
