"""The schema of the first release (what `metadata.create_all` made before migrations existed).

Revision ID: 0001
Revises: (none)
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64)),
        sa.Column("protocol", sa.String(128)),
        sa.Column("protocol_version", sa.String(32)),
        sa.Column("read_summary", sa.JSON, nullable=False),
        sa.Column("decision", sa.JSON),
        sa.Column("cards", sa.JSON, nullable=False),
        sa.Column("timings_ms", sa.JSON, nullable=False),
    )
    op.create_table(
        "decision_cards",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.id"), nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.String(64), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON),
        sa.Column("override_reason", sa.JSON),
        sa.Column("decision_id", sa.String(36)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("card_uuid", "outcome", "outcome_timestamp", name="feedback_once"),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("decision_cards")
    op.drop_table("decisions")
