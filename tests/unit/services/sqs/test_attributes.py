"""Queue attribute rules: canonical spelling, ranges, names."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValueException
from lamina.services.sqs import attributes

DLQ = "arn:aws:sqs:us-east-1:123456789012:dlq"


def normalize(values: dict[str, str], fifo: bool = False) -> dict[str, str]:
    return attributes.normalize(values, fifo=fifo, queue_is_fifo=lambda arn: False if arn == DLQ else None)


def test_canonical_spelling() -> None:
    assert normalize({"VisibilityTimeout": " 045 ", "SqsManagedSseEnabled": "TRUE"}) == {
        "VisibilityTimeout": "45", "SqsManagedSseEnabled": "true"}
    assert normalize({"RedrivePolicy": f'{{"maxReceiveCount": "3", "deadLetterTargetArn": "{DLQ}"}}'}) == {
        "RedrivePolicy": f'{{"deadLetterTargetArn":"{DLQ}","maxReceiveCount":3}}'}
    assert normalize({"RedrivePolicy": "", "Policy": ""}) == {"RedrivePolicy": "", "Policy": ""}


@pytest.mark.parametrize(("name", "low", "high"), [(name, *bounds) for name, bounds in attributes.RANGES.items()])
def test_ranges(name: str, low: int, high: int) -> None:
    assert normalize({name: str(low)}) == {name: str(low)}
    assert normalize({name: str(high)}) == {name: str(high)}
    for bad in (str(low - 1), str(high + 1), "1.5", "x", ""):
        with pytest.raises(InvalidAttributeValue, match=f"Invalid value for the parameter {name}."):
            normalize({name: bad})


def test_names() -> None:
    for name in ("QueueArn", "ApproximateNumberOfMessages", "Bogus", "DeduplicationScope"):
        with pytest.raises(InvalidAttributeName, match=f"Unknown Attribute {name}."):
            normalize({name: "1"})
    assert normalize({"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"},
                     fifo=True) == {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
    with pytest.raises(InvalidAttributeValue):
        normalize({"DeduplicationScope": "everything"}, fifo=True)
    with pytest.raises(InvalidAttributeValue):
        normalize({"Policy": "[not a policy"})


def test_queue_names() -> None:
    attributes.check_queue_name("a-b_C9", fifo=False)
    attributes.check_queue_name("x" * 75 + ".fifo", fifo=True)
    for name, fifo in (("", False), ("a b", False), ("x" * 81, False), (".fifo", True), ("x" * 76 + ".fifo", True)):
        with pytest.raises(InvalidParameterValueException):
            attributes.check_queue_name(name, fifo)
