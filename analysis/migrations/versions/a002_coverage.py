"""What a session's data covers: interruptions, the model and settings it ran with.

Revision ID: a002
Revises: a001

- ``interruptions``: gaps in which nothing was recorded (crash, restart, lost worker,
  reconnect), so reports say "analysis interrupted 12:10–12:40" and never read the gap as
  students' absence.
- ``sessions.model_version`` / ``sessions.settings``: the emotion model and analysis
  settings a session ran with (JSON), so a report or a term trend can say when they changed.
"""

import sqlalchemy as sa
from alembic import op

revision = "a002"
down_revision = "a001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("model_version", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("settings", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "interruptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # No foreign key: a session that died while joining has an interruption but no data yet.
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("from_at", sa.String(40), nullable=False),
        sa.Column("to_at", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
    )
    op.create_index("ix_interruptions_session", "interruptions", ["session_id"])


def downgrade() -> None:
    op.drop_table("interruptions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("settings")
        batch.drop_column("model_version")
