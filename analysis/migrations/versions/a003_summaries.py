"""Per-session and per-student summaries for the term view, kept longer than raw observations.

Revision ID: a003
Revises: a002

Raw observations keep `store.retention_days` (30 by default); a course report across a
school year reads these few numbers per student per session instead, kept for
`store.summary_retention_days` (a school year by default) and deleted with an opt-out or an
erasure like the raw data.

- ``session_summaries``: one row per session ClassPulse ran or tried to run: its class, start,
  how it ended (recorded, interrupted, failed) and the model and analysis settings it ran with
  (copied from ``sessions`` when it ended, so a trend can mark a change after the raw data is gone).
- ``student_summaries``: one row per student per session (never for an opted-out student):
  presence, attention, engagement and camera-off share, first and last sample.
"""

import sqlalchemy as sa
from alembic import op

revision = "a003"
down_revision = "a002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_summaries",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("class_key", sa.String(200), nullable=False),  # the service's class id, else ""
        sa.Column("class_name", sa.String(200), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("ended_at", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("emotions_enabled", sa.Boolean, nullable=False),
        sa.Column("written_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_session_summaries_class", "session_summaries", ["class_key", "class_name"])
    op.create_index("ix_session_summaries_started", "session_summaries", ["started_at"])
    op.create_table(
        "student_summaries",
        sa.Column("session_id", sa.String(64), sa.ForeignKey("session_summaries.session_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("participant_id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("n_samples", sa.Integer, nullable=False),
        sa.Column("presence", sa.Float, nullable=True),
        sa.Column("attention", sa.Float, nullable=True),
        sa.Column("engagement", sa.Float, nullable=True),
        sa.Column("camera_off_share", sa.Float, nullable=True),
        sa.Column("first_t", sa.Float, nullable=True),
        sa.Column("last_t", sa.Float, nullable=True),
        sa.Column("in_class_s", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("student_summaries")
    op.drop_index("ix_session_summaries_started", "session_summaries")
    op.drop_index("ix_session_summaries_class", "session_summaries")
    op.drop_table("session_summaries")
