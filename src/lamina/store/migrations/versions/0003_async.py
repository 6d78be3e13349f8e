"""Asynchronous invocation: queued events and their owning nodes, event invoke configs, event
source mappings.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("function_name", sa.String(140), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("invocations", sa.Integer, nullable=False),
        sa.Column("function_errors", sa.Integer, nullable=False),
        sa.Column("backoff", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(36), nullable=False),
        sa.Column("last_result", sa.Text, nullable=True),
    )
    op.create_index("ix_async_events_owner", "async_events", ["owner"])
    op.create_table(
        "async_nodes",
        sa.Column("node_id", sa.String(36), primary_key=True),
        sa.Column("lease_until", sa.Float, nullable=False),
    )
    op.create_table(
        "event_invoke_configs",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("function_name", sa.String(140), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
    )
    op.create_table(
        "event_source_mappings",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_source_mappings")
    op.drop_table("event_invoke_configs")
    op.drop_table("async_nodes")
    op.drop_index("ix_async_events_owner", "async_events")
    op.drop_table("async_events")
