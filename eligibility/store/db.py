"""Opening the worksheet database: SQLite in the data folder by default, any SQLAlchemy URL otherwise.

The schema is brought up to date by the packaged Alembic migrations every time the store is opened
(:func:`migrate`), so there is no separate "init" step for a coordinator to forget.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from ..errors import InputError
from .models import APPEND_ONLY

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DB_FILE = "worksheet.sqlite3"


def now() -> datetime:
    """UTC now; every row's time comes from here."""
    return datetime.now(UTC)


def database_url(data_dir: Path, url: str | None = None) -> str:
    """The URL given, else the SQLite file in ``data_dir`` (created with the folder)."""
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / DB_FILE).resolve()}"


def make_engine(url: str) -> Engine:
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


def migrate(engine: Engine) -> None:
    """Run every packaged migration not yet applied (Alembic, programmatically)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return None if row is None else str(row[0])


def guard_append_only(session: Session) -> None:
    """Refuse, before flushing, any update or delete of an audit row (the triggers refuse it again below)."""

    @event.listens_for(session, "before_flush")
    def _refuse(sess: Session, _ctx: Any, _instances: Any) -> None:
        for obj in list(sess.dirty) + list(sess.deleted):
            if isinstance(obj, APPEND_ONLY) and (obj in sess.deleted or sess.is_modified(obj)):
                raise InputError(f"{type(obj).__tablename__} rows are append-only: add a correction instead")


class Store:
    """The open database: an engine and a session factory whose sessions guard the audit tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)

    def session(self) -> Session:
        s = self._factory()
        guard_append_only(s)
        return s

    def close(self) -> None:
        self.engine.dispose()


def open_store(data_dir: Path, url: str | None = None) -> Store:
    """Open (and migrate) the database for a data folder."""
    engine = make_engine(database_url(data_dir, url))
    migrate(engine)
    return Store(engine)
