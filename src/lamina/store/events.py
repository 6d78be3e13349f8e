"""Asynchronous invocation in SQL: queued events, the nodes that own them, event invoke configs and
event source mappings (tables from migration 0003).

The async engine (:mod:`lamina.invoker.events`) keeps its working state in memory and describes
each change as an operation (:data:`EventOp`); :meth:`EventStore.apply` writes a list of them in one
transaction, in order, so concurrent Event invokes share one commit. Calls are synchronous; callers
run them in a worker thread.

Leases: every queued event is owned by a node (``owner``), and a node holds its events for as long
as its row in ``async_nodes`` has an unexpired ``lease_until``; renewing that one row renews the
lease of all its events. :meth:`EventStore.claim` moves the events of nodes whose lease expired (or
of every other node, on SQLite, where only one node can run) to the claiming node.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Float, Integer, LargeBinary, String, Table, Text, bindparam, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from lamina.store.db import Store, insert_many
from lamina.store.journal import GroupCommit
from lamina.store.models import Base

log = logging.getLogger(__name__)

# --- tables -----------------------------------------------------------------------------------------


class AsyncEventRow(Base):
    """One accepted Event invocation, until its last attempt is dealt with. ``id`` is the request id
    every attempt carries; times are epoch seconds."""

    __tablename__ = "async_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    region: Mapped[str] = mapped_column(String(32))
    function_name: Mapped[str] = mapped_column(String(140))
    qualifier: Mapped[str] = mapped_column(String(128))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    enqueued_at: Mapped[float] = mapped_column(Float)
    due_at: Mapped[float] = mapped_column(Float)
    invocations: Mapped[int] = mapped_column(Integer)
    function_errors: Mapped[int] = mapped_column(Integer)
    backoff: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(36), index=True)
    #: JSON of the last failed attempt (status, error, response), for the DLQ and OnFailure record.
    last_result: Mapped[str | None] = mapped_column(Text, nullable=True)


class AsyncNodeRow(Base):
    """A node that owns queued events, and until when its lease on them holds."""

    __tablename__ = "async_nodes"

    node_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lease_until: Mapped[float] = mapped_column(Float)


class EventInvokeConfigRow(Base):
    """PutFunctionEventInvokeConfig for one function and qualifier; ``config`` is a JSON object."""

    __tablename__ = "event_invoke_configs"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    function_name: Mapped[str] = mapped_column(String(140), primary_key=True)
    qualifier: Mapped[str] = mapped_column(String(128), primary_key=True)
    config: Mapped[str] = mapped_column(Text)


class EventSourceMappingRow(Base):
    """One event source mapping; ``config`` is the whole mapping as a JSON object."""

    __tablename__ = "event_source_mappings"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    region: Mapped[str] = mapped_column(String(32))
    config: Mapped[str] = mapped_column(Text)


# --- records and operations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: str
    region: str
    function_name: str
    qualifier: str
    payload: bytes
    enqueued_at: float
    due_at: float
    invocations: int
    function_errors: int
    backoff: int
    owner: str
    last_result: str | None = None


@dataclass(frozen=True, slots=True)
class PutEvent:
    """Insert a newly accepted event."""

    record: EventRecord


@dataclass(frozen=True, slots=True)
class UpdateEvent:
    """An attempt failed and another is scheduled."""

    id: str
    due_at: float
    invocations: int
    function_errors: int
    backoff: int
    last_result: str | None


@dataclass(frozen=True, slots=True)
class DropEvent:
    """The event is done (succeeded, or its failure was delivered, or it cannot run any more)."""

    id: str


@dataclass(frozen=True, slots=True)
class PutConfig:
    region: str
    function_name: str
    qualifier: str
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DropConfigs:
    """Delete one qualifier's config, or every config of the function when ``qualifier`` is None."""

    region: str
    function_name: str
    qualifier: str | None = None


@dataclass(frozen=True, slots=True)
class PutMapping:
    uuid: str
    region: str
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DropMapping:
    uuid: str


EventOp = PutEvent | UpdateEvent | DropEvent | PutConfig | DropConfigs | PutMapping | DropMapping


