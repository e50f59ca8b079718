"""Classes name their Zoom meeting: RTMS webhooks of other meetings are ignored.

Revision ID: s007
Revises: s006

``classes.zoom_meeting_id``: the Zoom meeting number (digits, "" = none). With auto-start
RTMS every meeting of the Zoom account streams; the webhook's ``meeting_id`` is looked up
here and only a registered class's meeting is analysed (docs/zoom.md). One class per
meeting number: a unique index over the non-empty values.

``service_sessions.known_people``: JSON ``[[feed id, name], …]`` of the people the platform
named during an open session, so an attempt that resumes it after a restart knows them
(Zoom does not announce again who is already present). Cleared when the session ends.
"""

import sqlalchemy as sa
from alembic import op

revision = "s007"
down_revision = "s006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("classes") as batch:
        batch.add_column(sa.Column("zoom_meeting_id", sa.String(20), nullable=False, server_default=""))
    with op.batch_alter_table("service_sessions") as batch:
        batch.add_column(sa.Column("known_people", sa.Text, nullable=False, server_default=""))
    where = sa.text("zoom_meeting_id <> ''")
    op.create_index("ux_classes_zoom_meeting", "classes", ["zoom_meeting_id"], unique=True,
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ux_classes_zoom_meeting", "classes")
    with op.batch_alter_table("service_sessions") as batch:
        batch.drop_column("known_people")
    with op.batch_alter_table("classes") as batch:
        batch.drop_column("zoom_meeting_id")
