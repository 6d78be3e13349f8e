"""Domain objects ⇄ the store's records."""

from __future__ import annotations

from lamina.services.sqs import messages as msgs
from lamina.services.sqs.state import Queue
from lamina.store.queues import DedupRecord, MessageRecord, QueueRecord


def queue_record(queue: Queue) -> QueueRecord:
    return QueueRecord(queue.arn, queue.region, queue.account_id, queue.name, dict(queue.attributes),
                       dict(queue.tags), queue.created_at, queue.modified_at)


def message_record(message: msgs.Message) -> MessageRecord:
    return MessageRecord(
        message.id, message.queue_arn, message.seq, message.body, msgs.attributes_to_json(message.attributes),
        msgs.attributes_to_json(message.system_attributes), message.group_id, message.dedup_id,
        message.sender_id, message.sent_at, message.visible_at, message.receive_count,
        message.first_receive_at, message.dead_letter_source)


def message_from_record(record: MessageRecord) -> msgs.Message:
    return msgs.Message(
        record.id, record.queue_arn, record.seq, record.body, msgs.attributes_from_json(record.attributes),
        msgs.attributes_from_json(record.system_attributes), record.group_id, record.dedup_id,
        record.sender_id, record.sent_at, record.visible_at, record.receive_count, record.first_receive_at,
        record.dead_letter_source)


def dedup_record(queue_arn: str, key: str, message: msgs.Message, expires_at: float) -> DedupRecord:
    return DedupRecord(queue_arn, key, message.id, message.seq, expires_at)
