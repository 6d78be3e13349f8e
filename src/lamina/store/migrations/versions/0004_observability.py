"""Observability and billing: log groups, streams and event chunks, metric minutes, usage records.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=True),
        sa.Column("kms_key_id", sa.String(256), nullable=True),
        sa.Column("log_group_class", sa.String(32), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
    )
    op.create_table(
        "log_streams",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("group", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("first_event_ms", sa.BigInteger, nullable=True),
        sa.Column("last_event_ms", sa.BigInteger, nullable=True),
        sa.Column("last_ingestion_ms", sa.BigInteger, nullable=True),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_chunks",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("group", sa.String(512), nullable=False),
        sa.Column("stream", sa.String(512), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("ingestion_ms", sa.BigInteger, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_log_chunks_group_time", "log_chunks", ["region", "group", "timestamp_ms", "id"])
    op.create_index("ix_log_chunks_stream", "log_chunks", ["region", "group", "stream", "id"])
    op.create_table(
        "metric_minutes",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("namespace", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("dimensions", sa.Text, primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("count", sa.Float, nullable=False),
        sa.Column("sum", sa.Float, nullable=False),
        sa.Column("minimum", sa.Float, nullable=False),
        sa.Column("maximum", sa.Float, nullable=False),
    )
    op.create_index("ix_metric_minutes_minute", "metric_minutes", ["minute"])
    op.create_table(
        "usage_records",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("function", sa.String(140), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("ended", sa.Float, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("billed_ms", sa.BigInteger, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("architecture", sa.String(16), nullable=False),
        sa.Column("peak_memory_mb", sa.Integer, nullable=False),
        sa.Column("cold_start", sa.Boolean, nullable=False),
        sa.Column("init_ms", sa.Float, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_usage_records_day", "usage_records", ["day", "region", "function"])


def downgrade() -> None:
    op.drop_table("usage_records")
    op.drop_table("metric_minutes")
    op.drop_table("log_chunks")
    op.drop_table("log_streams")
    op.drop_table("log_groups")
