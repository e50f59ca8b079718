"""Sessions as jobs on PostgreSQL workers: class sizes and procrastinate's queue tables.

Revision ID: s010
Revises: s009

- ``classes.expected_students`` (default 30): how many students a class brings; a worker
  takes a class only while that many fit its remaining capacity (``classpulse worker
  --capacity``).
- On PostgreSQL only: procrastinate's own schema (its jobs, workers, events tables and
  functions; procrastinate 3.10, the version pinned in pyproject.toml), applied once. A later
  procrastinate release that changes its schema gets its own service migration that applies
  procrastinate's migration files. SQLite databases run sessions in-process and need none.
"""

import sqlalchemy as sa
from alembic import op

revision = "s010"
down_revision = "s009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("classes") as batch:
        batch.add_column(sa.Column("expected_students", sa.Integer, nullable=False, server_default="30"))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        present = bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar()
        if present is None:
            from procrastinate.schema import SchemaManager

            # straight to psycopg, without parameters: the schema's own "%" are not placeholders
            cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(SchemaManager.get_schema())


def downgrade() -> None:
    # procrastinate's tables stay: they may hold the jobs of a cluster being rolled back.
    with op.batch_alter_table("classes") as batch:
        batch.drop_column("expected_students")
