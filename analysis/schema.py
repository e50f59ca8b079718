"""Database schema and its migrations (SQLAlchemy Core; SQLite by default, any URL later).

Migrations are numbered functions applied in order inside one transaction each; the
applied version lives in ``schema_version``. A tiny runner instead of Alembic because
the store must create and upgrade itself silently when the bot or CLI opens it on a
teacher's laptop — no migration CLI, no ini file — and the schema is small. Each
migration is tested from the previous version (tests/test_store.py).

Only numbers and names are stored: no column can hold pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from model.labels import LABELS

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

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
    sa.Index("ix_obs_session_participant_t", "session_id", "participant_id", "t"),
)


def _v1(conn: sa.Connection) -> None:
    for table in (sessions, participants, observations):
        table.create(conn, checkfirst=True)


# -- v2: the service (bot/service): API tokens, classes, the sessions it started ------------
#: API tokens: only the SHA-256 of the secret part is kept, so a leaked database grants nothing.
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),  # the teacher (owner) or admin it belongs to
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

#: Every session the service started, including those that failed before `sessions` had a row.
service_sessions = sa.Table(
    "service_sessions", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("class_id", sa.String(64), nullable=False, default=""),
    sa.Column("class_name", sa.String(200), nullable=False),
    sa.Column("meeting", sa.String(1000), nullable=False),  # description without secrets
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("failure", sa.String(32), nullable=False, default=""),
    sa.Column("detail", sa.String(1000), nullable=False, default=""),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40), nullable=False, default=""),
    sa.Index("ix_service_sessions_owner", "owner"),
)

#: Recurring sessions of a class; the APScheduler job (same database) holds the next run time.
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
    sa.Column("skip_dates", sa.String(4000), nullable=False, default=""),  # comma-separated ISO dates
    sa.Column("misfire_grace_s", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Index("ix_schedules_owner", "owner"),
)

#: One row per report delivery (e-mail, webhook); its id is the webhook's stable event id.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("delivery_id", sa.String(100), primary_key=True),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # email | webhook
    sa.Column("target", sa.String(1000), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.String(1000), nullable=False, default=""),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False, default=""),
    sa.Index("ix_deliveries_owner", "owner"),
)


def _v2(conn: sa.Connection) -> None:
    for table in (api_tokens, classes, service_sessions, schedules, deliveries):
        table.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_v1, _v2]
LATEST = len(MIGRATIONS)


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    row = conn.execute(sa.select(schema_version.c.version)).first()
    return int(row[0]) if row else 0


def migrate(engine: sa.Engine, target: int = LATEST) -> int:
    """Bring the database to `target`; returns the version it was at before."""
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        before = current_version(conn)
    if before > LATEST:
        raise RuntimeError(f"database schema v{before} is newer than this ClassPulse (v{LATEST})")
    for version in range(before + 1, target + 1):
        with engine.begin() as conn:
            MIGRATIONS[version - 1](conn)
            conn.execute(sa.delete(schema_version))
            conn.execute(sa.insert(schema_version).values(version=version))
    return before
