"""SQLAlchemy table definitions. Alembic migrations in ``migrations/versions`` create them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Integer, String, Text
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


class SqsQueueRow(Base):
    """One SQS queue. Attributes and tags are JSON objects of strings, as the API carries them."""

    __tablename__ = "sqs_queues"

    arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    region: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(80))
    attributes: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    modified_at: Mapped[float] = mapped_column(Float)


class SqsMessageRow(Base):
    """One message, in the queue ``queue_arn`` (a dead-letter move changes it). Times are epoch
    seconds; ``visible_at`` is when it may next be received, ``receive_count`` how often it was."""

    __tablename__ = "sqs_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queue_arn: Mapped[str] = mapped_column(String(256), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)
    attributes: Mapped[str] = mapped_column(Text)
    system_attributes: Mapped[str] = mapped_column(Text)
    group_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    dedup_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sender_id: Mapped[str] = mapped_column(String(128))
    sent_at: Mapped[float] = mapped_column(Float)
    visible_at: Mapped[float] = mapped_column(Float)
    receive_count: Mapped[int] = mapped_column(Integer)
    first_receive_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    dead_letter_source: Mapped[str | None] = mapped_column(String(256), nullable=True)


class SqsDedupRow(Base):
    """A FIFO deduplication id seen in the last five minutes; outlives the message's deletion."""

    __tablename__ = "sqs_dedup"

    queue_arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class ResourceRow(Base):
    """A small resource kept as a JSON document: an alias (scope = function name), a layer version
    (scope = layer name, name = version number), a resource policy (scope = function, name =
    qualifier). Kinds are listed in :mod:`lamina.store.resources`."""

    __tablename__ = "resources"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
