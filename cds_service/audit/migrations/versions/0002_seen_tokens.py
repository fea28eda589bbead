"""JWT replay record shared by every worker and replica when no Redis is configured (decision 0128).

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
        "seen_tokens",
        sa.Column("pair", sa.String(64), primary_key=True),  # sha256 of [iss, jti]: no token text stored
        sa.Column("expires_at", sa.Float, nullable=False),  # Unix time; the row may be purged after it
    )
    op.create_index("seen_tokens_expiry", "seen_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("seen_tokens_expiry", table_name="seen_tokens")
    op.drop_table("seen_tokens")
