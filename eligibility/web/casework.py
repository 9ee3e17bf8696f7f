"""The screening work behind the pages: read a patient document, apply the coordinator's answers, screen,
rank the open questions by how much each would settle, preview an answer, and compare two screenings.

Pure functions of their inputs (no database, no web): the routes store what these compute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from .. import __version__
from ..api import ScreeningResult, criterion_status, screen
from ..errors import InputError
from ..io.fhir import bundle_to_patient, is_fhir_bundle
from ..library import LibraryTrial, TrialLibrary
from ..logic import Tri
from ..patient import Attestation, Patient, patient_from_data

ENGINE_VERSION = __version__
Answered = Literal["yes", "no", "unknown"]


def read_patient_document(content: str, origin: str) -> tuple[Patient, str]:
    """A FHIR Bundle or native patient JSON (by content); errors name ``origin`` and the field."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", origin) from None
    if is_fhir_bundle(data):
        return bundle_to_patient(data, origin=origin), "fhir"
    if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        raise InputError(f"a FHIR {data['resourceType']} resource, not a Bundle", origin, "resourceType")
    return patient_from_data(data, origin), "native"


@dataclass(frozen=True)
class GivenAnswer:
    """An answer as the engine gets it: which criterion, yes/no, who and when."""

    criterion: str
    text: str
    answer: Answered
    by: str
    on: date
    note: str = ""


def with_answers(patient: Patient, trial_id: str, answers: list[GivenAnswer]) -> Patient:
    """The patient with the worksheet's yes/no answers as attestations for this trial ("not known" adds none)."""
    attest = dict(patient.attestations)
    for a in answers:
        if a.answer == "unknown":
            attest.pop(a.criterion, None)
            continue
        attest[a.criterion] = Attestation(
            answer=a.answer, trial=trial_id, text=a.text, by=a.by, on=a.on, note=a.note or None
        )
    return patient.model_copy(update={"attestations": attest})


def run(library: TrialLibrary, entry: LibraryTrial, patient: Patient, as_of: date) -> ScreeningResult:
    return screen(entry.trial, patient, as_of=as_of, vocabulary=library.vocabulary)


def answered_status(kind: str, answer: str) -> str:
    """The status an answer gives a criterion (yes = the criterion's text is true of the patient)."""
    return criterion_status(kind, Tri.TRUE if answer == "yes" else Tri.FALSE)


@dataclass(frozen=True)
class QuestionView:
    criterion: str
    kind: str
    text: str
    explanation: str
    missing: list[str]
    if_yes: str
    if_no: str
    settles: int
    """How many of the two answers would settle the trial's verdict (0, 1 or 2)."""
    also_open_in: list[str] = field(default_factory=list)
    """Other trials of the library the candidate may fit where a criterion of the same text is open too."""


def _same_text(text: str) -> str:
    return " ".join(text.lower().split())


def ranked_questions(
    library: TrialLibrary, entry: LibraryTrial, patient: Patient, as_of: date, answers: list[GivenAnswer],
    current: ScreeningResult, others: Sequence[ScreeningResult] = (),
) -> list[QuestionView]:
    """The unknown criteria as questions, the ones whose answer would settle the most first.

    For each, both answers are tried (what-if): a question either answer of which settles the verdict
    comes first, then those one answer settles, then the rest. Among equals, a question that is also open
    (same criterion text) in more of the other trials the candidate may fit (``others``) comes first: the
    patient is asked once. Then fewer missing data, then the trial's order.
    """
    open_elsewhere: dict[str, list[str]] = {}
    for other in others:
        for oc in other.criteria:
            if oc.status == "unknown":
                open_elsewhere.setdefault(_same_text(oc.text), []).append(other.trial)
    out: list[QuestionView] = []
    base = list(answers)
    for c in current.criteria:
        if c.status != "unknown":
            continue
        verdicts: dict[str, str] = {}
        for ans in ("yes", "no"):  # what-if both answers
            trial_answer = GivenAnswer(c.id, c.text, ans, "what-if", as_of)
            verdicts[ans] = run(library, entry, with_answers(patient, entry.id, [*base, trial_answer]), as_of).verdict
        settles = sum(1 for v in verdicts.values() if v != "needs-review")
        elsewhere = sorted(set(open_elsewhere.get(_same_text(c.text), [])) - {entry.id})
        out.append(
            QuestionView(
                c.id, c.kind, c.text, c.explanation, list(c.missing), verdicts["yes"], verdicts["no"], settles,
                elsewhere,
            )
        )
    order = {q.criterion: i for i, q in enumerate(out)}
    return sorted(out, key=lambda q: (-q.settles, -len(q.also_open_in), len(q.missing), order[q.criterion]))


@dataclass(frozen=True)
class Contradiction:
    criterion: str
    answer: str
    records_status: str
    records_explanation: str


def contradictions(records_only: ScreeningResult, answers: list[GivenAnswer]) -> dict[str, Contradiction]:
    """Answers the records alone disagree with (the records decided the criterion the other way)."""
    by_id = {c.id: c for c in records_only.criteria}
    out: dict[str, Contradiction] = {}
    for a in answers:
        c = by_id.get(a.criterion)
        if c is None or a.answer == "unknown" or c.status == "unknown":
            continue
        if answered_status(c.kind, a.answer) != c.status:
            out[a.criterion] = Contradiction(a.criterion, a.answer, c.status, c.explanation)
    return out


@dataclass(frozen=True)
class Change:
    criterion: str
    before: str
    after: str
    explanation: str


@dataclass(frozen=True)
class Diff:
    """What changed between two screenings of one case, and why it may have."""

    verdict_before: str
    verdict_after: str
    changes: list[Change] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)


def diff(
    before: ScreeningResult, after: ScreeningResult, *, new_data: bool, new_answers: bool, new_rules: bool,
    new_engine: bool,
) -> Diff:
    old = {c.id: c for c in before.criteria}
    changes = []
    for c in after.criteria:
        prev = old.get(c.id)
        if prev is None:
            changes.append(Change(c.id, "(new criterion)", c.status, c.explanation))
        elif prev.status != c.status or prev.explanation != c.explanation:
            changes.append(Change(c.id, prev.status, c.status, c.explanation))
    for cid in old.keys() - {c.id for c in after.criteria}:
        changes.append(Change(cid, old[cid].status, "(criterion removed)", ""))
    causes = [
        why
        for flag, why in (
            (new_data, "new patient data"),
            (new_answers, "new or corrected answers"),
            (new_rules, "a new rule version of the trial"),
            (new_engine, "a new engine version"),
            (before.as_of != after.as_of, f"a new screening date ({before.as_of} -> {after.as_of})"),
        )
        if flag
    ]
    return Diff(before.verdict, after.verdict, changes, causes)
