"""The library API: load a trial and a patient, screen, get a result that explains itself.

>>> from datetime import date
>>> from eligibility import load_trial, screen
>>> from eligibility.patient import Patient
>>> result = screen(load_trial("NCT06352281"), Patient(id="p0", birth_date=date(1990, 1, 1), sex="female"),
...                 as_of=date(2026, 1, 1))
>>> result.verdict
'needs-review'
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .concepts import Vocabulary, default_vocabulary
from .errors import InputError
from .evaluate import DEFAULT_LOOKBACK_DAYS, Context, Evidence, Verdict, evaluate
from .logic import Tri
from .patient import Attestation, Patient, patient_from_data, read_json
from .render import render
from .trial import Criterion, Trial

Status = Literal["pass", "fail", "unknown"]


class CriterionResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    status: Status
    explanation: str
    evidence: list[Evidence]
    missing: list[str]
    rule: str
    notes: list[str] = []


class ScreeningResult(BaseModel):
    """One patient against one trial; ``model_dump_json()`` is the CLI's JSON contract."""

    model_config = ConfigDict(frozen=True)
    trial: str
    patient: str
    as_of: date
    verdict: Literal["eligible", "ineligible", "needs-review"]
    criteria: list[CriterionResult]
    notes: list[str] = []


PatientFormat = Literal["native", "fhir"]


def load_patient_with_format(path: str | Path) -> tuple[Patient, PatientFormat]:
    """A patient file and which format it was in, detected by content, not by file name.

    A JSON object with ``"resourceType": "Bundle"`` is a FHIR R4 Bundle (read by
    :mod:`eligibility.io.fhir`); any other ``resourceType`` is refused, since a lone FHIR resource is not a
    patient profile; everything else is the native format. Errors name the file and the field.
    """
    from .io.fhir import bundle_to_patient, is_fhir_bundle

    p = Path(path)
    data = read_json(p)
    if is_fhir_bundle(data):
        return bundle_to_patient(data, origin=str(p), default_id=p.stem), "fhir"
    if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        raise InputError(
            f"a FHIR {data['resourceType']} resource, not a Bundle: wrap the patient's resources in a Bundle",
            str(p),
            "resourceType",
        )
    return patient_from_data(data, str(p)), "native"


def load_patient(path: str | Path) -> Patient:
    """A patient file: the native profile JSON or a FHIR R4 Bundle (see :func:`load_patient_with_format`)."""
    return load_patient_with_format(path)[0]


def criterion_status(kind: str, truth: Tri) -> Status:
    """Inclusion: pass = satisfied. Exclusion: pass = not excluded."""
    if truth is Tri.UNKNOWN:
        return "unknown"
    satisfied = truth is Tri.TRUE
    return "pass" if satisfied == (kind == "inclusion") else "fail"


def _explain(c: Criterion, v: Verdict, status: Status) -> str:
    if status == "unknown":
        return f"unknown: {v.reason}"
    if c.kind == "inclusion":
        return ("met: " if status == "pass" else "not met: ") + v.reason
    return ("excluded: " if status == "fail" else "not excluded: ") + v.reason


def _attestation_mismatch(a: Attestation, c: Criterion, trial_id: str | None) -> str | None:
    """Why an answer keyed by this criterion's id must not be used for it, or None when it applies."""
    if a.trial is None:
        return f"an attestation for {c.id} names no trial, so it was not used (add \"trial\": \"{trial_id}\")"
    if trial_id is not None and a.trial != trial_id:
        return f"the attestation for {c.id} was given for trial {a.trial}, so it was not used here"
    if a.text is not None and " ".join(a.text.split()) != " ".join(c.text.split()):
        return f"the attestation for {c.id} was given for another text of the criterion, so it was not used"
    return None


