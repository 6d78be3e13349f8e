"""Reserved concurrency and throttling with AWS's reasons."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import Server, create_python_function

SLOW = "import time\ndef handler(e, c):\n    time.sleep(1)\n    return 'done'\n"


def test_reserved_concurrency_caps_a_function(server: Server, lambda_client: Any) -> None:
    name = create_python_function(lambda_client, SLOW, Timeout=10)
    # No retries: a throttled call retried after the first call's second ends would succeed.
    no_retries = server.client(retries={"max_attempts": 0})
    answer = lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert answer["ReservedConcurrentExecutions"] == 1
    assert lambda_client.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 1
    assert lambda_client.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 1}
    outcomes: list[Any] = []

    def call() -> None:
        try:
            outcomes.append(no_retries.invoke(FunctionName=name)["StatusCode"])
        except no_retries.exceptions.TooManyRequestsException as error:
            outcomes.append(error.response)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(200) == 1
    throttled = [o for o in outcomes if o != 200]
    assert len(throttled) == 2
    for response in throttled:
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    lambda_client.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(FunctionName=name)


def test_zero_reserved_concurrency_disables_a_function(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, "def handler(e, c):\n    return 1\n")
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lambda_client.exceptions.TooManyRequestsException):
        lambda_client.invoke(FunctionName=name)


def test_reserving_must_leave_unreserved_capacity(lambda_client: Any) -> None:
    name = create_python_function(lambda_client, "def handler(e, c):\n    return 1\n")
    before = lambda_client.get_account_settings()["AccountLimit"]
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as refused:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=before[
            "UnreservedConcurrentExecutions"] - 50)
    assert "below its minimum value of [100]" in str(refused.value)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    after = lambda_client.get_account_settings()["AccountLimit"]
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 7
    lambda_client.delete_function(FunctionName=name)
    assert (lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
            == before["UnreservedConcurrentExecutions"])
