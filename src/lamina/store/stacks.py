"""Deployed stacks in SQL: one JSON document per (region, stack name), written by ``lamina deploy``.

The document is the deploy engine's record of what it created (:mod:`lamina.deploy.state`); the
server stores it without interpreting it beyond the summary :meth:`StackStore.list` reads, so any
client sees the same stacks. Table from migration 0008. Calls are synchronous; the endpoints run
them in a worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from lamina.store.db import Store
from lamina.store.models import Base


class StackRow(Base):
    """One stack's document."""

    __tablename__ = "stacks"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True, slots=True)
class StoredStack:
    region: str
    name: str
    document: dict[str, Any]
    updated_at: float


class StackStore:
    """Get, put, list and delete stack documents."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, region: str, name: str) -> StoredStack | None:
        with self._store.session() as session:
            row = session.get(StackRow, (region, name))
            return None if row is None else _stored(row)

    def put(self, region: str, name: str, document: dict[str, Any], updated_at: float) -> None:
        """Insert or replace the stack's document."""
        with self._store.session() as session, session.begin():
            session.merge(StackRow(region=region, name=name, document=json.dumps(document),
                                   updated_at=updated_at))

    def list(self, region: str) -> list[StoredStack]:
        """The region's stacks by name."""
        with self._store.session() as session:
            rows = session.scalars(select(StackRow).where(StackRow.region == region).order_by(StackRow.name))
            return [_stored(row) for row in rows]

    def delete(self, region: str, name: str) -> bool:
        """Delete the stack's document; False when there was none."""
        with self._store.session() as session, session.begin():
            result = session.execute(delete(StackRow).where(StackRow.region == region, StackRow.name == name))
            return bool(getattr(result, "rowcount", 0))


def _stored(row: StackRow) -> StoredStack:
    return StoredStack(row.region, row.name, json.loads(row.document), row.updated_at)
