"""Observation rows carry the attempt that wrote them.

Revision ID: a004
Revises: a003

``observations.attempt``: the session attempt (bot process) that wrote the row; 0 for rows
written before attempts were recorded and for sessions run outside the service. With it a
cluster can show from the data alone that no two bots wrote one class at the same time
(`classpulse bench cluster`'s ``duplicate_bots``).
"""

import sqlalchemy as sa
from alembic import op

revision = "a004"
down_revision = "a003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("attempt")
