"""The report access log, and the limiters' shared state (several API nodes, one database).

Revision ID: s009
Revises: s008

- ``report_access``: one row each time someone opens a class or student report (HTML or
  PDF, through the API or the dashboard): who, which session and student, when, how.
- ``rate_counters``: fixed-window counters of the per-address rate limits (WHIP offers,
  dashboard log-in attempts).
- ``capacity_holds`` and ``service_locks``: session starts in progress and the lock row
  the capacity check (``session.max_concurrent*``) takes, so two nodes cannot both pass it.
- ``timetable_feeds``: subscribed iCalendar URLs, re-read daily, with the last error.
"""

import sqlalchemy as sa
from alembic import op

revision = "s009"
down_revision = "s008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_access",
        sa.Column("access_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("class_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("participant_id", sa.String(200), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
    )
    op.create_index("ix_report_access_at", "report_access", ["at"])
    op.create_index("ix_report_access_session", "report_access", ["session_id"])
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "capacity_holds",
        sa.Column("hold_id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    locks = op.create_table(
        "service_locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.bulk_insert(locks, [{"name": "capacity", "n": 0}])
    op.create_table(
        "timetable_feeds",
        sa.Column("feed_id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("last_attempt_at", sa.String(40), nullable=False, server_default=""),
        sa.Column("last_ok_at", sa.String(40), nullable=False, server_default=""),
        sa.Column("last_error", sa.String(1000), nullable=False, server_default=""),
        sa.Column("last_result", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("timetable_feeds")
    for name in ("service_locks", "capacity_holds", "rate_counters"):
        op.drop_table(name)
    op.drop_index("ix_report_access_session", "report_access")
    op.drop_index("ix_report_access_at", "report_access")
    op.drop_table("report_access")
