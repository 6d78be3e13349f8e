"""HTTP triggers: function URL configurations and HTTP APIs (one JSON document per row).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "function_url_configs",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("function_name", sa.String(140), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("url_id", sa.String(64), nullable=False, unique=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "http_apis",
        sa.Column("api_id", sa.String(16), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("http_apis")
    op.drop_table("function_url_configs")
