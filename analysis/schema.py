"""The observation store's tables as the code reads and writes them today (SQLAlchemy Core).

This is the *current* shape only; how a database gets there is the migration history in
`analysis/migrations` (fixed DDL per revision, run by `analysis.migrate`). A test checks
that a database migrated from empty matches these definitions.

Only numbers and names are stored: no column can hold pixels. The service's own tables
(tokens, classes, sessions it ran, schedules, deliveries) live in `bot/db`.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from analysis.migrate import History
from model.labels import LABELS

HISTORY = History(name="observation store", script_location=Path(__file__).resolve().parent / "migrations",
                  version_table="alembic_version_analysis", legacy=((1, "a001"), (2, "a001")))

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("class_name", sa.String(200), nullable=False),
    sa.Column("teacher", sa.String(200), nullable=False, default=""),
    sa.Column("started_at", sa.String(40), nullable=False, default=""),
    sa.Column("ended_at", sa.String(40), nullable=False, default=""),
    sa.Column("emotions_enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("sampling", sa.String(200), nullable=False, default=""),
    sa.Column("source", sa.String(500), nullable=False, default=""),
    sa.Column("model_version", sa.String(200), nullable=False, default="", server_default=""),
    sa.Column("settings", sa.Text, nullable=False, default="", server_default=""),
)

participants = sa.Table(
    "participants", metadata,
    sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.session_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("participant_id", sa.String(128), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("opted_out", sa.Boolean, nullable=False, default=False),
)

#: One row per face per sample, or one row with face_id NULL for a faceless sample.
observations = sa.Table(
    "observations", metadata,
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
    sa.Column("quality", sa.String(100), nullable=False, default=""),
    # the session attempt (bot process) that wrote the row: 0 outside the service (a003)
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Index("ix_obs_session_participant_t", "session_id", "participant_id", "t"),
)

#: Gaps in which nothing was recorded (crash, restart, lost worker, reconnect): never absence.
interruptions = sa.Table(
    "interruptions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("from_at", sa.String(40), nullable=False),
    sa.Column("to_at", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Index("ix_interruptions_session", "session_id"),
)

#: One row per session ClassPulse ran or tried to run, kept for `store.summary_retention_days`
#: (the term view); `class_key` is the service's class id ("" for sessions started without one).
session_summaries = sa.Table(
    "session_summaries", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("class_key", sa.String(200), nullable=False, default=""),
    sa.Column("class_name", sa.String(200), nullable=False, default=""),
    sa.Column("started_at", sa.String(40), nullable=False, default=""),
    sa.Column("ended_at", sa.String(40), nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False, default=""),
    sa.Column("settings", sa.Text, nullable=False, default=""),
    sa.Column("emotions_enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("written_at", sa.String(40), nullable=False, default=""),
    sa.Index("ix_session_summaries_class", "class_key", "class_name"),
    sa.Index("ix_session_summaries_started", "started_at"),
)

#: One row per student per session: a few numbers, never for an opted-out student.
student_summaries = sa.Table(
    "student_summaries", metadata,
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
