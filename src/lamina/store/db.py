"""The only place that talks SQL: SQLite (WAL) by default, PostgreSQL by URL.

Calls are synchronous and short; the service layer runs them in a worker thread so the event loop
never waits on the database. The invoke hot path never calls the store: it reads the registry's
in-memory cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, delete, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from lamina.store.models import FunctionVersionRow

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True, slots=True)
class StoredVersion:
    region: str
    name: str
    version: str
    code_sha256: str
    config: dict[str, Any]
    created_at: float


class Store:
    """Durable state. ``migrate()`` must be called once before use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()

    def load_versions(self) -> list[StoredVersion]:
        with self._sessions() as session:
            rows = session.scalars(select(FunctionVersionRow).order_by(FunctionVersionRow.created_at))
            return [_stored(row) for row in rows]

    def put_version(self, item: StoredVersion) -> None:
        """Insert or replace one function version."""
        with self._sessions.begin() as session:
            session.merge(FunctionVersionRow(
                region=item.region, name=item.name, version=item.version,
                code_sha256=item.code_sha256, config=json.dumps(item.config),
                created_at=item.created_at,
            ))

    def delete_function(self, region: str, name: str, version: str | None = None) -> None:
        """Delete every version of a function, or only ``version``."""
        with self._sessions.begin() as session:
            query = delete(FunctionVersionRow).where(
                FunctionVersionRow.region == region, FunctionVersionRow.name == name)
            if version is not None:
                query = query.where(FunctionVersionRow.version == version)
            session.execute(query)

    def code_in_use(self, code_sha256: str) -> bool:
        with self._sessions() as session:
            found = session.scalars(select(FunctionVersionRow.name).where(
                FunctionVersionRow.code_sha256 == code_sha256).limit(1)).first()
            return found is not None

    def session(self) -> Session:
        return self._sessions()


def _stored(row: FunctionVersionRow) -> StoredVersion:
    return StoredVersion(row.region, row.name, row.version, row.code_sha256,
                         json.loads(row.config), row.created_at)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; NORMAL sync is durable across process crashes
    # (only a power loss can drop the last transactions), which is the guarantee we promise.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def insert_many(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """``INSERT`` straight to the driver's executemany (qmark for SQLite, format for psycopg)."""
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    connection.exec_driver_sql(sql, list(rows))


def delete_many(connection: Connection, table: Table, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    where = " AND ".join(f"{quote(key)} = {mark}" for key in keys)
    connection.exec_driver_sql(f"DELETE FROM {quote(table.name)} WHERE {where}", list(rows))
