"""SQS queues, messages and FIFO deduplication ids in SQL.

The queue domain (:mod:`lamina.services.sqs.queues`) keeps its working state in memory and describes
each change as an operation (:data:`QueueOp`); :meth:`QueueStore.apply` writes a list of them in one
transaction, in order, so a caller can batch the changes of many concurrent requests into one commit.
Calls are synchronous; the domain runs them in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from lamina.store.db import Store
from lamina.store.models import SqsDedupRow, SqsMessageRow, SqsQueueRow


@dataclass(frozen=True, slots=True)
class QueueRecord:
    arn: str
    region: str
    account_id: str
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created_at: float
    modified_at: float


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message as stored. ``attributes`` and ``system_attributes`` are JSON-ready mappings."""

    id: str
    queue_arn: str
    seq: int
    body: str
    attributes: dict[str, Any]
    system_attributes: dict[str, Any]
    group_id: str | None
    dedup_id: str | None
    sender_id: str
    sent_at: float
    visible_at: float
    receive_count: int
    first_receive_at: float | None
    dead_letter_source: str | None


@dataclass(frozen=True, slots=True)
class DedupRecord:
    queue_arn: str
    key: str
    message_id: str
    seq: int
    expires_at: float


# --- operations -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PutQueue:
    """Insert or replace a queue."""

    record: QueueRecord


@dataclass(frozen=True, slots=True)
class DropQueue:
    """Delete a queue with its messages and deduplication ids."""

    arn: str


@dataclass(frozen=True, slots=True)
class PutMessage:
    """Insert a new message."""

    record: MessageRecord


@dataclass(frozen=True, slots=True)
class UpdateMessage:
    """A message's delivery state changed (received, visibility changed, moved to a dead-letter queue)."""

    id: str
    queue_arn: str
    visible_at: float
    receive_count: int
    first_receive_at: float | None
    dead_letter_source: str | None


@dataclass(frozen=True, slots=True)
class DropMessages:
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PurgeMessages:
    """Delete every message of a queue (not its deduplication ids, as AWS's purge keeps them)."""

    queue_arn: str


@dataclass(frozen=True, slots=True)
class PutDedup:
    record: DedupRecord


QueueOp = PutQueue | DropQueue | PutMessage | UpdateMessage | DropMessages | PurgeMessages | PutDedup


class QueueStore:
    """SQS state in the store's database (tables from migration 0002)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def load_queues(self) -> list[QueueRecord]:
        with self._store.session() as session:
            rows = session.scalars(select(SqsQueueRow).order_by(SqsQueueRow.created_at))
            return [QueueRecord(row.arn, row.region, row.account_id, row.name, json.loads(row.attributes),
                                json.loads(row.tags), row.created_at, row.modified_at) for row in rows]

    def load_messages(self) -> list[MessageRecord]:
        """Every message, oldest (lowest sequence number) first."""
        with self._store.session() as session:
            rows = session.scalars(select(SqsMessageRow).order_by(SqsMessageRow.seq))
            return [MessageRecord(
                row.id, row.queue_arn, row.seq, row.body, json.loads(row.attributes),
                json.loads(row.system_attributes), row.group_id, row.dedup_id, row.sender_id, row.sent_at,
                row.visible_at, row.receive_count, row.first_receive_at, row.dead_letter_source,
            ) for row in rows]

    def load_dedup(self, now: float) -> list[DedupRecord]:
        """Deduplication ids that have not expired at ``now``."""
        with self._store.session() as session:
            rows = session.scalars(select(SqsDedupRow).where(SqsDedupRow.expires_at > now))
            return [DedupRecord(row.queue_arn, row.key, row.message_id, row.seq, row.expires_at) for row in rows]

    def apply(self, ops: Sequence[QueueOp], now: float) -> None:
        """Write ``ops`` in order in one transaction; all or nothing. ``now`` prunes expired
        deduplication ids."""
        with self._store.session() as session, session.begin():
            for group in _runs(ops):
                _apply_run(session, group, now)


def _runs(ops: Sequence[QueueOp]) -> Iterable[list[QueueOp]]:
    """Consecutive operations of one kind, so inserts and updates go out as one executemany."""
    run: list[QueueOp] = []
    for op in ops:
        if run and type(run[0]) is not type(op):
            yield run
            run = []
        run.append(op)
    if run:
        yield run


def _apply_run(session: Session, run: list[QueueOp], now: float) -> None:
    first = run[0]
    if isinstance(first, PutMessage):
        session.execute(insert(SqsMessageRow), [_message_row(op.record) for op in run
                                                if isinstance(op, PutMessage)])
    elif isinstance(first, UpdateMessage):
        session.execute(update(SqsMessageRow), [
            {"id": op.id, "queue_arn": op.queue_arn, "visible_at": op.visible_at,
             "receive_count": op.receive_count, "first_receive_at": op.first_receive_at,
             "dead_letter_source": op.dead_letter_source}
            for op in run if isinstance(op, UpdateMessage)])
    elif isinstance(first, PutDedup):
        session.execute(delete(SqsDedupRow).where(SqsDedupRow.expires_at <= now))
        for op in run:
            if isinstance(op, PutDedup):
                session.merge(SqsDedupRow(**asdict(op.record)))
    else:
        for op in run:
            _apply_one(session, op)


def _apply_one(session: Session, op: QueueOp) -> None:
    if isinstance(op, PutQueue):
        record = op.record
        session.merge(SqsQueueRow(arn=record.arn, region=record.region, account_id=record.account_id,
                                  name=record.name, attributes=json.dumps(record.attributes),
                                  tags=json.dumps(record.tags), created_at=record.created_at,
                                  modified_at=record.modified_at))
    elif isinstance(op, DropQueue):
        session.execute(delete(SqsMessageRow).where(SqsMessageRow.queue_arn == op.arn))
        session.execute(delete(SqsDedupRow).where(SqsDedupRow.queue_arn == op.arn))
        session.execute(delete(SqsQueueRow).where(SqsQueueRow.arn == op.arn))
    elif isinstance(op, DropMessages):
        if op.ids:
            session.execute(delete(SqsMessageRow).where(SqsMessageRow.id.in_(op.ids)))
    elif isinstance(op, PurgeMessages):
        session.execute(delete(SqsMessageRow).where(SqsMessageRow.queue_arn == op.queue_arn))
    else:  # pragma: no cover - every kind is handled above or in _apply_run
        raise TypeError(f"unknown queue operation {op!r}")


def _message_row(record: MessageRecord) -> dict[str, Any]:
    row = asdict(record)
    row["attributes"] = json.dumps(record.attributes)
    row["system_attributes"] = json.dumps(record.system_attributes)
    return row
