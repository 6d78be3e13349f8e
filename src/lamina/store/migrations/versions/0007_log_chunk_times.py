"""Log chunks hold the records of one flush per stream (their last event time and per-line times);
usage records are stored by batch with daily totals instead of one row each.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("log_chunks") as batch:
        batch.add_column(sa.Column("last_ms", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("times", sa.Text, nullable=True))
    op.drop_table("usage_records")
    op.create_table(
        "usage_batches",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("function", sa.String(140), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("architecture", sa.String(16), nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("records", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_usage_batches_function", "usage_batches", ["function"])
    op.create_table(
        "usage_daily",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("function", sa.String(140), primary_key=True),
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("architecture", sa.String(16), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("mb_ms", sa.BigInteger, nullable=False),
        sa.Column("billed_ms", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("cold_starts", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("peak_memory_mb", sa.Integer, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
    )
    op.create_index("ix_usage_daily_day", "usage_daily", ["day"])


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_table("usage_batches")
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
    with op.batch_alter_table("log_chunks") as batch:
        batch.drop_column("times")
        batch.drop_column("last_ms")
