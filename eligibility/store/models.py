"""The worksheet's tables (SQLAlchemy 2 declarative models).

Screenings, answers, signatures, workflow events and rule reviews are *append-only*: a correction is a
new row whose ``supersedes_id`` points at the row it replaces, so both stay visible (21 CFR Part 11
style audit trail). The migration adds database triggers that refuse UPDATE and DELETE on those tables,
and :func:`eligibility.store.db.guard_append_only` refuses them in the ORM before they reach the
database. Every audit row carries the user, a UTC time, the trial's rule version, the engine version
and the screening date (``as_of``) it was made under.

The schema itself is created by the Alembic migrations in ``migrations/versions`` (never by
``create_all``), so a site upgrading the package gets its database migrated at start-up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC time in, a timezone-aware UTC time out, on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be stored: pass a UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = value
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column()


class LoginSession(Base):
    """A server-side login session: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()


class Case(Base):
    """One candidate for one trial. URLs name the case number, never the patient id (no PHI in logs)."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("trial_id", "patient_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[str] = mapped_column(String(120))
    patient_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class PatientData(Base):
    """A patient document as received (FHIR Bundle or native JSON), kept verbatim; new data is a new row."""

    __tablename__ = "patient_data"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(200), index=True)
    format: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class _Audited:
    """Columns every audit row has."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column()
    rule_version: Mapped[str] = mapped_column(String(80))
    engine_version: Mapped[str] = mapped_column(String(40))
    as_of: Mapped[date] = mapped_column(Date)


class Screening(_Audited, Base):
    __tablename__ = "screenings"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    patient_data_id: Mapped[int] = mapped_column(ForeignKey("patient_data.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200))
    """Why this screening was made: new data, new answer, re-screen, new rule version."""
    result_json: Mapped[str] = mapped_column(Text)
    """The ScreeningResult contract (``model_dump_json``) exactly as shown."""
    answers_used: Mapped[str] = mapped_column(Text)
    """JSON list of the answer ids that were given to the engine as attestations."""


class Answer(_Audited, Base):
    __tablename__ = "answers"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    criterion_id: Mapped[str] = mapped_column(String(80))
    criterion_text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(String(10))  # yes / no / unknown ("not known")
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id"), nullable=True)


class Signature(_Audited, Base):
    __tablename__ = "signatures"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"))
    role: Mapped[str] = mapped_column(String(20))  # coordinator / investigator
    meaning: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("signatures.id"), nullable=True)
    withdrawn: Mapped[bool] = mapped_column(default=False)


class StatusEvent(_Audited, Base):
    __tablename__ = "status_events"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class RuleReview(_Audited, Base):
    """A reviewer confirming a criterion's reading or marking it wrong (``rule_version`` = the version reviewed;
    ``new_rule_version`` = the version of the reviewed rule file it produced)."""

    __tablename__ = "rule_reviews"
    trial_id: Mapped[str] = mapped_column(String(120), index=True)
    criterion_id: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(10))  # confirm / wrong
    note: Mapped[str] = mapped_column(Text, default="")
    reading: Mapped[str] = mapped_column(Text)
    new_rule_version: Mapped[str] = mapped_column(String(80))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


APPEND_ONLY = (Screening, Answer, Signature, StatusEvent, RuleReview, PatientData)
"""Tables whose rows are never updated or deleted."""
