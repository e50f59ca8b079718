"""Dashboard log-ins and a schedule's missed or moved runs, kept in the database.

Revision ID: s004
Revises: s003

- ``dashboard_logins``: SHA-256 of a log-in id → the API token it stands for, with an
  absolute expiry. Only the hash is kept, so a copy of the table cannot be replayed.
- ``schedule_runs``: runs a schedule did not start as planned (`missed`: service down, past
  the grace time, no capacity; `moved`: a local time the spring DST change skipped), so
  the teacher sees "not recorded" for that class instead of nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "s004"
down_revision = "s003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_logins",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_dashboard_logins_token", "dashboard_logins", ["token_id"])
    op.create_table(
        "schedule_runs",
        sa.Column("schedule_id", sa.String(64), primary_key=True),
        sa.Column("due_at", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False, server_default=""),
        sa.Column("recorded_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
    op.drop_table("dashboard_logins")
