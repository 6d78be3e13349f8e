"""The account's concurrency limit and a function's scaling rate, set through ``LAMINA_LIMIT_*``.

https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html: functions without reserved
concurrency share the account's unreserved concurrency; an invoke beyond it fails with 429
``TooManyRequestsException``, ``Reason`` ``ConcurrentInvocationLimitExceeded``, and the seconds to wait
in the ``Retry-After`` header (botocore's ``retryAfterSeconds``).
https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html: each function may add only so
many execution environments per 10 seconds; a warm environment's reuse is not limited by it.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    BEACON_CODE,
    Beacon,
    Server,
    create_python_function,
    http_request,
    invoke_json,
    start_server,
)

#: Reports its start to the beacon at ``event["url"]``, then sleeps ``event["sleep"]`` seconds.
SLEEPER = BEACON_CODE + '''
import time


def handler(event, context):
    if event.get("url"):
        beacon(event["url"], request_id=context.aws_request_id)
    time.sleep(event.get("sleep", 0))
    return "done"
'''


def no_retry_client(server: Server) -> Any:
    """A client that sends each request once: botocore would otherwise retry a 429 itself."""
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}, read_timeout=120, connect_timeout=30))


class Burst:
    """``count`` invokes of ``name`` sent together, each from its own thread and client.

    After :meth:`join`, ``outcomes`` holds each invoke's status code (200) or, for a client error,
    botocore's error response.
    """

    def __init__(self, server: Server, name: str, count: int, event: dict[str, Any]) -> None:
        clients = [no_retry_client(server) for _ in range(count)]  # here: making clients is not thread-safe
        start = threading.Barrier(count)
        self.outcomes: list[Any] = [None] * count

        def call(index: int) -> None:
            from botocore.exceptions import ClientError

            try:
                start.wait(timeout=60)
                answer = clients[index].invoke(FunctionName=name, Payload=json.dumps(event))
                answer["Payload"].read()
                self.outcomes[index] = answer["StatusCode"]
            except ClientError as error:
                self.outcomes[index] = error.response
            except Exception as error:  # reported by the assertions, not as a stray thread exception
                self.outcomes[index] = repr(error)

        self._threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(count)]
        for thread in self._threads:
            thread.start()

    def join(self) -> list[Any]:
        for thread in self._threads:
            thread.join(timeout=120)
            assert not thread.is_alive(), "an invoke did not return within 120 s"
        return self.outcomes


def assert_throttled(response: Any, reason: str) -> None:
    """``response`` is botocore's parse of a 429 TooManyRequestsException with ``reason``."""
    assert isinstance(response, dict), response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429, response
    assert response["Error"]["Code"] == "TooManyRequestsException", response
    assert response["Reason"] == reason, response
    assert response["Type"] == "User", response
    retry_after = response["ResponseMetadata"]["HTTPHeaders"].get("retry-after")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) > 0, response
    # botocore reads the modelled retryAfterSeconds member from that header.
    assert response["retryAfterSeconds"] == retry_after, response


def invocation_path(name: str) -> str:
    return f"/2015-03-31/functions/{name}/invocations"


def test_account_limit_throttles_every_function_beyond_it(tmp_path: Path, beacon: Beacon) -> None:
    server = start_server(tmp_path / "data", env={"LAMINA_LIMIT_CONCURRENT_EXECUTIONS": "2"})
    try:
        client = server.client()
        limit = client.get_account_settings()["AccountLimit"]
        assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (2, 2)
        slow = create_python_function(client, SLEEPER, Timeout=30)
        other = create_python_function(client, SLEEPER, Timeout=30)

        burst = Burst(server, slow, 5, {"url": beacon.url, "sleep": 3})
        # Both admitted invocations are running now (for 3 s): the account is full, for every function.
        beacon.wait(count=2, timeout=60)
        raw = http_request(server, "POST", invocation_path(other), b"{}", {"Content-Type": "application/json"})
        assert raw.status == 429, (raw.status, raw.body)
        assert raw.headers["x-amzn-errortype"].split(":")[0] == "TooManyRequestsException", raw.headers
        assert raw.headers["retry-after"].isdigit() and int(raw.headers["retry-after"]) > 0, raw.headers
        body = raw.json()
        assert body["Reason"] == "ConcurrentInvocationLimitExceeded", body
        assert body["Type"] == "User" and body["message"], body
        with pytest.raises(client.exceptions.TooManyRequestsException) as refused:
            no_retry_client(server).invoke(FunctionName=other, Payload=b"{}")
        assert_throttled(refused.value.response, "ConcurrentInvocationLimitExceeded")

        outcomes = burst.join()
        assert outcomes.count(200) == 2, outcomes
        throttled = [o for o in outcomes if o != 200]
        assert len(throttled) == 3, outcomes
        for response in throttled:
            assert_throttled(response, "ConcurrentInvocationLimitExceeded")
        # A throttled invoke never reached the function.
        assert len(beacon.messages) == 2, beacon.messages

        # The throttles held no slot: the account runs 2 at once again, of either function.
        answer, payload = invoke_json(client, other)
        assert (answer["StatusCode"], payload) == (200, "done")
        assert Burst(server, slow, 2, {"sleep": 1}).join() == [200, 200]
        assert client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 2
    finally:
        server.stop()


