"""Filter patterns: terms, phrases, ``?`` and ``-`` terms, JSON patterns, regular expressions."""

from __future__ import annotations

import pytest

from lamina.observability.errors import InvalidParameterException
from lamina.observability.filterpattern import compile_pattern

LINES = [
    "START RequestId: 1 Version: $LATEST\n",
    "[ERROR] 2026-11-26T10:00:00Z 1 Failed to process order\n",
    "[WARN] low stock\n",
    '{"level": "ERROR", "latency": 150, "user": {"id": 7, "name": "ada"}, "tags": ["a", "b"], "ok": false}\n',
    '{"level": "INFO", "latency": 20, "note": null}\n',
    "REPORT RequestId: 1\tDuration: 1.00 ms\t\n",
]


def matches(pattern: str) -> list[int]:
    match = compile_pattern(pattern)
    return [index for index, line in enumerate(LINES) if match(line)]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("", [0, 1, 2, 3, 4, 5]),
    ("ERROR", [1, 3]),
    ("ERROR Failed", [1]),
    ('"Failed to process"', [1]),
    ("?WARN ?REPORT", [2, 5]),
    ("RequestId -REPORT", [0]),
    ("-RequestId", [1, 2, 3, 4]),
    ('"to process" ?Failed', [1]),
])
def test_terms(pattern: str, expected: list[int]) -> None:
    assert matches(pattern) == expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ('{ $.level = "ERROR" }', [3]),
    ("{ $.level = ERROR }", [3]),
    ('{ $.level != "ERROR" }', [4]),
    ("{ $.latency > 100 }", [3]),
    ("{ $.latency <= 20 }", [4]),
    ("{ $.latency = 150 }", [3]),
    ('{ $.user.name = "a*" }', [3]),
    ("{ $.user.id >= 7 && $.level = ERROR }", [3]),
    ('{ ($.latency < 10) || ($.level = "INFO") }', [4]),
    ('{ $.tags[1] = "b" }', [3]),
    ("{ $.ok IS FALSE }", [3]),
    ("{ $.note IS NULL }", [4]),
    ("{ $.note NOT EXISTS }", [3]),
    ("{ $.missing = 1 }", []),
])
def test_json_patterns(pattern: str, expected: list[int]) -> None:
    assert matches(pattern) == expected


def test_regex_pattern() -> None:
    assert matches(r"%Duration: \d+\.\d+ ms%") == [5]


@pytest.mark.parametrize("pattern", ["{ $.level = ", "{ level = 1 }", "{ $.a = 1 ", "%(%", "[ip, user]", "a&b"])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidParameterException):
        compile_pattern(pattern)
