"""AWS's event filter pattern language: each rule, combinations, the SQS body rule, and properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.triggers.esm.sqs import filter_view
from lamina.triggers.filters import FilterPatternError, matches, matches_any, parse_pattern


def match(pattern: dict[str, Any], record: Any) -> bool:
    return matches(parse_pattern(json.dumps(pattern)), record)


@pytest.mark.parametrize(("pattern", "record", "expected"), [
    ({"a": ["x"]}, {"a": "x"}, True),
    ({"a": ["x", "y"]}, {"a": "y"}, True),
    ({"a": ["x"]}, {"a": "X"}, False),
    ({"a": [5]}, {"a": 5.0}, True),
    ({"a": [5]}, {"a": "5"}, False),
    ({"a": ["5"]}, {"a": 5}, False),
    ({"a": [None]}, {"a": None}, True),
    ({"a": [None]}, {}, False),
    ({"a": [""]}, {"a": ""}, True),
    ({"a": [True]}, {"a": True}, True),
    ({"a": [True]}, {"a": 1}, False),
    ({"a": ["x"]}, {"a": ["q", "x"]}, True),  # arrays match when any element does
    ({"a": {"b": ["x"]}}, {"a": {"b": "x"}}, True),
    ({"a": {"b": ["x"]}}, {"a": [{"b": "y"}, {"b": "x"}]}, True),
    ({"a": {"b": ["x"]}}, {"a": "x"}, False),
    ({"a": ["x"], "b": ["y"]}, {"a": "x", "b": "y"}, True),
    ({"a": ["x"], "b": ["y"]}, {"a": "x", "b": "z"}, False),
    ({"a": [{"prefix": "us-"}]}, {"a": "us-east-1"}, True),
    ({"a": [{"prefix": "us-"}]}, {"a": "eu-west-1"}, False),
    ({"a": [{"prefix": {"equals-ignore-case": "US-"}}]}, {"a": "us-east-1"}, True),
    ({"a": [{"suffix": ".png"}]}, {"a": "cat.png"}, True),
    ({"a": [{"suffix": ".png"}]}, {"a": 5}, False),
    ({"a": [{"equals-ignore-case": "Alice"}]}, {"a": "aLiCe"}, True),
    ({"a": [{"anything-but": ["Raining"]}]}, {"a": "Sunny"}, True),
    ({"a": [{"anything-but": ["Raining"]}]}, {"a": "Raining"}, False),
    ({"a": [{"anything-but": "Raining"}]}, {}, False),  # a missing field matches only exists:false
    ({"a": [{"anything-but": [1, 2]}]}, {"a": 3}, True),
    ({"a": [{"anything-but": {"prefix": "tmp-"}}]}, {"a": "tmp-1"}, False),
    ({"a": [{"anything-but": {"prefix": "tmp-"}}]}, {"a": "real"}, True),
    ({"a": [{"numeric": ["=", 100]}]}, {"a": 100}, True),
    ({"a": [{"numeric": [">", 10, "<=", 20]}]}, {"a": 20}, True),
    ({"a": [{"numeric": [">", 10, "<=", 20]}]}, {"a": 10}, False),
    ({"a": [{"numeric": [">", 10]}]}, {"a": "11"}, False),
    ({"a": [{"exists": True}]}, {"a": 1}, True),
    ({"a": [{"exists": True}]}, {"a": None}, True),
    ({"a": [{"exists": True}]}, {}, False),
    ({"a": [{"exists": True}]}, {"a": {"b": 1}}, False),  # exists works on leaves only
    ({"a": [{"exists": False}]}, {}, True),
    ({"a": [{"exists": False}]}, {"a": 1}, False),
    ({"a": {"b": [{"exists": False}]}}, {}, True),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.0.7"}, True),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.1.7"}, False),
    ({"$or": [{"a": ["x"]}, {"b": ["y"]}]}, {"b": "y"}, True),
    ({"$or": [{"a": ["x"]}, {"b": ["y"]}]}, {"c": "z"}, False),
    ({"k": ["v"], "$or": [{"a": ["x"]}, {"b": ["y"]}]}, {"k": "v", "a": "x"}, True),
])
def test_rules(pattern: dict[str, Any], record: Any, expected: bool) -> None:
    assert match(pattern, record) is expected


@pytest.mark.parametrize("text", [
    "not json", "[]", "{}", '{"a": "x"}', '{"a": []}', '{"a": [{"prefix": 1}]}', '{"a": [{"unknown": 1}]}',
    '{"a": [{"numeric": [">", "x"]}]}', '{"a": [{"numeric": ["<", 5, ">", 1]}]}', '{"a": [{"numeric": ["!", 1]}]}',
    '{"a": [{"exists": "yes"}]}', '{"a": [{"anything-but": []}]}', '{"a": [{"anything-but": {"x": "y"}}]}',
    '{"$or": [{"a": ["x"]}]}', '{"a": [{"cidr": "nope"}]}', '{"a": [{"prefix": "x", "suffix": "y"}]}',
])
def test_invalid_patterns_are_refused(text: str) -> None:
    with pytest.raises(FilterPatternError):
        parse_pattern(text)


def test_filters_are_ored_and_none_lets_everything_through() -> None:
    patterns = [parse_pattern('{"a": ["x"]}'), parse_pattern('{"a": ["y"]}')]
    assert matches_any(patterns, {"a": "y"})
    assert not matches_any(patterns, {"a": "z"})
    assert matches_any([], {"anything": 1})


def test_sqs_bodies_match_as_json_objects_or_as_text() -> None:
    json_body = filter_view({"body": '{"RequestCode": "BBBB", "n": 10000}', "messageId": "1"})
    text_body = filter_view({"body": "hello world", "messageId": "2"})
    assert match({"body": {"RequestCode": ["BBBB"]}}, json_body)
    assert match({"body": {"n": [{"numeric": [">", 9999]}]}}, json_body)
    assert not match({"body": {"RequestCode": ["BBBB"]}}, text_body)  # JSON pattern, plain body: dropped
    assert match({"body": [{"prefix": "hello"}]}, text_body)
    assert not match({"body": ["hello world"]}, json_body)  # plain pattern, JSON body: dropped


# -- properties -------------------------------------------------------------------------------------

scalars = st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.booleans(), st.none())
# "$or" is the pattern language's one reserved key: a record field of that name cannot be matched by name.
records = st.dictionaries(st.text(min_size=1, max_size=5).filter(lambda key: key != "$or"), scalars, min_size=1,
                          max_size=5)


@given(records)
def test_a_record_matches_the_pattern_made_of_its_own_values(record: dict[str, Any]) -> None:
    assert match({key: [value] for key, value in record.items()}, record)


@given(records, st.data())
def test_anything_but_a_value_never_matches_it(record: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(record)))
    value = record[key]
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        assert not match({key: [{"anything-but": [value]}]}, record)


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-60, 60))
def test_numeric_ranges_agree_with_comparison(low: int, high: int, number: int) -> None:
    if low > high:
        low, high = high, low
    assert match({"n": [{"numeric": [">=", low, "<", high]}]}, {"n": number}) is (low <= number < high)


@given(st.text(max_size=10), st.text(max_size=4))
def test_prefix_and_suffix_agree_with_str(text: str, affix: str) -> None:
    assert match({"s": [{"prefix": affix}]}, {"s": text}) is text.startswith(affix)
    assert match({"s": [{"suffix": affix}]}, {"s": text}) is text.endswith(affix)