def test_account_settings_report_the_configured_limits(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env={"LAMINA_LIMIT_CONCURRENT_EXECUTIONS": "250"})
    try:
        client = server.client()
        settings = client.get_account_settings()
        assert settings["AccountLimit"]["ConcurrentExecutions"] == 250
        assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 250
        assert settings["AccountUsage"]["FunctionCount"] == 0
        first = create_python_function(client, "def handler(e, c):\n    return 1\n")
        second = create_python_function(client, "def handler(e, c):\n    return 1\n")
        # Reservations come out of the configured limit and must leave 100 unreserved.
        client.put_function_concurrency(FunctionName=first, ReservedConcurrentExecutions=150)
        limit = client.get_account_settings()["AccountLimit"]
        assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (250, 100)
        with pytest.raises(client.exceptions.InvalidParameterValueException) as refused:
            client.put_function_concurrency(FunctionName=second, ReservedConcurrentExecutions=1)
        assert "below its minimum value of [100]" in str(refused.value)
        client.put_function_concurrency(FunctionName=first, ReservedConcurrentExecutions=40)
        client.put_function_concurrency(FunctionName=second, ReservedConcurrentExecutions=10)
        settings = client.get_account_settings()
        assert settings["AccountLimit"]["ConcurrentExecutions"] == 250
        assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 200
        assert settings["AccountUsage"]["FunctionCount"] == 2
        client.delete_function_concurrency(FunctionName=first)
        client.delete_function(FunctionName=second)
        assert client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 250
    finally:
        server.stop()


def test_reserved_concurrency_is_carved_out_of_the_account_limit(tmp_path: Path, beacon: Beacon) -> None:
    server = start_server(tmp_path / "data", env={"LAMINA_LIMIT_CONCURRENT_EXECUTIONS": "3",
                                                   "LAMINA_LIMIT_UNRESERVED_MINIMUM": "1"})
    try:
        client = server.client()
        reserved = create_python_function(client, SLEEPER, Timeout=30)
        shared = create_python_function(client, SLEEPER, Timeout=30)
        client.put_function_concurrency(FunctionName=reserved, ReservedConcurrentExecutions=1)
        limit = client.get_account_settings()["AccountLimit"]
        assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (3, 2)

        burst = Burst(server, shared, 3, {"url": beacon.url, "sleep": 3})
        beacon.wait(count=2, timeout=60)
        # The unreserved pool is full; the reserved function still runs in its own share.
        answer, payload = invoke_json(no_retry_client(server), reserved)
        assert (answer["StatusCode"], payload) == (200, "done")
        outcomes = burst.join()
        assert outcomes.count(200) == 2, outcomes
        throttled = [o for o in outcomes if o != 200]
        assert len(throttled) == 1, outcomes
        assert_throttled(throttled[0], "ConcurrentInvocationLimitExceeded")
    finally:
        server.stop()


def test_scaling_rate_limits_new_environments_not_warm_reuse(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env={"LAMINA_LIMIT_SCALE_PER_10S": "2"})
    try:
        client = server.client()
        # The account limit (the default) is not what throttles below.
        assert client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
        name = create_python_function(client, SLEEPER, Timeout=30)
        other = create_python_function(client, SLEEPER, Timeout=30)

        # Five cold invokes at once: two new environments fit in the rate, three do not.
        outcomes = Burst(server, name, 5, {"sleep": 1.5}).join()
        assert outcomes.count(200) == 2, outcomes
        throttled = [o for o in outcomes if o != 200]
        assert len(throttled) == 3, outcomes
        for response in throttled:
            assert_throttled(response, "FunctionInvocationRateLimitExceeded")

        # The two warm environments are reused without taking from the rate (0.2 a second now):
        # six invokes in a row, then two at once, none of them cold.
        for _ in range(6):
            answer, payload = invoke_json(client, name, {}, LogType="Tail")
            assert (answer["StatusCode"], payload) == (200, "done")
            log = base64.b64decode(answer["LogResult"]).decode()
            assert "Init Duration" not in log, log
        assert Burst(server, name, 2, {"sleep": 0.5}).join() == [200, 200]
        # The rate is per function: another function still adds its own two environments.
        assert Burst(server, other, 2, {"sleep": 0.5}).join() == [200, 200]
    finally:
        server.stop()
