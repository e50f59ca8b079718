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


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_v1]
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
