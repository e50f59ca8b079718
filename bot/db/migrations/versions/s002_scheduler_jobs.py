"""APScheduler's job table, made by a migration instead of by APScheduler at first start.

Revision ID: s002
Revises: s001

The DDL is APScheduler 3's `SQLAlchemyJobStore` table (id, next_run_time, job_state).
Databases that ran an earlier ClassPulse already have it (APScheduler created it): kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "s002"
down_revision = "s001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("apscheduler_jobs"):
        return
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), index=True),
        sa.Column("job_state", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("apscheduler_jobs")
