"""Function versions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "function_versions",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(140), primary_key=True),
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_function_versions_code_sha256", "function_versions", ["code_sha256"])


def downgrade() -> None:
    op.drop_table("function_versions")
