"""The service tables as the pre-Alembic runner made them (its version 2).

Revision ID: s001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "s001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "classes",
        sa.Column("class_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("meeting_url", sa.String(1000), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("webhook_url", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_classes_owner", "classes", ["owner"])
    op.create_table(
        "service_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("class_id", sa.String(64), nullable=False),
        sa.Column("class_name", sa.String(200), nullable=False),
        sa.Column("meeting", sa.String(1000), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failure", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("ended_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_service_sessions_owner", "service_sessions", ["owner"])
    op.create_table(
        "schedules",
        sa.Column("schedule_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("class_id", sa.String(64), nullable=False),
        sa.Column("cron", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("start_date", sa.String(10), nullable=False),
        sa.Column("end_date", sa.String(10), nullable=False),
        sa.Column("skip_dates", sa.String(4000), nullable=False),
        sa.Column("misfire_grace_s", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_schedules_owner", "schedules", ["owner"])
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(100), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(1000), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_deliveries_owner", "deliveries", ["owner"])


def downgrade() -> None:
    for table in ("deliveries", "schedules", "service_sessions", "classes", "api_tokens"):
        op.drop_table(table)
