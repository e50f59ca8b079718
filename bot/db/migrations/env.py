"""Alembic environment for the service store: runs on the connection `analysis.migrate` hands over."""

from alembic import context

config = context.config
context.configure(connection=config.attributes["connection"], target_metadata=None,
                  version_table=config.attributes["version_table"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
