"""The worksheet's storage: SQLAlchemy 2 models, packaged Alembic migrations, users and the audit trail.

SQLite in the data folder by default (``worksheet.sqlite3``); any SQLAlchemy URL (PostgreSQL:
``postgresql+psycopg2://user@host/db``) when a site outgrows it.

``Store`` and ``open_store`` load on first use: the command line imports ``eligibility.store.cli`` for every
command, and SQLAlchemy with Alembic would add about half a second to ``eligibility screen`` (issue 11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .db import Store, open_store

__all__ = ["Store", "open_store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
