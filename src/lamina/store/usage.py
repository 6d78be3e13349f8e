"""Usage records in SQL: every invocation's record, packed by batch, and the daily totals the cost
report reads.

A batch holds the records of one function version, architecture, memory size and day written by
one flush: one row whose ``records`` are fixed-size binary structs (:data:`RECORD`), plus an update
of the daily total it adds to, in one transaction. Writing a second's worth of invocations costs a
handful of statements, not one insert per invocation. The totals keep billed milliseconds x memory
MB as an exact integer, so GB-seconds and cost stay exact.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String, Table, and_, delete, insert, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from lamina.store.db import Store
from lamina.store.models import Base

#: One invocation: request id, started and ended (epoch s), duration ms, billed ms, peak memory MB,
#: init duration ms (NaN: warm), cold start, outcome (an index into :data:`OUTCOMES`).
RECORD = struct.Struct("<36sdddqid?B")
OUTCOMES = ("success", "error", "timeout")
_ID = BigInteger().with_variant(Integer, "sqlite")
_KEY = ("region", "function", "version", "architecture", "day")
_SUMS = ("requests", "mb_ms", "billed_ms", "duration_ms", "cold_starts", "errors")


class UsageBatchRow(Base):
    __tablename__ = "usage_batches"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(32))
    function: Mapped[str] = mapped_column(String(140), index=True)
    version: Mapped[str] = mapped_column(String(16))
    architecture: Mapped[str] = mapped_column(String(16))
    memory_mb: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    records: Mapped[bytes] = mapped_column(LargeBinary)


class UsageDailyRow(Base):
    """One function version and architecture on one UTC day (days since the epoch)."""

    __tablename__ = "usage_daily"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    function: Mapped[str] = mapped_column(String(140), primary_key=True)
    version: Mapped[str] = mapped_column(String(16), primary_key=True)
    architecture: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    #: Sum of billed milliseconds x configured MB: GB-seconds x 1,024,000, exactly.
    mb_ms: Mapped[int] = mapped_column(BigInteger)
    billed_ms: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    cold_starts: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    peak_memory_mb: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)


BATCHES = cast(Table, UsageBatchRow.__table__)
DAILY = cast(Table, UsageDailyRow.__table__)


@dataclass(slots=True)
class Batch:
    """The records of one (region, function, version, architecture, memory MB, day), with their sums."""

    region: str
    function: str
    version: str
    architecture: str
    memory_mb: int
    day: int
    records: list[bytes] = field(default_factory=list)
    billed_ms: int = 0
    duration_ms: float = 0.0
    cold_starts: int = 0
    errors: int = 0
    peak_memory_mb: int = 0

    def add(self, request_id: str, started: float, ended: float, duration_ms: float, billed_ms: int, peak_mb: int,
            init_ms: float | None, cold: bool, outcome: int) -> None:
        self.records.append(RECORD.pack(request_id.encode()[:36], started, ended, duration_ms, billed_ms, peak_mb,
                                        math.nan if init_ms is None else init_ms, cold, outcome))
        self.billed_ms += billed_ms
        self.duration_ms += duration_ms
        self.cold_starts += cold
        self.errors += outcome != 0
        if peak_mb > self.peak_memory_mb:
            self.peak_memory_mb = peak_mb


def unpack(row: Any) -> list[dict[str, Any]]:
    """The records of one stored batch, in the order they were written."""
    found = []
    for request_id, started, ended, duration, billed, peak, init, cold, outcome in RECORD.iter_unpack(row.records):
        found.append({"region": row.region, "function": row.function, "version": row.version,
                      "architecture": row.architecture, "memory_mb": row.memory_mb, "day": row.day,
                      "request_id": request_id.rstrip(b"\0").decode(), "started": started, "ended": ended,
                      "duration_ms": duration, "billed_ms": billed, "peak_memory_mb": peak,
                      "init_ms": None if math.isnan(init) else init, "cold_start": cold, "outcome": OUTCOMES[outcome]})
    return found


class UsageTables:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def write(self, batches: Sequence[Batch]) -> None:
        """Store batches and add them to their daily totals, in one transaction."""
        if not batches:
            return
        totals: dict[tuple[Any, ...], dict[str, Any]] = {}
        for batch in batches:
            key = (batch.region, batch.function, batch.version, batch.architecture, batch.day)
            total = totals.setdefault(key, {"requests": 0, "mb_ms": 0, "billed_ms": 0, "duration_ms": 0.0,
                                            "cold_starts": 0, "errors": 0, "peak_memory_mb": 0, "memory_mb": 0})
            total["requests"] += len(batch.records)
            total["mb_ms"] += batch.billed_ms * batch.memory_mb
            total["billed_ms"] += batch.billed_ms
            total["duration_ms"] += batch.duration_ms
            total["cold_starts"] += batch.cold_starts
            total["errors"] += batch.errors
            total["peak_memory_mb"] = max(total["peak_memory_mb"], batch.peak_memory_mb)
            total["memory_mb"] = max(total["memory_mb"], batch.memory_mb)
        match = or_(*(and_(*(DAILY.c[name] == value for name, value in zip(_KEY, key, strict=True)))
                      for key in totals))
        with self._engine.begin() as connection:
            connection.execute(insert(BATCHES), [
                {"region": b.region, "function": b.function, "version": b.version, "architecture": b.architecture,
                 "memory_mb": b.memory_mb, "day": b.day, "count": len(b.records), "records": b"".join(b.records)}
                for b in batches])
            for row in connection.execute(select(DAILY).where(match)).mappings():
                total = totals[tuple(row[name] for name in _KEY)]
                for name in _SUMS:
                    total[name] += row[name]
                total["peak_memory_mb"] = max(total["peak_memory_mb"], row["peak_memory_mb"])
                total["memory_mb"] = max(total["memory_mb"], row["memory_mb"])
            connection.execute(delete(DAILY).where(match))
            connection.execute(insert(DAILY), [dict(zip(_KEY, key, strict=True)) | total
                                               for key, total in totals.items()])

    def daily(self, since_day: int, until_day: int, region: str | None = None,
              function: str | None = None) -> list[dict[str, Any]]:
        """Daily totals per (region, function, version, architecture, day), in that order."""
        query = select(DAILY).where(DAILY.c.day >= since_day, DAILY.c.day <= until_day)
        if region is not None:
            query = query.where(DAILY.c.region == region)
        if function is not None:
            query = query.where(DAILY.c.function == function)
        query = query.order_by(*(DAILY.c[name] for name in _KEY))
        with self._engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def records(self, function: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """The latest usage records (newest first), of one function or all."""
        query = select(BATCHES).order_by(BATCHES.c.id.desc())
        if function is not None:
            query = query.where(BATCHES.c.function == function)
        found: list[dict[str, Any]] = []
        with self._engine.connect() as connection:
            for row in connection.execute(query):
                found.extend(reversed(unpack(row)))
                if len(found) >= limit:
                    break
        return found[:limit]
