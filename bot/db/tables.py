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
    sa.Column("zoom_meeting_id", sa.String(20), nullable=False),  # Zoom meeting number ("" = none)
    sa.Column("late_after_min", sa.Float, nullable=False, server_default="5"),  # attendance rules (s008)
    sa.Column("absent_after_min", sa.Float, nullable=False, server_default="15"),
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
    sa.Column("known_people", sa.Text, nullable=False),  # JSON, while open: Connector.known_people
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
    sa.Column("join_link", sa.String(1000), nullable=False),  # built-in classroom: this attempt's join page
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

#: A class roster's students (CSV upload); `roster_student_id` is stable across re-uploads.
roster_students = sa.Table(
    "roster_students", metadata,
    sa.Column("roster_student_id", sa.String(32), primary_key=True),
    sa.Column("class_id", sa.String(64), nullable=False, index=True),
    sa.Column("student_id", sa.String(200), nullable=False),  # the school's id, from the CSV
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("aliases", sa.String(1000), nullable=False),  # ';'-separated
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("opted_out", sa.Boolean, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),  # order in the CSV
    sa.Column("uploaded_at", sa.String(40), nullable=False),  # the roster's retention runs from here
    sa.UniqueConstraint("class_id", "student_id", name="uq_roster_students_class_student"),
)

#: Session participant → roster student, how it matched and whether that is settled.
roster_matches = sa.Table(
    "roster_matches", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("participant_id", sa.String(64), primary_key=True),
    sa.Column("class_id", sa.String(64), nullable=False, index=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("roster_student_id", sa.String(32), nullable=False, index=True),  # "" = none
    sa.Column("kind", sa.String(16), nullable=False),  # exact|alias|email|confirmed|fuzzy|ambiguous|unmatched
    sa.Column("candidates", sa.String(1000), nullable=False),  # comma-separated roster student ids
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("confirmed", sa.Boolean, nullable=False),  # certain, or decided by the teacher
    sa.Column("created_at", sa.String(40), nullable=False),
)

#: The roster a session expected when it started (a re-render later says the same).
session_rosters = sa.Table(
    "session_rosters", metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("class_id", sa.String(64), nullable=False, index=True),
    sa.Column("students", sa.Text, nullable=False),  # JSON [[roster_student_id, name], …]
    sa.Column("sees_everyone", sa.Boolean, nullable=False),
    sa.Column("late_after_s", sa.Float, nullable=False),
    sa.Column("absent_after_s", sa.Float, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

#: Who opened which report, when and how (admins read it; kept `service.access_log_days`).
#: No names of students: the participant id only, so erasing a student leaves no name here.
report_access = sa.Table(
    "report_access", metadata,
    sa.Column("access_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),  # ISO UTC
    sa.Column("who", sa.String(200), nullable=False),  # the token's name: teacher or admin
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_id", sa.String(32), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("class_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(16), nullable=False),  # class | student
    sa.Column("participant_id", sa.String(200), nullable=False),  # "" for the class report
    sa.Column("via", sa.String(16), nullable=False),  # api (bearer token) | dashboard (log-in cookie)
    sa.Column("format", sa.String(8), nullable=False),  # html | pdf
    sa.Column("client", sa.String(64), nullable=False),  # the client address (through trusted proxies)
)

#: Fixed-window counters of the rate limits (WHIP offers, log-in attempts), shared by every node.
rate_counters = sa.Table(
    "rate_counters", metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

#: Starts of sessions in progress, counted with the open sessions by the capacity check; a
#: row left by a process that died mid-start stops counting at `expires_at`.
capacity_holds = sa.Table(
    "capacity_holds", metadata,
    sa.Column("hold_id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

#: One row per named lock; a transaction that updates the row holds it until it ends (both on
#: SQLite, where it takes the write lock, and on PostgreSQL, where it locks the row).
service_locks = sa.Table(
    "service_locks", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)

#: Subscribed timetable feeds: an iCalendar URL re-read daily into classes and schedules (by UID).
timetable_feeds = sa.Table(
    "timetable_feeds", metadata,
    sa.Column("feed_id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("url", sa.String(1000), nullable=False),
    sa.Column("tz", sa.String(64), nullable=False),  # zone for floating times ("" = none)
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("last_attempt_at", sa.String(40), nullable=False),  # "" = never read
    sa.Column("last_ok_at", sa.String(40), nullable=False),
    sa.Column("last_error", sa.String(1000), nullable=False),  # "" after a good read
    sa.Column("last_result", sa.Text, nullable=False),  # JSON: what the last good read changed
)
