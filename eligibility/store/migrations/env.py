"""Alembic environment: run by :func:`eligibility.store.db.migrate` with an open connection (never from a
config file), so the migrations ship inside the package and need no alembic.ini."""

from __future__ import annotations

from alembic import context

from eligibility.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
