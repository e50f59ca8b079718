"""Deliveries carry their event: a report, or a notice that a class was not (fully) recorded.

Revision ID: s006
Revises: s005

``deliveries.event``: ``report.ready`` (the report, as before), ``session.failed`` (the bot
never got in: never_admitted, meeting_not_found, …), ``run.missed`` (a scheduled run that did
not start: service down, past the grace time, no capacity). ``deliveries.class_id`` and
``detail`` say which class and what happened, for notices that have no session.
"""

import sqlalchemy as sa
from alembic import op

revision = "s006"
down_revision = "s005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("event", sa.String(32), nullable=False, server_default="report.ready"))
        batch.add_column(sa.Column("class_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("detail", sa.String(1000), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        for name in ("detail", "class_id", "event"):
            batch.drop_column(name)