def screen_criterion(c: Criterion, ctx: Context, trial_id: str | None = None) -> CriterionResult:
    rule_text = c.reading if ctx.vocab is default_vocabulary() else render(c.rule, ctx.vocab)
    verdict = evaluate(c.rule, ctx)
    attested = ctx.patient.attestations.get(c.id)
    refused = None
    if attested is not None:
        refused = _attestation_mismatch(attested, c, trial_id)
        if refused is not None:
            attested = None
    if attested is not None:
        truth = Tri.TRUE if attested.answer == "yes" else Tri.FALSE
        who = f" by {attested.by}" if attested.by else ""
        when = f" on {attested.on}" if attested.on else ""
        reason = f"coordinator answered '{attested.answer}'{who}{when}"
        if attested.note:
            reason += f" ({attested.note})"
        if verdict.truth is not Tri.UNKNOWN and verdict.truth is not truth:
            reason += f"; the records alone said otherwise: {verdict.reason}"
        ev = Evidence(kind="attestation", description=reason, value=attested.answer, date=attested.on)
        verdict = Verdict(truth, reason, evidence=(ev, *verdict.evidence), notes=verdict.notes)
    status = criterion_status(c.kind, verdict.truth)
    notes = list(verdict.notes)
    if refused is not None:
        notes.append(refused)
    if c.note:
        notes.append(c.note)
    missing = list(verdict.missing) if status == "unknown" else []
    # model_construct: every field is built here from typed values; validating again costs a third
    # of a screen.
    return CriterionResult.model_construct(
        id=c.id,
        kind=c.kind,
        text=c.text,
        status=status,
        explanation=_explain(c, verdict, status),
        evidence=list(verdict.evidence),
        missing=missing,
        rule=rule_text,
        notes=notes,
    )


def screen(
    trial: Trial,
    patient: Patient,
    as_of: date | None = None,
    open_world: bool = False,
    vocabulary: Vocabulary | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    context: Context | None = None,
) -> ScreeningResult:
    """Screen one patient: every criterion pass / fail / unknown, and the trial verdict.

    Ineligible if any criterion fails; eligible if all pass; otherwise needs-review.
    ``context``: this patient's :class:`Context` from an earlier screen with the same date and options,
    reused so that one patient against many trials matches each record to concepts once (the trial library).
    """
    vocab = vocabulary or default_vocabulary()
    day = as_of or date.today()
    ctx = context or Context(patient, day, vocab, open_world=open_world, default_lookback_days=lookback_days)
    same = (ctx.patient is patient, ctx.vocab is vocab, ctx.as_of == day, ctx.open_world == open_world)
    if not all(same) or ctx.default_lookback_days != lookback_days:
        raise ValueError("the context was built for another patient, date, vocabulary or options")
    return screening_result(trial, ctx, [screen_criterion(c, ctx, trial.id) for c in trial.criteria])


def screening_result(trial: Trial, ctx: Context, results: list[CriterionResult]) -> ScreeningResult:
    """The trial verdict and notes for the criteria's results (one per criterion of ``trial``, in order)."""
    patient, day = ctx.patient, ctx.as_of
    statuses = {r.status for r in results}
    verdict: Literal["eligible", "ineligible", "needs-review"]
    if "fail" in statuses:
        verdict = "ineligible"
    elif statuses <= {"pass"} and results and not trial.unscreened:
        verdict = "eligible"
    else:
        # Unknown criteria, source text that no criterion screens, or no criteria at all: a person must look.
        verdict = "needs-review"
    notes = [u.describe() for u in trial.unscreened]
    if patient.death_date is not None and patient.death_date <= day:
        # Whatever the criteria say: a deceased patient is never eligible (the statuses stay as read).
        verdict = "ineligible"
        notes.insert(0, f"the patient died on {patient.death_date}: not eligible for any trial")
    elif patient.deceased and patient.death_date is None and verdict == "eligible":
        # The record says the patient died, without a date: the criteria may all pass, a person must check.
        verdict = "needs-review"
        notes.insert(0, "the record says the patient has died (no date): check before any contact")
    if not results:
        notes.append("the trial has no criteria to screen")
    notes += list(patient.notes)
    notes += [
        f"records coded in systems the vocabulary does not know were not matched: {s}" for s in ctx.unknown_systems
    ]
    # model_construct: typed values built here (validating 100 results again costs 2 ms of a library match)
    return ScreeningResult.model_construct(
        trial=trial.id, patient=patient.id, as_of=day, verdict=verdict, criteria=results, notes=notes
    )
