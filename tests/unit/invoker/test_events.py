"""The async engine on a real SQLite store, real SQS queues and a FakeClock; the function is a
scripted stand-in for the invoker (unit level: the real invoker is exercised by the integration
suite)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lamina.clock import FakeClock
from lamina.errors import ServiceException, TooManyRequestsException
from lamina.invoker.event_config import EventInvokeConfig, EventInvokeConfigs
from lamina.invoker.events import AsyncInvoker
from lamina.invoker.invoker import InvokeResult
from lamina.observability.report import Report
from lamina.registry.model import Code, FunctionVersion, State
from lamina.services.sqs.queues import QueueManager
from lamina.store.db import Store
from lamina.store.events import EventStore
from lamina.store.queues import QueueStore

REGION, ACCOUNT = "us-east-1", "000000000000"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
RECORDS = f"arn:aws:sqs:{REGION}:{ACCOUNT}:records"


def function(name: str, dlq: str | None = DLQ) -> FunctionVersion:
    return FunctionVersion(region=REGION, account_id=ACCOUNT, name=name, runtime="python3.12", handler="app.h",
                           role="r", code=Code("", "", 0), revision_id="1", last_modified="", state=State.ACTIVE,
                           dead_letter_target=dlq)


@dataclass
class ScriptedFunction:
    """Answers each attempt with the next scripted outcome: "ok", "error", "throttle" or "system"."""

    script: list[str]
    calls: list[tuple[str, str, bytes, float]] = field(default_factory=list)
    clock: FakeClock | None = None

    async def invoke(self, fn: FunctionVersion, payload: bytes, *, request_id: str | None = None,
                     invoked_arn: str | None = None) -> InvokeResult:
        assert request_id is not None and self.clock is not None
        self.calls.append((fn.name, request_id, payload, self.clock.time()))
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "throttle":
            raise TooManyRequestsException("Rate Exceeded.", fields={"Reason": "ReservedFunctionConcurrentInvocation"
                                                                               "LimitExceeded"})
        if outcome == "system":
            raise ServiceException("environment failed to start")
        failed = outcome == "error"
        body = json.dumps({"errorMessage": "boom", "errorType": "ValueError"} if failed else {"echo": "done"})
        return InvokeResult(request_id, body.encode(), fn.version, "Unhandled" if failed else None, "",
                            Report(request_id, fn.version, 1.0, 128, 30))


class Harness:
    def __init__(self, path: Path) -> None:
        self.store = Store(f"sqlite:///{path / 'lamina.db'}")
        self.store.migrate()
        self.clock = FakeClock()
        self.functions = {name: function(name) for name in ("f", "g")}

    def run(self, scenario: Callable[[AsyncInvoker, QueueManager, EventInvokeConfigs], Awaitable[None]],
            function: ScriptedFunction, scale: float = 1.0) -> None:
        function.clock = self.clock

        async def main() -> None:
            queues = QueueManager(QueueStore(self.store), self.clock)
            await queues.start()
            for name in ("dlq", "records"):
                await queues.create_queue(REGION, ACCOUNT, name)
            configs = EventInvokeConfigs(EventStore(self.store))
            configs.load()
            engine = AsyncInvoker(EventStore(self.store), queues, configs, function,
                                  lambda region, name, qualifier: self.functions.get(name), self.clock, scale=scale)
            await engine.start(background=False)
            try:
                await scenario(engine, queues, configs)
            finally:
                await engine.close()
                await queues.close()

        asyncio.run(main())

    async def advance(self, engine: AsyncInvoker, seconds: float) -> None:
        self.clock.advance(seconds)
        await engine.run_due()


async def messages(queues: QueueManager, arn: str) -> list[Any]:
    received = await queues.receive(arn, max_messages=10, wait_seconds=0)
    return [r.message for r in received]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_function_error_retries_twice_then_dead_letters_and_reports_failure(harness: Harness) -> None:
    function = ScriptedFunction(["error", "error", "error"])

    async def scenario(engine: AsyncInvoker, queues: QueueManager, configs: EventInvokeConfigs) -> None:
        await configs.put(EventInvokeConfig(REGION, "f", "$LATEST", on_failure=RECORDS))
        await engine.enqueue(REGION, "f", None, b'{"order": 7}', "req-1")
        await engine.run_due()
        assert len(function.calls) == 1
        await harness.advance(engine, 59)
        assert len(function.calls) == 1  # the first retry waits a minute
        await harness.advance(engine, 1)
        assert len(function.calls) == 2
        await harness.advance(engine, 119)
        assert len(function.calls) == 2  # the second waits two more
        await harness.advance(engine, 1)
        assert len(function.calls) == 3
        assert {call[1] for call in function.calls} == {"req-1"}  # one request id for every attempt
        assert engine.pending() == 0
        (dead,) = await messages(queues, DLQ)
        assert dead.body == '{"order": 7}'
        assert dead.attributes == {
            "RequestID": {"DataType": "String", "StringValue": "req-1"},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
        }
        (record,) = await messages(queues, RECORDS)
        body = json.loads(record.body)
        assert body["requestContext"] == {"requestId": "req-1", "condition": "RetriesExhausted",
                                          "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:$LATEST",
                                          "approximateInvokeCount": 3}
        assert body["requestPayload"] == {"order": 7}
        assert body["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                           "functionError": "Unhandled"}
        assert body["responsePayload"]["errorMessage"] == "boom"

    harness.run(scenario, function)


def test_throttles_back_off_until_the_maximum_age_then_event_age_exceeded(harness: Harness) -> None:
    function = ScriptedFunction(["throttle"] * 100)

    async def scenario(engine: AsyncInvoker, queues: QueueManager, configs: EventInvokeConfigs) -> None:
        await configs.put(EventInvokeConfig(REGION, "f", "$LATEST", maximum_event_age_s=60, on_failure=RECORDS))
        await engine.enqueue(REGION, "f", "", b"{}", "req-2")
        start = harness.clock.time()
        await engine.run_due()
        for _ in range(70):
            await harness.advance(engine, 1)
        attempts = [call[3] - start for call in function.calls]
        assert attempts == [0, 1, 3, 7, 15, 31]  # 1 s, doubling: the next one would be past 60 s
        assert engine.pending() == 0
        (record,) = await messages(queues, RECORDS)
        body = json.loads(record.body)
        assert body["requestContext"]["condition"] == "EventAgeExceeded"
        assert body["requestContext"]["approximateInvokeCount"] == 0  # it never ran
        assert "responseContext" not in body
        (dead,) = await messages(queues, DLQ)
        assert dead.attributes["ErrorCode"]["StringValue"] == "429"

    harness.run(scenario, function)


def test_success_goes_to_the_on_success_destination_and_a_lambda_destination_is_invoked(harness: Harness) -> None:
    function = ScriptedFunction(["system", "ok", "ok"])

    async def scenario(engine: AsyncInvoker, queues: QueueManager, configs: EventInvokeConfigs) -> None:
        g_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:g"
        await configs.put(EventInvokeConfig(REGION, "f", "$LATEST", on_success=g_arn, on_failure=RECORDS))
        await engine.enqueue(REGION, "f", None, b'{"n": 1}', "req-3")
        await engine.run_due()
        assert [c[0] for c in function.calls] == ["f"]  # a system error: retried after 1 s
        await harness.advance(engine, 1)
        assert [c[0] for c in function.calls] == ["f", "f", "g"]
        record = json.loads(function.calls[2][2])
        assert function.calls[2][1] != "req-3"  # the destination invocation is a new request
        assert record["requestContext"]["condition"] == "Success"
        assert record["requestContext"]["approximateInvokeCount"] == 1
        assert record["responsePayload"] == {"echo": "done"}
        assert await messages(queues, RECORDS) == [] and await messages(queues, DLQ) == []
        assert engine.pending() == 0

    harness.run(scenario, function)


def test_maximum_retry_attempts_zero_and_no_dead_letter_queue(harness: Harness) -> None:
    harness.functions["f"] = function("f", dlq=None)
    function_ = ScriptedFunction(["error"])

    async def scenario(engine: AsyncInvoker, queues: QueueManager, configs: EventInvokeConfigs) -> None:
        await configs.put(EventInvokeConfig(REGION, "f", "$LATEST", maximum_retry_attempts=0))
        await engine.enqueue(REGION, "f", None, b"{}", "req-4")
        await harness.advance(engine, 600)
        assert len(function_.calls) == 1 and engine.pending() == 0
        assert await messages(queues, DLQ) == []

    harness.run(scenario, function_)


def test_events_survive_an_engine_that_never_closed(harness: Harness) -> None:
    """A crash: the first engine stops without closing; a new one on the same store resumes the
    events, retry counters included."""
    first = ScriptedFunction(["error"])

    async def crashed() -> None:
        queues = QueueManager(QueueStore(harness.store), harness.clock)
        await queues.start()
        for name in ("dlq", "records"):
            await queues.create_queue(REGION, ACCOUNT, name)
        first.clock = harness.clock
        engine = AsyncInvoker(EventStore(harness.store), queues, EventInvokeConfigs(EventStore(harness.store)), first,
                              lambda r, n, q: harness.functions.get(n), harness.clock)
        await engine.start(background=False)
        await engine.enqueue(REGION, "f", None, b'{"a": 1}', "req-5")
        await engine.enqueue(REGION, "gone", None, b"{}", "req-6")
        await engine.run_due()  # req-5 fails once; req-6's function does not exist: dropped
        await queues.close()  # the engine is abandoned mid-flight, as kill -9 leaves it

    asyncio.run(crashed())
    second = ScriptedFunction(["error", "error"])

    async def scenario(engine: AsyncInvoker, queues: QueueManager, configs: EventInvokeConfigs) -> None:
        assert engine.pending() == 1
        await harness.advance(engine, 60)
        assert [c[1] for c in second.calls] == ["req-5"]
        await harness.advance(engine, 120)
        assert [c[1] for c in second.calls] == ["req-5", "req-5"]  # two more: three attempts in all
        assert engine.pending() == 0
        assert len(await messages(queues, DLQ)) == 1

    harness.run(scenario, second)
