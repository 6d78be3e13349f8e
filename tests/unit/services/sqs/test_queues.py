"""QueueManager without a socket: the queue state machine on a FakeClock and a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from lamina.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValueException,
    MissingRequiredParameterException,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
)
from lamina.services.sqs.queues import QueueManager
from lamina.services.sqs.sending import NewMessage, Sent

from .conftest import ACCOUNT, REGION, Env


async def make(qm: QueueManager, name: str, **attributes: str) -> str:
    queue = await qm.create_queue(REGION, ACCOUNT, name, attributes)
    return queue.arn


def count(qm: QueueManager, arn: str) -> tuple[int, int, int]:
    found = qm.queue_attributes(arn, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                      "ApproximateNumberOfMessagesDelayed"])
    return (int(found["ApproximateNumberOfMessages"]), int(found["ApproximateNumberOfMessagesNotVisible"]),
            int(found["ApproximateNumberOfMessagesDelayed"]))


# --- queues -----------------------------------------------------------------------------------------

def test_create_is_idempotent_only_with_the_same_attributes(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        first = await qm.create_queue(REGION, ACCOUNT, "q", {"VisibilityTimeout": "10"})
        assert await qm.create_queue(REGION, ACCOUNT, "q", {"VisibilityTimeout": "10"}) is first
        assert await qm.create_queue(REGION, ACCOUNT, "q") is first  # attributes not given are not compared
        with pytest.raises(QueueNameExists, match="different value for attribute VisibilityTimeout"):
            await qm.create_queue(REGION, ACCOUNT, "q", {"VisibilityTimeout": "11"})
        assert first.arn == f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
        assert [q.name for q in qm.list_queues(REGION, ACCOUNT, "")] == ["q"]
        assert qm.list_queues("eu-west-1", ACCOUNT, "") == []

    env.run(scenario)


def test_queue_names_and_types(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        with pytest.raises(InvalidParameterValueException, match="Can only include alphanumeric"):
            await qm.create_queue(REGION, ACCOUNT, "a.fifo")  # FIFO name without FifoQueue
        with pytest.raises(InvalidParameterValueException, match=r"must end with \.fifo suffix"):
            await qm.create_queue(REGION, ACCOUNT, "plain", {"FifoQueue": "true"})
        with pytest.raises(InvalidParameterValueException):
            await qm.create_queue(REGION, ACCOUNT, "x" * 81)
        with pytest.raises(InvalidAttributeName, match=r"Unknown Attribute ContentBasedDeduplication\."):
            await qm.create_queue(REGION, ACCOUNT, "std", {"ContentBasedDeduplication": "true"})
        fifo = await qm.create_queue(REGION, ACCOUNT, "f.fifo", {"FifoQueue": "TRUE"})
        assert fifo.fifo
        attributes = qm.queue_attributes(fifo.arn, ["All"])
        assert attributes["FifoQueue"] == "true"
        assert attributes["ContentBasedDeduplication"] == "false"
        # Nothing half-created by the refusals above.
        assert [q.name for q in qm.list_queues(REGION, ACCOUNT, "")] == ["f.fifo"]

    env.run(scenario)


def test_attributes(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        every = qm.queue_attributes(arn, ["All"])
        assert every["VisibilityTimeout"] == "30"
        assert every["MaximumMessageSize"] == "1048576"
        assert every["QueueArn"] == arn
        assert "RedrivePolicy" not in every and "FifoQueue" not in every
        assert qm.queue_attributes(arn, ["DelaySeconds"]) == {"DelaySeconds": "0"}
        assert qm.queue_attributes(arn, []) == {}
        with pytest.raises(InvalidAttributeName, match=r"Unknown Attribute Bogus\."):
            qm.queue_attributes(arn, ["Bogus"])
        env.clock.advance(5)
        await qm.set_attributes(arn, {"VisibilityTimeout": "60", "ReceiveMessageWaitTimeSeconds": "2"})
        changed = qm.queue_attributes(arn, ["VisibilityTimeout", "LastModifiedTimestamp", "CreatedTimestamp"])
        assert changed["VisibilityTimeout"] == "60"
        assert int(changed["LastModifiedTimestamp"]) == int(changed["CreatedTimestamp"]) + 5
        for bad in ({"VisibilityTimeout": "43201"}, {"DelaySeconds": "-1"}, {"MaximumMessageSize": "1023"},
                    {"MessageRetentionPeriod": "abc"}, {"FifoQueue": "true"}):
            with pytest.raises(InvalidAttributeValue):
                await qm.set_attributes(arn, bad)
        assert qm.queue_attributes(arn, ["VisibilityTimeout"]) == {"VisibilityTimeout": "60"}

    env.run(scenario)


def test_unknown_queue(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = QueueManager.queue_arn(REGION, ACCOUNT, "missing")
        with pytest.raises(QueueDoesNotExist):
            await qm.send(arn, "x")
        with pytest.raises(QueueDoesNotExist):
            await qm.receive(arn)
        with pytest.raises(QueueDoesNotExist):
            await qm.delete_queue(arn)

    env.run(scenario)


# --- messages ---------------------------------------------------------------------------------------

def test_visibility_timeout_redelivers(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q", VisibilityTimeout="10")
        sent = await qm.send(arn, "hello", sender_id="me")
        assert sent.md5_of_body == "5d41402abc4b2a76b9719d911017c592"
        (first,) = await qm.receive(arn)
        assert (first.message.id, first.receive_count) == (sent.message_id, 1)
        assert await qm.receive(arn) == []
        assert count(qm, arn) == (0, 1, 0)
        env.clock.advance(10)
        (second,) = await qm.receive(arn, visibility_timeout=5)
        assert second.receive_count == 2
        assert second.first_receive_at == first.first_receive_at
        assert second.receipt_handle != first.receipt_handle
        await qm.delete_message(arn, first.receipt_handle)  # stale: succeeds, deletes nothing
        assert count(qm, arn) == (0, 1, 0)
        await qm.delete_message(arn, second.receipt_handle)
        assert count(qm, arn) == (0, 0, 0)
        await qm.delete_message(arn, second.receipt_handle)  # deleting twice is fine

    env.run(scenario)


def test_receipt_handles_are_checked(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        other = await make(qm, "other")
        await qm.send(arn, "x")
        (got,) = await qm.receive(arn)
        for handle in ("garbage", "", got.receipt_handle + "x"):
            with pytest.raises(ReceiptHandleIsInvalid, match="is not a valid receipt handle"):
                await qm.delete_message(arn, handle)
        with pytest.raises(ReceiptHandleIsInvalid):
            await qm.delete_message(other, got.receipt_handle)

    env.run(scenario)


def test_delays(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q", DelaySeconds="5")
        await qm.send(arn, "queue delay")
        await qm.send(arn, "own delay", delay_seconds=0)
        with pytest.raises(InvalidParameterValueException, match="DelaySeconds must be >= 0 and <= 900"):
            await qm.send(arn, "x", delay_seconds=901)
        assert count(qm, arn) == (1, 0, 1)
        assert [r.message.body for r in await qm.receive(arn, max_messages=10)] == ["own delay"]
        env.clock.advance(5)
        assert [r.message.body for r in await qm.receive(arn, max_messages=10)] == ["queue delay"]

    env.run(scenario)


def test_change_visibility(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        await qm.send(arn, "x")
        (got,) = await qm.receive(arn)
        await qm.change_visibility(arn, got.receipt_handle, 0)
        (again,) = await qm.receive(arn, visibility_timeout=43_200)
        assert again.receive_count == 2
        with pytest.raises(InvalidParameterValueException, match="Message does not exist or is not available"):
            await qm.change_visibility(arn, got.receipt_handle, 10)  # stale handle
        with pytest.raises(InvalidParameterValueException, match="Must be >= 0 and <= 43200"):
            await qm.change_visibility(arn, again.receipt_handle, 43_201)
        env.clock.advance(43_000)
        with pytest.raises(InvalidParameterValueException, match="Total VisibilityTimeout"):
            await qm.change_visibility(arn, again.receipt_handle, 300)
        await qm.change_visibility(arn, again.receipt_handle, 100)
        env.clock.advance(100)
        with pytest.raises(InvalidParameterValueException):
            await qm.change_visibility(arn, again.receipt_handle, 10)  # no longer in flight

    env.run(scenario)


def test_redrive_to_dead_letter_queue_on_the_next_receive(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        dlq = await make(qm, "dlq")
        policy = json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": "2"})
        source = await make(qm, "src", RedrivePolicy=policy, VisibilityTimeout="1")
        assert qm.queue_attributes(source, ["RedrivePolicy"])["RedrivePolicy"] == (
            f'{{"deadLetterTargetArn":"{dlq}","maxReceiveCount":2}}')
        sent = await qm.send(source, "poison")
        for attempt in (1, 2):
            (got,) = await qm.receive(source)
            assert got.receive_count == attempt
            env.clock.advance(1)
        assert await qm.receive(source) == []  # the third attempt moves it instead
        assert count(qm, source) == (0, 0, 0)
        (dead,) = await qm.receive(dlq)
        assert dead.message.id == sent.message_id
        assert dead.message.dead_letter_source == source
        assert dead.receive_count == 3
        assert [q.name for q in qm.dead_letter_sources(dlq)] == ["src"]

    env.run(scenario)


def test_redrive_policy_checks(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        fifo_dlq = await make(qm, "d.fifo", FifoQueue="true")
        missing = QueueManager.queue_arn(REGION, ACCOUNT, "missing")
        cases = {
            "not json": "not a valid JSON map",
            json.dumps({"maxReceiveCount": 1}): "mandatory attribute: deadLetterTargetArn",
            json.dumps({"deadLetterTargetArn": fifo_dlq, "maxReceiveCount": 0}): "valid values are from 1 to 1000",
            json.dumps({"deadLetterTargetArn": missing, "maxReceiveCount": 1}): "Dead letter target does not exist",
            json.dumps({"deadLetterTargetArn": fifo_dlq, "maxReceiveCount": 1}): "must match the source queue type",
        }
        for policy, reason in cases.items():
            with pytest.raises((InvalidAttributeValue, InvalidParameterValueException), match=reason):
                await qm.create_queue(REGION, ACCOUNT, "src", {"RedrivePolicy": policy})
        assert [q.name for q in qm.list_queues(REGION, ACCOUNT)] == ["d.fifo"]

    env.run(scenario)


def test_retention_period_drops_old_messages(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q", MessageRetentionPeriod="60")
        await qm.send(arn, "old")
        env.clock.advance(60)
        await qm.send(arn, "new")
        assert [r.message.body for r in await qm.receive(arn, max_messages=10)] == ["new"]
        assert count(qm, arn) == (0, 1, 0)

    env.run(scenario)


def test_batch_sends_the_good_entries_and_answers_the_bad(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q", MaximumMessageSize="1024")
        results = await qm.send_batch(arn, [
            NewMessage("ok"),
            NewMessage("x" * 1025),
            NewMessage("bad attribute", attributes={"n": {"DataType": "Number", "StringValue": "NaN-ish"}}),
            NewMessage(""),
            NewMessage("also ok", delay_seconds=3),
        ])
        assert [type(r).__name__ for r in results] == ["Sent", "InvalidParameterValueException",
                                                        "InvalidParameterValueException",
                                                        "MissingRequiredParameterException", "Sent"]
        assert count(qm, arn) == (1, 0, 1)

    env.run(scenario)


def test_purge_once_a_minute(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        for i in range(3):
            await qm.send(arn, f"m{i}")
        await qm.purge(arn)
        assert count(qm, arn) == (0, 0, 0)
        with pytest.raises(PurgeQueueInProgress, match="Only one PurgeQueue operation on q is allowed"):
            await qm.purge(arn)
        env.clock.advance(60)
        await qm.purge(arn)

    env.run(scenario)


# --- FIFO -------------------------------------------------------------------------------------------

def test_fifo_order_groups_and_blocking(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "f.fifo", FifoQueue="true", ContentBasedDeduplication="true")
        sent = [await qm.send(arn, f"{group}{i}", group_id=group) for i in range(3) for group in "ab"]
        sequence = [int(s.sequence_number or 0) for s in sent]
        assert sequence == sorted(sequence) and len(str(sent[0].sequence_number)) == 20
        first = await qm.receive(arn, max_messages=2)
        assert [r.message.body for r in first] == ["a0", "a1"]  # one group's messages, in order
        second = await qm.receive(arn, max_messages=10)
        assert [r.message.body for r in second] == ["b0", "b1", "b2"]  # group a is blocked
        assert await qm.receive(arn) == []
        await qm.delete_message(arn, first[0].receipt_handle)
        assert await qm.receive(arn) == []  # a1 still in flight
        await qm.delete_message(arn, first[1].receipt_handle)
        assert [r.message.body for r in await qm.receive(arn)] == ["a2"]

    env.run(scenario)


def test_fifo_redelivery_keeps_order_and_stale_handles_fail(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "f.fifo", FifoQueue="true", VisibilityTimeout="5")
        await qm.send(arn, "one", group_id="g", dedup_id="1")
        await qm.send(arn, "two", group_id="g", dedup_id="2")
        (first,) = await qm.receive(arn)
        env.clock.advance(5)
        again = await qm.receive(arn, max_messages=10)
        assert [r.message.body for r in again] == ["one", "two"]
        with pytest.raises(ReceiptHandleIsInvalid, match=r"The receipt handle has expired\."):
            await qm.delete_message(arn, first.receipt_handle)

    env.run(scenario)


def test_fifo_deduplication(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "f.fifo", FifoQueue="true")
        with pytest.raises(MissingRequiredParameterException, match="parameter MessageGroupId"):
            await qm.send(arn, "x", dedup_id="d")
        with pytest.raises(InvalidParameterValueException, match="ContentBasedDeduplication"):
            await qm.send(arn, "x", group_id="g")
        with pytest.raises(InvalidParameterValueException, match="not valid for this queue type"):
            await qm.send(arn, "x", group_id="g", dedup_id="d", delay_seconds=1)
        original = await qm.send(arn, "x", group_id="g", dedup_id="d")
        duplicate = await qm.send(arn, "different body", group_id="g", dedup_id="d")
        assert duplicate.message_id == original.message_id
        assert duplicate.sequence_number == original.sequence_number
        assert count(qm, arn) == (1, 0, 0)
        env.clock.advance(301)
        later = await qm.send(arn, "x", group_id="g", dedup_id="d")
        assert later.message_id != original.message_id
        await qm.set_attributes(arn, {"ContentBasedDeduplication": "true"})
        same = [await qm.send(arn, "body", group_id=g) for g in ("g", "h")]
        assert same[0].message_id == same[1].message_id  # scope "queue": the group does not matter
        assert count(qm, arn) == (3, 0, 0)

    env.run(scenario)


def test_standard_queue_refuses_deduplication_ids(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        with pytest.raises(InvalidParameterValueException, match="MessageDeduplicationId is invalid"):
            await qm.send(arn, "x", dedup_id="d")
        sent = await qm.send(arn, "x", group_id="tenant-1")  # fair queues take a group id
        assert sent.sequence_number is None
        (got,) = await qm.receive(arn)
        assert got.message.group_id == "tenant-1"

    env.run(scenario)


# --- durability and long polling --------------------------------------------------------------------

def test_state_survives_a_restart(env: Env) -> None:
    async def main() -> None:
        async with env.manager() as qm:
            dlq = await make(qm, "dlq")
            arn = await make(qm, "q", VisibilityTimeout="30",
                             RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 5}))
            fifo = await make(qm, "f.fifo", FifoQueue="true")
            await qm.tag(arn, {"team": "core"})
            kept = await qm.send(arn, "kept", attributes={"b": {"DataType": "Binary", "BinaryValue": b"\x00"}})
            gone = await qm.send(arn, "gone")
            received = await qm.receive(arn, max_messages=10)
            await qm.delete_message(arn, next(r.receipt_handle for r in received
                                              if r.message.id == gone.message_id))
            first = await qm.send(fifo, "x", group_id="g", dedup_id="d")
            await qm.delete_queue(dlq)
        async with env.manager() as qm:
            assert [q.name for q in qm.list_queues(REGION, ACCOUNT)] == ["f.fifo", "q"]
            assert qm.get_queue(arn).tags == {"team": "core"}
            assert count(qm, arn) == (0, 1, 0)  # still in flight after the restart
            env.clock.advance(30)
            (again,) = await qm.receive(arn)
            assert (again.message.id, again.receive_count) == (kept.message_id, 2)
            assert again.message.attributes == {"b": {"DataType": "Binary", "BinaryValue": b"\x00"}}
            duplicate = await qm.send(fifo, "x", group_id="g", dedup_id="d")
            assert duplicate.message_id == first.message_id  # deduplication ids are durable too
            later = await qm.send(fifo, "y", group_id="g", dedup_id="e")
            assert int(later.sequence_number or 0) > int(first.sequence_number or 0)

    asyncio.run(main())


def test_long_poll_wakes_on_send(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        started = time.monotonic()
        waiting = asyncio.create_task(qm.receive(arn, wait_seconds=20))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        sent = await qm.send(arn, "wake up")
        (got,) = await asyncio.wait_for(waiting, 5)
        assert got.message.id == sent.message_id
        assert time.monotonic() - started < 5

    env.run(scenario)


def test_long_poll_wakes_on_visibility_change_and_close(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        await qm.send(arn, "x")
        (got,) = await qm.receive(arn)
        waiting = asyncio.create_task(qm.receive(arn, wait_seconds=20))
        await asyncio.sleep(0.05)
        await qm.change_visibility(arn, got.receipt_handle, 0)
        (again,) = await asyncio.wait_for(waiting, 5)
        assert again.receive_count == 2
        idle = asyncio.create_task(qm.receive(arn, wait_seconds=20))
        await asyncio.sleep(0.05)
        await qm.close()
        assert await asyncio.wait_for(idle, 5) == []

    env.run(scenario)


def test_send_results_are_typed(env: Env) -> None:
    async def scenario(qm: QueueManager) -> None:
        arn = await make(qm, "q")
        sent = await qm.send(arn, "x", attributes={"a": {"DataType": "String", "StringValue": "v"}},
                             system_attributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}})
        assert isinstance(sent, Sent)
        assert sent.md5_of_attributes is not None and sent.md5_of_system_attributes is not None

    env.run(scenario)
