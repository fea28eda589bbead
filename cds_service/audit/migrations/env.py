"""Alembic environment: always run from cds_service.audit.schema, on the connection it passes in."""
from alembic import context

from cds_service.audit.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
