"""The worksheet's storage: SQLAlchemy 2 models, packaged Alembic migrations, users and the audit trail.

SQLite in the data folder by default (``worksheet.sqlite3``); any SQLAlchemy URL (PostgreSQL:
``postgresql+psycopg2://user@host/db``) when a site outgrows it.
"""

from .db import Store, open_store

__all__ = ["Store", "open_store"]
