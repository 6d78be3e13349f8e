"""SQS queues, messages and FIFO deduplication ids.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sqs_queues",
        sa.Column("arn", sa.String(256), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("modified_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sqs_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("queue_arn", sa.String(256), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("system_attributes", sa.Text, nullable=False),
        sa.Column("group_id", sa.String(128), nullable=True),
        sa.Column("dedup_id", sa.String(128), nullable=True),
        sa.Column("sender_id", sa.String(128), nullable=False),
        sa.Column("sent_at", sa.Float, nullable=False),
        sa.Column("visible_at", sa.Float, nullable=False),
        sa.Column("receive_count", sa.Integer, nullable=False),
        sa.Column("first_receive_at", sa.Float, nullable=True),
        sa.Column("dead_letter_source", sa.String(256), nullable=True),
    )
    op.create_index("ix_sqs_messages_queue_arn", "sqs_messages", ["queue_arn"])
    op.create_table(
        "sqs_dedup",
        sa.Column("queue_arn", sa.String(256), primary_key=True),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_sqs_dedup_expires_at", "sqs_dedup", ["expires_at"])


def downgrade() -> None:
    op.drop_table("sqs_dedup")
    op.drop_table("sqs_messages")
    op.drop_table("sqs_queues")
