"""Reading and appending the audit trail: cases, patient documents, screenings, answers, signatures, status.

Nothing here updates or deletes an audit row. "Current" answers are those no later answer supersedes;
the superseded ones stay in the table and on the Record page.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InputError
from .db import now
from .models import Answer, Case, PatientData, RuleReview, Screening, Signature, StatusEvent, User

STATUSES = ("pre-screened", "contacted", "consented", "enrolled", "screen-failed")
ANSWERS = ("yes", "no", "unknown")


@dataclass(frozen=True)
class Versions:
    """What every audit row is stamped with."""

    rule_version: str
    engine_version: str
    as_of: date


def _stamped(v: Versions) -> dict[str, object]:
    """The columns every audit row shares, stamped now (UTC)."""
    return {"created_at": now(), "rule_version": v.rule_version, "engine_version": v.engine_version, "as_of": v.as_of}


def get_or_create_case(db: Session, trial_id: str, patient_id: str, user: User) -> Case:
    case = db.scalar(select(Case).where(Case.trial_id == trial_id, Case.patient_id == patient_id))
    if case is None:
        case = Case(trial_id=trial_id, patient_id=patient_id, created_at=now(), created_by=user.id)
        db.add(case)
        db.commit()
    return case


def add_patient_data(db: Session, patient_id: str, fmt: str, source: str, content: str, user: User) -> PatientData:
    """Store a patient document; the same bytes for the same patient are stored once."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    same = db.scalar(
        select(PatientData).where(PatientData.patient_id == patient_id, PatientData.sha256 == digest)
    )
    if same is not None:
        return same
    row = PatientData(
        patient_id=patient_id, format=fmt, source=source[:300], sha256=digest, content=content,
        created_at=now(), created_by=user.id,
    )
    db.add(row)
    db.commit()
    return row


def latest_patient_data(db: Session, patient_id: str) -> PatientData | None:
    return db.scalar(
        select(PatientData).where(PatientData.patient_id == patient_id).order_by(PatientData.id.desc()).limit(1)
    )


def add_screening(
    db: Session, case: Case, data: PatientData, user: User, v: Versions, verdict: str, reason: str,
    result_json: str, answers_used: list[int],
) -> Screening:
    row = Screening(
        case_id=case.id, patient_data_id=data.id, user_id=user.id, verdict=verdict, reason=reason[:200],
        result_json=result_json, answers_used=json.dumps(answers_used), **_stamped(v),
    )
    db.add(row)
    db.commit()
    return row


def screenings(db: Session, case: Case) -> list[Screening]:
    return list(db.scalars(select(Screening).where(Screening.case_id == case.id).order_by(Screening.id)))


def all_answers(db: Session, case: Case) -> list[Answer]:
    return list(db.scalars(select(Answer).where(Answer.case_id == case.id).order_by(Answer.id)))


def current_answers(db: Session, case: Case) -> dict[str, Answer]:
    """Criterion id -> the answer no later answer supersedes."""
    rows = all_answers(db, case)
    superseded = {a.supersedes_id for a in rows if a.supersedes_id is not None}
    return {a.criterion_id: a for a in rows if a.id not in superseded}


def add_answer(
    db: Session, case: Case, criterion_id: str, criterion_text: str, answer: str, note: str, user: User,
    v: Versions,
) -> Answer:
    """Append an answer; an earlier current answer to the same criterion is superseded (and kept)."""
    if answer not in ANSWERS:
        raise InputError(f"answer must be one of {', '.join(ANSWERS)}", field="answer")
    previous = current_answers(db, case).get(criterion_id)
    row = Answer(
        case_id=case.id, criterion_id=criterion_id, criterion_text=criterion_text, answer=answer,
        note=note.strip()[:2000], user_id=user.id, supersedes_id=previous.id if previous else None, **_stamped(v),
    )
    db.add(row)
    db.commit()
    return row


def signatures(db: Session, case: Case) -> list[Signature]:
    return list(db.scalars(select(Signature).where(Signature.case_id == case.id).order_by(Signature.id)))


def add_signature(
    db: Session, case: Case, screening: Screening, role: str, meaning: str, user: User, v: Versions,
    withdraw: Signature | None = None,
) -> Signature:
    row = Signature(
        case_id=case.id, screening_id=screening.id, role=role, meaning=meaning, user_id=user.id,
        supersedes_id=withdraw.id if withdraw else None, withdrawn=withdraw is not None, **_stamped(v),
    )
    db.add(row)
    db.commit()
    return row


def status_events(db: Session, case: Case) -> list[StatusEvent]:
    return list(db.scalars(select(StatusEvent).where(StatusEvent.case_id == case.id).order_by(StatusEvent.id)))


def add_status(db: Session, case: Case, status: str, reason: str, user: User, v: Versions) -> StatusEvent:
    if status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}", field="status")
    if status == "screen-failed" and not reason.strip():
        raise InputError("a screen failure needs its reason", field="reason")
    row = StatusEvent(
        case_id=case.id, status=status, reason=reason.strip()[:2000], user_id=user.id, **_stamped(v),
    )
    db.add(row)
    db.commit()
    return row


def add_review(
    db: Session, trial_id: str, criterion_id: str, action: str, note: str, reading: str, new_version: str,
    user: User, v: Versions,
) -> RuleReview:
    if action not in ("confirm", "wrong"):
        raise InputError("action must be confirm or wrong", field="action")
    row = RuleReview(
        trial_id=trial_id, criterion_id=criterion_id, action=action, note=note.strip()[:2000], reading=reading,
        new_rule_version=new_version, user_id=user.id, **_stamped(v),
    )
    db.add(row)
    db.commit()
    return row


def reviews(db: Session, trial_id: str) -> list[RuleReview]:
    return list(db.scalars(select(RuleReview).where(RuleReview.trial_id == trial_id).order_by(RuleReview.id)))


def user_names(db: Session) -> dict[int, str]:
    return {u.id: u.name for u in db.scalars(select(User))}
