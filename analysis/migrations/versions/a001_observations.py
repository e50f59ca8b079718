"""The observation store as the pre-Alembic runner made it (its version 1).

Revision ID: a001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a001"
down_revision = None
branch_labels = None
depends_on = None

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER-2013 order, frozen here


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("class_name", sa.String(200), nullable=False),
        sa.Column("teacher", sa.String(200), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("ended_at", sa.String(40), nullable=False),
        sa.Column("emotions_enabled", sa.Boolean, nullable=False),
        sa.Column("sampling", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
    )
    op.create_table(
        "participants",
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.session_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("participant_id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("opted_out", sa.Boolean, nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(128), nullable=False),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("face_id", sa.Integer, nullable=True),
        sa.Column("x", sa.Integer), sa.Column("y", sa.Integer),
        sa.Column("w", sa.Integer), sa.Column("h", sa.Integer),
        sa.Column("score", sa.Float),
        sa.Column("yaw", sa.Float), sa.Column("pitch", sa.Float),
        sa.Column("attentive", sa.Boolean), sa.Column("eyes_open", sa.Boolean),
        *[sa.Column(f"p_{name}", sa.Float) for name in LABELS],
        sa.Column("quality", sa.String(100), nullable=False),
    )
    op.create_index("ix_obs_session_participant_t", "observations", ["session_id", "participant_id", "t"])


def downgrade() -> None:
    for table in ("observations", "participants", "sessions"):
        op.drop_table(table)
