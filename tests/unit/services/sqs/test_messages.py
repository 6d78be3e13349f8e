"""Message checks and AWS's digests."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lamina.errors import InvalidMessageContents, InvalidParameterValueException, MissingRequiredParameterException
from lamina.services.sqs import messages as msgs


def reference_md5(attributes: dict[str, dict[str, Any]]) -> str:
    """The digest as the AWS SDK for Java v1 documents and computes it (MessageMD5ChecksumHandler),
    written out independently: length-prefixed UTF-8 fields, a transport byte, names in order."""
    data = bytearray()

    def field(raw: bytes) -> None:
        data.extend(len(raw).to_bytes(4, "big"))
        data.extend(raw)

    for name in sorted(attributes):
        value = attributes[name]
        field(name.encode("utf-8"))
        field(value["DataType"].encode("utf-8"))
        if "StringValue" in value:
            data.append(1)
            field(value["StringValue"].encode("utf-8"))
        else:
            data.append(2)
            field(value["BinaryValue"])
    return hashlib.md5(bytes(data)).hexdigest()


def test_known_digests() -> None:
    # Values SQS itself answered (recorded in moto's and other emulators' test suites).
    assert msgs.md5_of_body("derp") == "58fd9edd83341c29f1aebba81c31e257"
    assert msgs.md5_of_attributes({"timestamp": {"StringValue": "1493147359900", "DataType": "Number"}}) == (
        "235c5c510d26fb653d073faed50ae77c")
    assert msgs.md5_of_attributes({}) is None


_names = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=12)
_values = st.one_of(
    st.builds(lambda t, v: {"DataType": t, "StringValue": v}, st.sampled_from(["String", "Number", "String.x"]),
              st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)),
    st.builds(lambda b: {"DataType": "Binary", "BinaryValue": b}, st.binary(min_size=1, max_size=20)),
)


@given(st.dictionaries(_names, _values, min_size=1, max_size=10))
def test_attribute_digest_matches_the_reference(attributes: dict[str, dict[str, Any]]) -> None:
    assert msgs.md5_of_attributes(attributes) == reference_md5(attributes)


def test_body_checks() -> None:
    assert msgs.check_body("ok \t\n\r 😀") == "ok \t\n\r 😀"
    with pytest.raises(MissingRequiredParameterException, match="parameter MessageBody"):
        msgs.check_body("")
    for bad in ("\x00", "a\x08b", "\ud800", "\ufffe"):
        with pytest.raises(InvalidMessageContents, match="Invalid characters found"):
            msgs.check_body(bad)


@pytest.mark.parametrize(("attributes", "message"), [
    ({"a": {"DataType": "Strin", "StringValue": "x"}}, "You must use only the following supported type prefixes"),
    ({"a": {"DataType": "String"}}, "must contain a non-empty value of type 'String'"),
    ({"a": {"DataType": "String", "StringValue": ""}}, "must contain a non-empty value of type 'String'"),
    ({"a": {"DataType": "Binary"}}, "must contain a non-empty value of type 'Binary'"),
    ({"a": {"DataType": "Number", "StringValue": "1e999"}}, "Can't cast the value"),
    ({"a": {"DataType": "Number", "StringValue": "abc"}}, "Can't cast the value"),
    ({"a": {"StringValue": "x"}}, "must contain a non-empty attribute type"),
    ({"bad name": {"DataType": "String", "StringValue": "x"}}, "attributes name can only contain"),
    ({"AWS.x": {"DataType": "String", "StringValue": "x"}}, "reserved"),
    ({"a..b": {"DataType": "String", "StringValue": "x"}}, "two periods"),
    ({f"a{i}": {"DataType": "String", "StringValue": "x"} for i in range(11)}, "exceeds the allowed maximum [10]"),
])
def test_attribute_checks(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterValueException, match=message.replace("[", r"\[").replace("]", r"\]")):
        msgs.check_attributes(attributes)


def test_valid_attributes_are_kept_without_list_members() -> None:
    checked = msgs.check_attributes({
        "n": {"DataType": "Number.int", "StringValue": "-12.5e3", "StringListValues": []},
        "b": {"DataType": "Binary.gz", "BinaryValue": b"\x01"},
    })
    assert checked == {"n": {"DataType": "Number.int", "StringValue": "-12.5e3"},
                       "b": {"DataType": "Binary.gz", "BinaryValue": b"\x01"}}


def test_system_attributes() -> None:
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}}
    assert msgs.check_system_attributes(trace) == trace
    with pytest.raises(InvalidParameterValueException):
        msgs.check_system_attributes({"Other": {"DataType": "String", "StringValue": "x"}})


def test_size_counts_body_and_attributes() -> None:
    assert msgs.message_size("é", {}) == 2
    assert msgs.message_size("ab", {"n": {"DataType": "String", "StringValue": "xyz"},
                                    "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}) == 2 + 10 + 9


def test_select_attribute_names() -> None:
    attributes = {name: {"DataType": "String", "StringValue": "1"} for name in ("foo.a", "foo.b", "bar")}
    assert msgs.select(attributes, ["All"]) == attributes
    assert msgs.select(attributes, [".*"]) == attributes
    assert set(msgs.select(attributes, ["foo.*"])) == {"foo.a", "foo.b"}
    assert set(msgs.select(attributes, ["bar", "missing"])) == {"bar"}
    assert msgs.select(attributes, []) == {}


def test_storage_round_trip() -> None:
    attributes = {"b": {"DataType": "Binary", "BinaryValue": b"\xff\x00"},
                  "s": {"DataType": "String", "StringValue": "x"}}
    assert msgs.attributes_from_json(msgs.attributes_to_json(attributes)) == attributes
