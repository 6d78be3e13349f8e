"""SQLAlchemy table definitions. Alembic migrations in ``migrations/versions`` create them."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class FunctionVersionRow(Base):
    """One version of one function: ``$LATEST`` now, published versions later.

    The configuration is a JSON document (the domain dataclass, serialized) so that adding a
    configuration field needs no migration; the columns are what the store queries by.
    """

    __tablename__ = "function_versions"

    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(140), primary_key=True)
    version: Mapped[str] = mapped_column(String(16), primary_key=True)
    code_sha256: Mapped[str] = mapped_column(String(64), index=True)
    config: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    seq: Mapped[int] = mapped_column(Integer, default=0)
