"""AWS's event filter pattern language, as event source mappings' FilterCriteria use it.

https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html (filter rule syntax):
a pattern is a JSON object whose keys name fields of the record. A value that is an object matches
the nested object; a value that is a list is a set of rules, and the field matches when any rule
matches it (or, when the field is an array, any of its elements). Several keys must all match; a
``"$or": [pattern, pattern, ...]`` key matches when any of its patterns does. Rules:

========================  ===============================================================
``"text"`` / ``5`` /      equals (numbers by value: ``5`` matches ``5.0``; a string never
``true`` / ``null``       matches a number)
``{"prefix": "us-"}``     string starts with (also ``{"prefix": {"equals-ignore-case": ..}}``)
``{"suffix": ".png"}``    string ends with (also with ``equals-ignore-case``)
``{"equals-ignore-case": "ok"}``  string equals, ignoring case
``{"anything-but": x}``   present and not equal to ``x`` (a value, a list of values, or a
                          ``{"prefix"|"suffix"|"equals-ignore-case": ..}`` object)
``{"numeric": [">", 0, "<=", 5]}``  a number within the range (or ``["=", 5]``)
``{"exists": true}``      the field is present (a leaf, not an object); ``false``: absent
``{"cidr": "10.0.0.0/24"}``  an IP address string within the network
========================  ===============================================================

A missing field matches only ``{"exists": false}``. Records match when any of the mapping's
patterns matches (filters are ORed). :func:`parse_pattern` refuses anything else with
:class:`FilterPatternError`, which the API turns into AWS's "Invalid filter pattern definition."
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_STRING_MATCHERS = ("prefix", "suffix", "equals-ignore-case")


class FilterPatternError(ValueError):
    """A pattern the filter language does not allow."""


def parse_pattern(text: str) -> dict[str, Any]:
    """The pattern ``text`` holds, checked; raises FilterPatternError."""
    try:
        pattern = json.loads(text)
    except ValueError:
        raise FilterPatternError("the pattern is not JSON") from None
    _check_object(pattern)
    return dict(pattern)


def matches(pattern: dict[str, Any], record: Any) -> bool:
    """Whether ``record`` (a parsed JSON value) matches a pattern :func:`parse_pattern` accepted."""
    return _match_object(pattern, record if isinstance(record, dict) else {})


def matches_any(patterns: Sequence[dict[str, Any]], record: Any) -> bool:
    """Filters are ORed; no filters at all let everything through."""
    return not patterns or any(matches(p, record) for p in patterns)


# --- checking -------------------------------------------------------------------------------------

def _check_object(pattern: Any) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise FilterPatternError("a pattern is a non-empty JSON object")
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPatternError('"$or" takes a list of at least two patterns')
            for option in value:
                _check_object(option)
        elif isinstance(value, dict):
            _check_object(value)
        elif isinstance(value, list) and value:
            for rule in value:
                _check_rule(rule)
        else:
            raise FilterPatternError(f"the value of {key!r} must be an object or a non-empty list of rules")


def _check_rule(rule: Any) -> None:
    if rule is None or isinstance(rule, (str, bool, int, float)):
        return
    if not isinstance(rule, dict) or len(rule) != 1:
        raise FilterPatternError(f"invalid rule {rule!r}")
    (name, operand), = rule.items()
    if name in ("prefix", "suffix"):
        if not isinstance(operand, str) and not _is_ignore_case(operand):
            raise FilterPatternError(f"{name} takes a string")
    elif name == "equals-ignore-case":
        if not isinstance(operand, str):
            raise FilterPatternError("equals-ignore-case takes a string")
    elif name == "anything-but":
        _check_anything_but(operand)
    elif name == "numeric":
        _check_numeric(operand)
    elif name == "exists":
        if not isinstance(operand, bool):
            raise FilterPatternError("exists takes true or false")
    elif name == "cidr":
        try:
            ipaddress.ip_network(operand, strict=False)
        except (TypeError, ValueError):
            raise FilterPatternError(f"invalid cidr {operand!r}") from None
    else:
        raise FilterPatternError(f"unknown rule {name!r}")


def _is_ignore_case(operand: Any) -> bool:
    return (isinstance(operand, dict) and list(operand) == ["equals-ignore-case"]
            and isinstance(operand["equals-ignore-case"], str))


def _check_anything_but(operand: Any) -> None:
    if isinstance(operand, dict):
        if len(operand) != 1 or next(iter(operand)) not in _STRING_MATCHERS \
                or not isinstance(next(iter(operand.values())), str):
            raise FilterPatternError("anything-but takes a value, a list of values, or a prefix/suffix object")
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        raise FilterPatternError("anything-but takes strings or numbers")


def _check_numeric(operand: Any) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise FilterPatternError("numeric takes [op, number] or [op, number, op, number]")
    ops, numbers = operand[0::2], operand[1::2]
    if any(op not in _NUMERIC_OPS for op in ops) or not all(_is_number(n) for n in numbers):
        raise FilterPatternError("numeric takes operators =, <, <=, >, >= and numbers")
    if len(ops) == 2 and (ops[0] not in (">", ">=") or ops[1] not in ("<", "<=") or numbers[0] > numbers[1]):
        raise FilterPatternError("a numeric range is a lower bound (> or >=) then an upper bound (< or <=)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- matching -------------------------------------------------------------------------------------

def _match_object(pattern: dict[str, Any], value: dict[str, Any]) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(option, value) for option in expected):
                return False
            continue
        present = key in value
        field = value.get(key)
        if isinstance(expected, dict):
            if not present:
                ok = _match_object(expected, {})
            elif isinstance(field, dict):
                ok = _match_object(expected, field)
            elif isinstance(field, list):
                ok = any(isinstance(item, dict) and _match_object(expected, item) for item in field)
            else:
                ok = False  # a plain value where the pattern expects an object
        else:
            ok = _match_rules(expected, field, present)
        if not ok:
            return False
    return True


def _match_rules(rules: list[Any], value: Any, present: bool) -> bool:
    leaf = present and not isinstance(value, dict)
    if any(isinstance(rule, dict) and "exists" in rule and rule["exists"] == leaf for rule in rules):
        return True
    if not present:
        return False
    values = value if isinstance(value, list) else [value]
    return any(_match_rule(rule, item) for rule in rules for item in values
               if not (isinstance(rule, dict) and "exists" in rule))


def _match_rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return _equal(rule, value)
    (name, operand), = rule.items()
    if name in _STRING_MATCHERS:
        return isinstance(value, str) and _string_match(name, operand, value)
    if name == "anything-but":
        if isinstance(operand, dict):
            (matcher, text), = operand.items()
            return isinstance(value, str) and not _string_match(matcher, text, value)
        excluded = operand if isinstance(operand, list) else [operand]
        return not any(_equal(item, value) for item in excluded)
    if name == "numeric":
        return _is_number(value) and _in_range(operand, float(value))
    if name == "cidr":
        return isinstance(value, str) and _in_network(operand, value)
    return False


def _string_match(name: str, operand: Any, value: str) -> bool:
    if isinstance(operand, dict):  # {"prefix": {"equals-ignore-case": ...}}
        operand, value = str(operand["equals-ignore-case"]).lower(), value.lower()
    if name == "prefix":
        return value.startswith(operand)
    if name == "suffix":
        return value.endswith(operand)
    return value.lower() == str(operand).lower()


def _equal(expected: Any, value: Any) -> bool:
    if expected is None or isinstance(expected, (bool, str)):
        return type(value) is type(expected) and value == expected
    return _is_number(value) and float(value) == float(expected)


def _in_range(operand: list[Any], number: float) -> bool:
    for op, bound in zip(operand[0::2], operand[1::2], strict=True):
        limit = float(bound)
        ok = {"=": number == limit, "<": number < limit, "<=": number <= limit,
              ">": number > limit, ">=": number >= limit}[op]
        if not ok:
            return False
    return True


def _in_network(network: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False
