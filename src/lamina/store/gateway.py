"""HTTP trigger definitions in SQL: function URL configurations and HTTP APIs.

Each row holds one resource as a JSON document (the domain object, serialized); the columns are
what the store looks rows up by. An HTTP API is one document with its routes, integrations and
stages, so every change to it is one row write. Tables come from migration 0004. Calls are
synchronous; the registries run them in a worker thread, and the request path never calls them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from lamina.store.db import Store
from lamina.store.models import Base


class FunctionUrlRow(Base):
    """One function URL configuration; ``qualifier`` is ``""`` for the unqualified function."""

    __tablename__ = "function_url_configs"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    function_name: Mapped[str] = mapped_column(String(140), primary_key=True)
    qualifier: Mapped[str] = mapped_column(String(128), primary_key=True)
    url_id: Mapped[str] = mapped_column(String(64), unique=True)
    document: Mapped[str] = mapped_column(Text)


class HttpApiRow(Base):
    """One HTTP API with everything it contains."""

    __tablename__ = "http_apis"

    api_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    region: Mapped[str] = mapped_column(String(32))
    document: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class StoredApi:
    api_id: str
    region: str
    document: dict[str, Any]


class GatewayStore:
    """Function URL configurations and HTTP APIs in the store's database."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- function URLs ---------------------------------------------------------------------

    def load_function_urls(self) -> list[dict[str, Any]]:
        with self._store.session() as session:
            return [json.loads(row.document) for row in session.scalars(select(FunctionUrlRow))]

    def put_function_url(self, region: str, function_name: str, qualifier: str, url_id: str,
                         document: dict[str, Any]) -> None:
        with self._store.session() as session, session.begin():
            session.merge(FunctionUrlRow(region=region, function_name=function_name, qualifier=qualifier,
                                         url_id=url_id, document=json.dumps(document)))

    def delete_function_urls(self, region: str, function_name: str, qualifier: str | None = None) -> None:
        """Delete one configuration, or (``qualifier`` None) every configuration of the function."""
        with self._store.session() as session, session.begin():
            query = delete(FunctionUrlRow).where(FunctionUrlRow.region == region,
                                                 FunctionUrlRow.function_name == function_name)
            if qualifier is not None:
                query = query.where(FunctionUrlRow.qualifier == qualifier)
            session.execute(query)

    # -- HTTP APIs -------------------------------------------------------------------------

    def load_apis(self) -> list[StoredApi]:
        with self._store.session() as session:
            return [StoredApi(row.api_id, row.region, json.loads(row.document))
                    for row in session.scalars(select(HttpApiRow))]

    def put_api(self, api_id: str, region: str, document: dict[str, Any]) -> None:
        with self._store.session() as session, session.begin():
            session.merge(HttpApiRow(api_id=api_id, region=region, document=json.dumps(document)))

    def delete_api(self, api_id: str) -> None:
        with self._store.session() as session, session.begin():
            session.execute(delete(HttpApiRow).where(HttpApiRow.api_id == api_id))
