"""FunctionName in every form AWS accepts, and the refusals, asked more than once (answers are memoised)."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidParameterValueException, ResourceNotFoundException
from lamina.services.lambda_.shapes import resolve_function

ACCOUNT = "123456789012"


@pytest.mark.parametrize(("value", "expected"), [
    ("my-fn", ("us-east-1", "my-fn", None)),
    ("my-fn:live", ("us-east-1", "my-fn", "live")),
    (f"{ACCOUNT}:function:my-fn", ("us-east-1", "my-fn", None)),
    (f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:my-fn:$LATEST", ("eu-west-1", "my-fn", "$LATEST")),
])
def test_every_form_resolves_the_same_each_time(value: str, expected: tuple[str, str, str | None]) -> None:
    assert resolve_function(value, "us-east-1", ACCOUNT) == expected
    assert resolve_function(value, "us-east-1", ACCOUNT) == expected


def test_the_region_and_account_asked_in_are_part_of_the_answer() -> None:
    assert resolve_function("fn", "us-east-1", ACCOUNT) == ("us-east-1", "fn", None)
    assert resolve_function("fn", "ap-south-1", ACCOUNT) == ("ap-south-1", "fn", None)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
    assert resolve_function(arn, "us-east-1", ACCOUNT)[1] == "fn"
    with pytest.raises(ResourceNotFoundException, match="Function not found"):
        resolve_function(arn, "us-east-1", "210987654321")


def test_refusals_are_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(InvalidParameterValueException, match="Invalid function name or ARN: no spaces"):
            resolve_function("no spaces", "us-east-1", ACCOUNT)
