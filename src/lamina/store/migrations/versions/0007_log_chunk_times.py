"""Log chunks hold the records of one flush per stream: their last event time and per-line times.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("log_chunks") as batch:
        batch.add_column(sa.Column("last_ms", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("times", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("log_chunks") as batch:
        batch.drop_column("times")
        batch.drop_column("last_ms")
