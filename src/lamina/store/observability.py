"""Tables and SQL of observability: log groups, streams and events, CloudWatch metric minutes (usage
records are in :mod:`lamina.store.usage`).

Every call is synchronous, short and batched by the caller (a background flusher or an API call run
in a worker thread); the invoke path never reaches here. Log events are stored one row per
*chunk*: the invocation records of one stream written by one flush are one row (split into one
event per line when read, each line with its own time), so the log store's cost grows with flushes
and streams, not with invocations or lines. A PutLogEvents event is a chunk of one event
(``lines = 0``: never split, its message may hold newlines).

The hot inserts go to the driver's ``executemany`` with plain tuples:
SQLAlchemy's per-row parameter processing would cost more than the insert itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from lamina.store.db import Store, delete_many, insert_many
from lamina.store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")   # SQLite autoincrements only INTEGER PRIMARY KEY


class LogGroupRow(Base):
    __tablename__ = "log_groups"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kms_key_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    log_group_class: Mapped[str] = mapped_column(String(32))
    tags: Mapped[str] = mapped_column(Text)


class LogStreamRow(Base):
    __tablename__ = "log_streams"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    group: Mapped[str] = mapped_column(String(512), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    first_event_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_event_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_ingestion_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stored_bytes: Mapped[int] = mapped_column(BigInteger)


class LogChunkRow(Base):
    """Events of one stream sharing one timestamp: an invocation's log text, or one put event."""

    __tablename__ = "log_chunks"
    __table_args__ = (Index("ix_log_chunks_group_time", "region", "group", "timestamp_ms", "id"),
                      Index("ix_log_chunks_stream", "region", "group", "stream", "id"))

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(32))
    group: Mapped[str] = mapped_column(String(512))
    stream: Mapped[str] = mapped_column(String(512))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    ingestion_ms: Mapped[int] = mapped_column(BigInteger)
    #: 1 or more: ``text`` is that many lines, one event each; 0: one event, never split.
    lines: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    #: The latest event time in the chunk (None: every event is at ``timestamp_ms``).
    last_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Line times as JSON ``[[ms, line count], ...]`` in line order (None: all at ``timestamp_ms``).
    times: Mapped[str | None] = mapped_column(Text, nullable=True)


class MetricMinuteRow(Base):
    """One minute of one CloudWatch metric series, as a statistic set."""

    __tablename__ = "metric_minutes"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: The dimensions as a JSON list of [name, value] pairs sorted by name.
    dimensions: Mapped[str] = mapped_column(Text, primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    unit: Mapped[str] = mapped_column(String(32))
    count: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)


LOG_GROUPS = cast(Table, LogGroupRow.__table__)
LOG_STREAMS = cast(Table, LogStreamRow.__table__)
LOG_CHUNKS = cast(Table, LogChunkRow.__table__)
METRIC_MINUTES = cast(Table, MetricMinuteRow.__table__)


CHUNK_COLUMNS = ("region", "group", "stream", "timestamp_ms", "ingestion_ms", "lines", "text", "last_ms", "times")


@dataclass(frozen=True, slots=True)
class Chunk:
    id: int
    stream: str
    timestamp_ms: int
    ingestion_ms: int
    lines: int
    text: str
    last_ms: int | None = None
    times: str | None = None


STREAM_COLUMNS = ("region", "group", "name", "created_ms", "first_event_ms", "last_event_ms", "last_ingestion_ms",
                  "stored_bytes")


def _chunk(row: Any) -> Chunk:
    return Chunk(row.id, row.stream, row.timestamp_ms, row.ingestion_ms, row.lines, row.text, row.last_ms, row.times)