class EventStore:
    """Async-invocation state in the store's database."""

    def __init__(self, store: Store) -> None:
        self._store = store
        #: Only one node can use a SQLite database, so a starting node may take every event at once.
        self.single_node = store.url.startswith("sqlite")

    # --- events and leases ----------------------------------------------------------------------

    def claim(self, node_id: str, lease_until: float, now: float) -> list[EventRecord]:
        """Register (or renew) ``node_id``'s lease, move to it the events of nodes whose lease has
        expired (every other node's when :attr:`single_node`), and return every event it owns."""
        with self._store.session() as session, session.begin():
            session.merge(AsyncNodeRow(node_id=node_id, lease_until=lease_until))
            expired = select(AsyncNodeRow.node_id).where(AsyncNodeRow.node_id != node_id)
            if not self.single_node:
                expired = expired.where(AsyncNodeRow.lease_until < now)
            gone = list(session.scalars(expired))
            if self.single_node:
                session.execute(update(AsyncEventRow).where(AsyncEventRow.owner != node_id).values(owner=node_id))
            elif gone:
                session.execute(update(AsyncEventRow).where(AsyncEventRow.owner.in_(gone)).values(owner=node_id))
            if gone:
                session.execute(delete(AsyncNodeRow).where(AsyncNodeRow.node_id.in_(gone)))
            rows = session.scalars(select(AsyncEventRow).where(AsyncEventRow.owner == node_id)
                                   .order_by(AsyncEventRow.enqueued_at))
            return [_event_record(row) for row in rows]

    def renew(self, node_id: str, lease_until: float) -> None:
        with self._store.session() as session, session.begin():
            session.merge(AsyncNodeRow(node_id=node_id, lease_until=lease_until))

    def release(self, node_id: str) -> None:
        """A clean shutdown: the node's events may be claimed at once by the next node."""
        with self._store.session() as session, session.begin():
            session.execute(update(AsyncNodeRow).where(AsyncNodeRow.node_id == node_id).values(lease_until=0.0))

    def count_events(self) -> int:
        with self._store.session() as session:
            return int(session.scalar(select(func.count()).select_from(AsyncEventRow)) or 0)

    # --- configs and mappings -------------------------------------------------------------------

    def load_configs(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        with self._store.session() as session:
            rows = session.scalars(select(EventInvokeConfigRow))
            return [(row.region, row.function_name, row.qualifier, json.loads(row.config)) for row in rows]

    def load_mappings(self) -> list[dict[str, Any]]:
        with self._store.session() as session:
            return [json.loads(row.config) for row in session.scalars(select(EventSourceMappingRow))]

    # --- writing --------------------------------------------------------------------------------

    def apply(self, ops: Sequence[EventOp]) -> None:
        """Write ``ops`` in order in one transaction; all or nothing."""
        with self._store.session() as session, session.begin():
            for run in _runs(ops):
                _apply_run(session, run)


_EVENTS = cast(Table, AsyncEventRow.__table__)


#: The ``async_events`` columns, named as the fields of :class:`EventRecord`.
_EVENT_COLUMNS = ("id", "region", "function_name", "qualifier", "payload", "enqueued_at", "due_at", "invocations",
                  "function_errors", "backoff", "owner", "last_result")


def _event_record(row: AsyncEventRow) -> EventRecord:
    return EventRecord(row.id, row.region, row.function_name, row.qualifier, row.payload, row.enqueued_at,
                       row.due_at, row.invocations, row.function_errors, row.backoff, row.owner, row.last_result)


def _runs(ops: Sequence[EventOp]) -> Iterable[list[EventOp]]:
    """Consecutive operations of one kind, so inserts and updates go out as one executemany."""
    run: list[EventOp] = []
    for op in ops:
        if run and type(run[0]) is not type(op):
            yield run
            run = []
        run.append(op)
    if run:
        yield run


def _apply_run(session: Session, run: list[EventOp]) -> None:
    first = run[0]
    # Core statements on the table, not ORM bulk operations: this runs once per group commit of the
    # Event invoke path, in a worker thread that shares the interpreter lock with the event loop.
    if isinstance(first, PutEvent):
        # The driver's executemany: SQLAlchemy's per-row processing cost ~20 µs per event, in a
        # thread that shares the interpreter lock with the event loop.
        insert_many(session.connection(), _EVENTS, _EVENT_COLUMNS,
                    [tuple(getattr(op.record, column) for column in _EVENT_COLUMNS) for op in run
                     if isinstance(op, PutEvent)])
    elif isinstance(first, UpdateEvent):
        session.execute(_EVENTS.update().where(_EVENTS.c.id == bindparam("event_id")), [
            {"event_id": op.id, "due_at": op.due_at, "invocations": op.invocations,
             "function_errors": op.function_errors, "backoff": op.backoff, "last_result": op.last_result}
            for op in run if isinstance(op, UpdateEvent)])
    elif isinstance(first, DropEvent):
        session.execute(_EVENTS.delete().where(_EVENTS.c.id.in_([op.id for op in run if isinstance(op, DropEvent)])))
    else:
        for op in run:
            _apply_one(session, op)


def _apply_one(session: Session, op: EventOp) -> None:
    if isinstance(op, PutConfig):
        session.merge(EventInvokeConfigRow(region=op.region, function_name=op.function_name,
                                           qualifier=op.qualifier, config=json.dumps(op.config)))
    elif isinstance(op, DropConfigs):
        query = delete(EventInvokeConfigRow).where(EventInvokeConfigRow.region == op.region,
                                                   EventInvokeConfigRow.function_name == op.function_name)
        if op.qualifier is not None:
            query = query.where(EventInvokeConfigRow.qualifier == op.qualifier)
        session.execute(query)
    elif isinstance(op, PutMapping):
        session.merge(EventSourceMappingRow(uuid=op.uuid, region=op.region, config=json.dumps(op.config)))
    elif isinstance(op, DropMapping):
        session.execute(delete(EventSourceMappingRow).where(EventSourceMappingRow.uuid == op.uuid))
    else:  # pragma: no cover - every kind is handled above or in _apply_run
        raise TypeError(f"unknown event operation {op!r}")


def event_journal(store: EventStore) -> GroupCommit[EventOp]:
    """Group commit of asynchronous-invocation changes (an Event invoke answers 202 only once its
    event is committed)."""
    return GroupCommit(store.apply, "event-journal")

