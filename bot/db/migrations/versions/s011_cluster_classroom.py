"""The built-in classroom in a cluster: where each attempt's students join.

Revision ID: s011
Revises: s010

- ``attempts.join_link``: the join page of the built-in classroom (``classroom:CODE``) that
  the attempt's worker serves (``…/join/CODE`` on that worker), "" for other platforms. A
  `serve` node's join page reads the current attempt's link and sends the student's camera
  (WHIP) to that worker; a takeover writes a new attempt with the new worker's link, and the
  page re-offers there (docs/deploy.md, "The built-in classroom in a cluster").
"""

import sqlalchemy as sa
from alembic import op

revision = "s011"
down_revision = "s010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("join_link", sa.String(1000), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("join_link")
