"""The store's schema as released before Alembic (versions 1 and 2 of the old migration runner).

Transcribed from `analysis/schema.py` at the last release that used it (commit a5b0bb3), so
migration tests start from databases exactly as users have them, not from our new revisions.
"""

from __future__ import annotations

import sqlalchemy as sa

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
metadata = sa.MetaData()
schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))
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
)
participants = sa.Table(
    "participants", metadata,
    sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.session_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("participant_id", sa.String(128), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("opted_out", sa.Boolean, nullable=False, default=False),
)
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
    sa.Index("ix_obs_session_participant_t", "session_id", "participant_id", "t"),
)
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40), nullable=False, default=""),
)
classes = sa.Table(
    "classes", metadata,
    sa.Column("class_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("meeting_url", sa.String(1000), nullable=False, default=""),
    sa.Column("email", sa.String(320), nullable=False, default=""),
    sa.Column("webhook_url", sa.String(1000), nullable=False, default=""),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Index("ix_classes_owner", "owner"),
)
service_sessions = sa.Table(
    "service_sessions", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("class_id", sa.String(64), nullable=False, default=""),
    sa.Column("class_name", sa.String(200), nullable=False),
    sa.Column("meeting", sa.String(1000), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("failure", sa.String(32), nullable=False, default=""),
    sa.Column("detail", sa.String(1000), nullable=False, default=""),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40), nullable=False, default=""),
    sa.Index("ix_service_sessions_owner", "owner"),
)
schedules = sa.Table(
    "schedules", metadata,
    sa.Column("schedule_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("class_id", sa.String(64), nullable=False),
    sa.Column("cron", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("start_date", sa.String(10), nullable=False, default=""),
    sa.Column("end_date", sa.String(10), nullable=False, default=""),
    sa.Column("skip_dates", sa.String(4000), nullable=False, default=""),
    sa.Column("misfire_grace_s", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Index("ix_schedules_owner", "owner"),
)
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("delivery_id", sa.String(100), primary_key=True),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.String(1000), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.String(1000), nullable=False, default=""),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False, default=""),
    sa.Index("ix_deliveries_owner", "owner"),
)
V1 = (sessions, participants, observations)
V2 = (*V1, api_tokens, classes, service_sessions, schedules, deliveries)


def create(engine: sa.Engine, version: int) -> None:
    """A database exactly as the old runner left it at `version` (1 or 2)."""
    with engine.begin() as conn:
        schema_version.create(conn)
        for table in V1 if version == 1 else V2:
            table.create(conn)
        conn.execute(sa.insert(schema_version).values(version=version))
