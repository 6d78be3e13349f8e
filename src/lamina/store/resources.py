"""Documents of small resources (aliases, layer versions, policies) in the ``resources`` table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from lamina.store.db import Store
from lamina.store.models import ResourceRow

ALIAS = "alias"
LAYER = "layer"
POLICY = "policy"
LAYER_POLICY = "layer-policy"
PROVISIONED = "provisioned"


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    region: str
    scope: str
    name: str
    document: dict[str, Any]
    created_at: float


class Resources:
    def __init__(self, store: Store) -> None:
        self._store = store

    def load(self, kind: str) -> list[Resource]:
        with self._store.session() as session:
            rows = session.scalars(select(ResourceRow).where(ResourceRow.kind == kind)
                                   .order_by(ResourceRow.created_at))
            return [Resource(r.kind, r.region, r.scope, r.name, json.loads(r.document), r.created_at)
                    for r in rows]

    def put(self, item: Resource) -> None:
        with self._store.session() as session, session.begin():
            session.merge(ResourceRow(kind=item.kind, region=item.region, scope=item.scope, name=item.name,
                                      document=json.dumps(item.document), created_at=item.created_at))

    def delete(self, kind: str, region: str, scope: str, name: str | None = None) -> None:
        """Delete one document, or every document of ``kind`` in ``scope`` when ``name`` is None."""
        with self._store.session() as session, session.begin():
            query = delete(ResourceRow).where(ResourceRow.kind == kind, ResourceRow.region == region,
                                              ResourceRow.scope == scope)
            if name is not None:
                query = query.where(ResourceRow.name == name)
            session.execute(query)
