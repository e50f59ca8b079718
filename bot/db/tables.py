"""The service tables' current shape (SQLAlchemy Core); `migrations` is how a database gets there."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from analysis.migrate import History

HISTORY = History(name="service", script_location=Path(__file__).resolve().parent / "migrations",
                  version_table="alembic_version_service", legacy=((2, "s001"),))

#: Session states after which nothing runs any more; the rest are "open".
FINAL_STATES = ("done", "failed", "interrupted")

metadata = sa.MetaData()

#: API tokens: only the SHA-256 of the secret part is kept, so a leaked database grants nothing.
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),  # the teacher (owner) or admin it belongs to
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40), nullable=False),
)

classes = sa.Table(
    "classes", metadata,
    sa.Column("class_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("meeting_url", sa.String(1000), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("webhook_url", sa.String(1000), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("timetable_uid", sa.String(500), nullable=False),  # the calendar UID it was imported from
    sa.Column("timetable_fingerprint", sa.String(64), nullable=False),
    sa.Column("expected_students", sa.Integer, nullable=False),  # a worker takes it only if they fit
)

#: Every session ClassPulse ran, whoever started it, including those that failed before class.
service_sessions = sa.Table(
    "service_sessions", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("class_id", sa.String(64), nullable=False),
    sa.Column("class_name", sa.String(200), nullable=False),
    sa.Column("meeting", sa.String(1000), nullable=False),  # description without secrets
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("failure", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(1000), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40), nullable=False),
    sa.Column("meeting_url", sa.String(1000), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("window_end", sa.String(40), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
)

attempts = sa.Table(
    "attempts", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("heartbeat_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40), nullable=False),
    sa.Column("end_reason", sa.String(32), nullable=False),
)

schedules = sa.Table(
    "schedules", metadata,
    sa.Column("schedule_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("class_id", sa.String(64), nullable=False),
    sa.Column("cron", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("start_date", sa.String(10), nullable=False),
    sa.Column("end_date", sa.String(10), nullable=False),
    sa.Column("skip_dates", sa.String(4000), nullable=False),  # comma-separated ISO dates
    sa.Column("misfire_grace_s", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("calendar", sa.Text, nullable=False),  # a lesson's iCalendar text: a calendar-rule schedule
    sa.Column("done_keys", sa.Text, nullable=False),  # original starts of the occurrences that ran
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
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.String(1000), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),  # report.ready | session.failed | run.missed
    sa.Column("class_id", sa.String(64), nullable=False),
    sa.Column("detail", sa.String(1000), nullable=False),
)

#: Dashboard log-ins: SHA-256 of the cookie's id → the API token's id, with an absolute expiry.
dashboard_logins = sa.Table(
    "dashboard_logins", metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

#: Runs of a schedule that did not start as planned (missed or moved).
schedule_runs = sa.Table(
    "schedule_runs", metadata,
    sa.Column("schedule_id", sa.String(64), primary_key=True),
    sa.Column("due_at", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(500), nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
)
