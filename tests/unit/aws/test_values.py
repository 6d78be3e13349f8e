"""Scalar wire formats: timestamps, header lists, jsonvalue headers."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.aws import values
from lamina.aws.model import service_model

UTC = datetime.UTC
WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(("fmt", "text"), [
    ("iso8601", "2026-01-02T03:04:05Z"),
    ("rfc822", "Fri, 02 Jan 2026 03:04:05 GMT"),
    ("unixTimestamp", 1767323045),
])
def test_timestamp_formats(fmt: str, text: str | int) -> None:
    assert values.format_timestamp(WHEN, fmt) == text
    assert values.parse_timestamp(str(text), fmt) == WHEN


def test_timestamps_are_read_in_any_format() -> None:
    texts = ("2026-01-02T03:04:05Z", "Fri, 02 Jan 2026 03:04:05 GMT", "1767323045",
             "2026-01-02T04:04:05+01:00")
    for text in texts:
        assert values.parse_timestamp(text, "rfc822") == WHEN
    with pytest.raises(values.ShapeError, match="Cannot deserialize value of type Date from String \"soon\""):
        values.parse_timestamp("soon", "iso8601")


def test_subsecond_timestamps() -> None:
    when = WHEN.replace(microsecond=250000)
    assert values.format_timestamp(when, "unixTimestamp") == 1767323045.25
    assert values.format_timestamp(when, "iso8601") == "2026-01-02T03:04:05.250000Z"
    assert values.format_timestamp(when, "rfc822") == "Fri, 02 Jan 2026 03:04:05 GMT"


def test_header_list_quoting() -> None:
    assert values.split_header_list('a, "b,c", "d\\"e"') == ["a", "b,c", 'd"e']
    assert values.split_header_list("a,b") == ["a", "b"]


# Backslashes are left out: botocore escapes only quotes, so "\\," cannot survive a round trip on the wire.
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\"),
                        min_size=1)
                .map(str.strip).filter(bool), min_size=1, max_size=5))
def test_header_list_roundtrip(items: list[str]) -> None:
    shape = service_model("entityresolution").operation_model("BatchDeleteUniqueId").input_shape \
        .members["uniqueIds"]
    text = values.to_text(shape, items, values.RFC822)
    assert values.from_text(shape, text, "uniqueIds", values.RFC822) == items


def test_jsonvalue_header_roundtrip() -> None:
    shape = service_model("iot-data").operation_model("Publish").input_shape.members["userProperties"]
    text = values.to_text(shape, [{"a": "b"}], values.RFC822)
    assert values.from_text(shape, text, "userProperties", values.RFC822) == [{"a": "b"}]
    with pytest.raises(values.ShapeError):
        values.from_text(shape, "not base64 json!", "userProperties", values.RFC822)