class LogTables:
    """SQL of CloudWatch Logs. Groups and streams are small and read whole at start."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def groups(self) -> list[dict[str, Any]]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(LOG_GROUPS)).mappings().all()
        return [{**row, "tags": json.loads(row["tags"])} for row in rows]

    def streams(self) -> list[dict[str, Any]]:
        with self._engine.connect() as connection:
            return [dict(row) for row in connection.execute(select(LOG_STREAMS)).mappings()]

    def put_group(self, group: dict[str, Any]) -> None:
        table = LOG_GROUPS
        with self._engine.begin() as connection:
            connection.execute(delete(table).where(table.c.region == group["region"], table.c.name == group["name"]))
            connection.execute(insert(table), [{**group, "tags": json.dumps(group["tags"])}])

    def drop_group(self, region: str, name: str) -> None:
        with self._engine.begin() as connection:
            for table, column in ((LOG_CHUNKS, "group"), (LOG_STREAMS, "group"),
                                  (LOG_GROUPS, "name")):
                connection.execute(delete(table).where(table.c.region == region, table.c[column] == name))

    def drop_stream(self, region: str, group: str, name: str) -> None:
        with self._engine.begin() as connection:
            for table, column in ((LOG_CHUNKS, "stream"), (LOG_STREAMS, "name")):
                connection.execute(delete(table).where(table.c.region == region, table.c.group == group,
                                                       table.c[column] == name))

    def append(self, chunks: Sequence[tuple[Any, ...]], streams: Iterable[dict[str, Any]],
               groups: Iterable[dict[str, Any]] = ()) -> None:
        """Insert ``chunks`` (tuples in :data:`CHUNK_COLUMNS` order) and write the new state of the
        streams (and groups) they touched, in one transaction."""
        stream_table, group_table = LOG_STREAMS, LOG_GROUPS
        streams, groups = list(streams), list(groups)
        with self._engine.begin() as connection:
            for group in groups:
                connection.execute(delete(group_table).where(group_table.c.region == group["region"],
                                                             group_table.c.name == group["name"]))
            if groups:
                connection.execute(insert(group_table), [{**g, "tags": json.dumps(g["tags"])} for g in groups])
            if streams:
                # Every flush rewrites the streams it touched: keep it to two driver-level statements.
                delete_many(connection, stream_table, ("region", "group", "name"),
                             [(st["region"], st["group"], st["name"]) for st in streams])
                insert_many(connection, stream_table, STREAM_COLUMNS, [tuple(st[c] for c in STREAM_COLUMNS)
                                                                       for st in streams])
            if chunks:
                insert_many(connection, LOG_CHUNKS, CHUNK_COLUMNS, chunks)

    def chunks(self, region: str, group: str, *, streams: Sequence[str] | None = None,
               start_ms: int | None = None, end_ms: int | None = None,
               after: tuple[int, int] | None = None, limit: int = 500) -> list[Chunk]:
        """Chunks of a group holding events in [start_ms, end_ms], in (timestamp, id) order, after the
        (timestamp, id) cursor ``after``."""
        table = LOG_CHUNKS
        query = select(table).where(table.c.region == region, table.c.group == group)
        if streams is not None:
            query = query.where(table.c.stream.in_(list(streams)))
        if start_ms is not None:
            query = query.where(func.coalesce(table.c.last_ms, table.c.timestamp_ms) >= start_ms)
        if end_ms is not None:
            query = query.where(table.c.timestamp_ms <= end_ms)
        if after is not None:
            query = query.where(or_(table.c.timestamp_ms > after[0],
                                    and_(table.c.timestamp_ms == after[0], table.c.id > after[1])))
        query = query.order_by(table.c.timestamp_ms, table.c.id).limit(limit)
        with self._engine.connect() as connection:
            return [_chunk(row) for row in connection.execute(query)]

    def stream_chunks(self, region: str, group: str, stream: str, *, start_ms: int | None, end_ms: int | None,
                      after_id: int | None = None, before_id: int | None = None, backward: bool = False,
                      limit: int = 500) -> list[Chunk]:
        """Chunks of one stream holding events in [start_ms, end_ms) by id, ascending (or descending
        when ``backward``)."""
        table = LOG_CHUNKS
        query = select(table).where(table.c.region == region, table.c.group == group, table.c.stream == stream)
        if start_ms is not None:
            query = query.where(func.coalesce(table.c.last_ms, table.c.timestamp_ms) >= start_ms)
        if end_ms is not None:
            query = query.where(table.c.timestamp_ms < end_ms)
        if after_id is not None:
            query = query.where(table.c.id >= after_id)
        if before_id is not None:
            query = query.where(table.c.id <= before_id)
        query = query.order_by(table.c.id.desc() if backward else table.c.id).limit(limit)
        with self._engine.connect() as connection:
            return [_chunk(row) for row in connection.execute(query)]

    def expire(self, region: str, group: str, before_ms: int) -> int:
        table = LOG_CHUNKS
        with self._engine.begin() as connection:
            result = connection.execute(delete(table).where(
                table.c.region == region, table.c.group == group,
                func.coalesce(table.c.last_ms, table.c.timestamp_ms) < before_ms))
        return int(result.rowcount or 0)


class MetricTables:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def load(self, since_minute: int) -> list[dict[str, Any]]:
        table = METRIC_MINUTES
        with self._engine.connect() as connection:
            rows = connection.execute(select(table).where(table.c.minute >= since_minute)).mappings()
            return [dict(row) for row in rows]

    def put(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace minute rows (the caller holds each minute's whole statistic set)."""
        table = METRIC_MINUTES
        with self._engine.begin() as connection:
            for row in rows:
                connection.execute(delete(table).where(
                    table.c.region == row["region"], table.c.namespace == row["namespace"],
                    table.c.name == row["name"], table.c.dimensions == row["dimensions"],
                    table.c.minute == row["minute"]))
            if rows:
                connection.execute(insert(table), list(rows))

    def expire(self, before_minute: int) -> None:
        table = METRIC_MINUTES
        with self._engine.begin() as connection:
            connection.execute(delete(table).where(table.c.minute < before_minute))
