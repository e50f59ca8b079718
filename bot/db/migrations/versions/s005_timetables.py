"""Classes imported from a school's timetable, and schedules that follow a calendar rule.

Revision ID: s005
Revises: s004

- ``classes.timetable_uid`` / ``timetable_fingerprint``: the calendar UID a class was imported
  from (re-importing the same file updates it instead of making a second class) and what it
  looked like then (an unchanged lesson is left alone).
- ``schedules.calendar``: the lesson's iCalendar text (RRULE, EXDATE, RDATE, RECURRENCE-ID
  overrides), from which the calendar trigger is rebuilt; ``cron`` is empty for these.
- ``schedules.done_keys``: the original starts (RECURRENCE-IDs) of the occurrences that have
  run, so a lesson moved after it ran is never run twice.
"""

import sqlalchemy as sa
from alembic import op

revision = "s005"
down_revision = "s004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("classes") as batch:
        batch.add_column(sa.Column("timetable_uid", sa.String(500), nullable=False, server_default=""))
        batch.add_column(sa.Column("timetable_fingerprint", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("calendar", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("done_keys", sa.Text, nullable=False, server_default=""))
    op.create_index("ix_classes_timetable_uid", "classes", ["owner", "timetable_uid"])


def downgrade() -> None:
    op.drop_index("ix_classes_timetable_uid", "classes")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("done_keys")
        batch.drop_column("calendar")
    with op.batch_alter_table("classes") as batch:
        batch.drop_column("timetable_fingerprint")
        batch.drop_column("timetable_uid")
