"""Sessions across faults: attempts, the class window, one open session per class.

Revision ID: s003
Revises: s002

- ``service_sessions`` gains what a restarted process needs to continue a session
  (`meeting_url`, `duration_s`, `window_end`, `started_at`), the current `attempt` number
  (the fencing token) and `origin` (api, schedule, cli, zoom).
- ``attempts``: one row per process that ran the session (holder, start, heartbeat, end, why).
- A partial unique index allows one non-final session per class; older databases may hold
  several stale ones (a crash left them `joining`): all but the newest become `interrupted`.
- The pre-Alembic ``schema_version`` table is dropped (both histories are stamped by now).
"""

import sqlalchemy as sa
from alembic import op

revision = "s003"
down_revision = "s002"
branch_labels = None
depends_on = None

FINAL = ("done", "failed", "interrupted")


def upgrade() -> None:
    with op.batch_alter_table("service_sessions") as batch:
        batch.add_column(sa.Column("meeting_url", sa.String(1000), nullable=False, server_default=""))
        batch.add_column(sa.Column("duration_s", sa.Float, nullable=True))
        batch.add_column(sa.Column("window_end", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("started_at", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default=""))
    op.create_table(
        "attempts",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("heartbeat_at", sa.String(40), nullable=False),
        sa.Column("ended_at", sa.String(40), nullable=False, server_default=""),
        sa.Column("end_reason", sa.String(32), nullable=False, server_default=""),
    )
    final = ", ".join(f"'{s}'" for s in FINAL)
    op.execute(sa.text(
        f"UPDATE service_sessions SET state = 'interrupted', detail = 'left open by an older ClassPulse' "
        f"WHERE class_id <> '' AND state NOT IN ({final}) AND session_id NOT IN ("
        f"  SELECT MAX(session_id) FROM service_sessions WHERE class_id <> '' AND state NOT IN ({final}) "
        f"  GROUP BY class_id)"))
    where = sa.text(f"class_id <> '' AND state NOT IN ({final})")
    op.create_index("ux_service_sessions_open_class", "service_sessions", ["class_id"], unique=True,
                    sqlite_where=where, postgresql_where=where)
    if sa.inspect(op.get_bind()).has_table("schema_version"):
        op.drop_table("schema_version")


def downgrade() -> None:
    op.drop_index("ux_service_sessions_open_class", "service_sessions")
    op.drop_table("attempts")
    with op.batch_alter_table("service_sessions") as batch:
        for name in ("origin", "attempt", "started_at", "window_end", "duration_s", "meeting_url"):
            batch.drop_column(name)
