"""The native patient profile.

A deliberately small, explicit model: what the evaluator needs and nothing else. FHIR and
registry adapters map into it. Records name a vocabulary concept directly (``concept``), or carry a
code with its system (``system`` + ``code``) that the vocabulary maps to concepts, or both.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .errors import InputError

SexValue = Literal["male", "female", "other", "unknown"]
SEXES: tuple[SexValue, ...] = ("male", "female", "other", "unknown")

#: Why a value below zero is not used: no analyte the vocabulary knows can be negative (counts,
#: concentrations, scores), so a negative number is a data error, and read literally it would pass every
#: "< N" and fail every ">= N". Every input path uses this wording in its note or reject.
BELOW_ZERO = "below zero: not a measurement"
#: Why a reference range is not used: an inverted range (low > high), an upper limit at or below zero or a
#: negative lower limit cannot be anyone's normal range, and "> 3 x ULN" against ULN 0 is met by any value.
BAD_RANGE = "reference range is inverted or not above zero: not used (kept without the range)"


def untrusted_range(low: float | None, high: float | None) -> bool:
    """Whether a reference range (in the value's unit) cannot be trusted for ULN/LLN multiples."""
    return (
        (high is not None and high <= 0)
        or (low is not None and low < 0)
        or (low is not None and high is not None and low > high)
    )


def _finite(value: object) -> object:
    """Refuse what pydantic would otherwise turn into a float that decides criteria: ``true`` (1.0),
    NaN, infinities and numbers too large for a float (JSON ``1e400`` reads as infinity), also as text."""
    if isinstance(value, bool):
        raise ValueError(f"a number is needed, not {str(value).lower()}")
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value) if not isinstance(value, int) or abs(value) < 1 << 1000 else math.inf
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value  # pydantic reports it as not a number
    if number is not None and not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return value


FiniteFloat = Annotated[float, BeforeValidator(_finite)]


def _plain_number(value: object) -> TypeGuard[float]:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int past float range (the field's own validation refuses it)
        return False


_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: object) -> object:
    """A native date is ``YYYY-MM-DD`` text (or a date): pydantic alone reads ``0`` and digit strings as
    Unix timestamps ("0" is 1970-01-01) and accepts datetimes; a partial date ("1984") is not a day (it
    could be wrong by a year, which decides an age limit)."""
    if isinstance(value, date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DAY_RE.fullmatch(value):
        if value.startswith("0000"):
            raise ValueError(f"'{value}': year 0 is not a date (years run 0001-9999)")
        return value  # (pydantic checks the month and day)
    if isinstance(value, str) and re.fullmatch(r"\d{4}(-\d{2})?", value):
        raise ValueError(f"'{value}' is a partial date; a full date YYYY-MM-DD is needed")
    shown = repr(value) if not isinstance(value, str) else f"'{value[:40]}'"
    raise ValueError(f"{shown} is not a date: write YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(_day)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    concept: str | None = Field(default=None, description="Vocabulary concept id, e.g. 'platelets'.")
    system: str | None = Field(
        default=None, description="Code system: loinc, icd10cm, snomed, rxnorm, atc (or a FHIR system URI)."
    )
    code: str | None = None
    text: str | None = Field(default=None, description="Free-text name as recorded.")
    source: str | None = Field(default=None, description="Where the record came from (file, resource id).")

    @model_validator(mode="after")
    def _identified(self) -> _Record:
        if self.concept is None and self.code is None and self.text is None:
            raise ValueError("a record needs a concept, a code or a text")
        return self


class Observation(_Record):
    """A lab, vital or score: numeric (value + unit) or qualitative (result)."""

    value: FiniteFloat | None = None
    unit: str | None = None
    result: Literal["positive", "negative"] | None = None
    effective: Day | None = None
    ref_low: FiniteFloat | None = Field(default=None, description="Reference range low, in the value's unit.")
    ref_high: FiniteFloat | None = Field(default=None, description="Reference range high, in the value's unit.")


class ConditionRecord(_Record):
    onset: Day | None = None
    abatement: Day | None = None
    status: Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved", "unknown"] = Field(
        default="active", description="Clinical status; 'unknown' when the source gave one that could not be read."
    )


class MedicationRecord(_Record):
    """Exposure to a drug over ``start``..``end`` (inclusive).

    ``end`` None means *ongoing*, so a source that only says "ordered on X, since stopped" must not
    put X in ``start`` with no ``end``: that would claim exposure up to the screening date. Such a
    record keeps ``start`` empty (the evaluator then says unknown, as for any missing date) and X in
    ``authored``, which is information for people and is never read as an exposure date.
    """

    start: Day | None = None
    end: Day | None = Field(default=None, description="Last day taken (inclusive); none = ongoing.")
    authored: Day | None = Field(
        default=None,
        description="When the order or statement was written (FHIR authoredOn / dateAsserted); not an exposure date.",
    )


class ProcedureRecord(_Record):
    date: Day | None = None


class AllergyRecord(_Record):
    """An allergy or intolerance (FHIR AllergyIntolerance): the substance, how bad, since when.

    Kept apart from conditions because criticality and the substance code are allergy-specific. The
    evaluator matches conditions only, so the FHIR adapter also records each allergy as a condition
    (concept ``allergy``) so that "history of allergy" sees it.
    """

    criticality: Literal["low", "high", "unable-to-assess"] | None = None
    onset: Day | None = None
    status: Literal["active", "inactive", "resolved", "unknown"] = "active"


class Attestation(BaseModel):
    """A coordinator's answer to a criterion read as a yes/no question about the patient.

    ``answer`` is the truth of the criterion *text*: for an exclusion, "yes" means the exclusion
    applies (the patient fails it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    answer: Literal["yes", "no"]
    trial: str | None = None
    """The trial the answer was given for. Criterion ids repeat across trials ("E12"), so an answer is
    used only for the trial it names; one that names none is not used (the result says so)."""
    text: str | None = None
    """Optionally the criterion text the answer was given for: if the trial's text for that id differs (a
    new protocol version), the answer is not used."""
    by: str | None = None
    on: Day | None = None
    note: str | None = None


class ObservationPeriod(BaseModel):
    """A span of time in which the source would have recorded the patient's care (OMOP ``observation_period``).

    Why the evaluator needs it: "no record of X" only shows absence while someone was recording. A patient
    whose ``observation_periods`` are given (not None) is closed world only for a criterion whose window
    lies inside one period; outside, absence is unknown.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: date
    end: date


class Patient(BaseModel):
    """One patient's profile as the evaluator reads it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    birth_date: Day | None = None
    sex: SexValue | None = None
    observations: tuple[Observation, ...] = ()
    conditions: tuple[ConditionRecord, ...] = ()
    medications: tuple[MedicationRecord, ...] = ()
    procedures: tuple[ProcedureRecord, ...] = ()
    allergies: tuple[AllergyRecord, ...] = ()
    attestations: dict[str, Attestation] = Field(default_factory=dict)
    observation_periods: tuple[ObservationPeriod, ...] | None = Field(
        default=None,
        description="When the source was recording this patient; None = not stated (absence is then read "
        "as the criterion's closed or open world says, as before).",
    )
    death_date: date | None = Field(default=None, description="Date of death: never eligible from that day.")
    deceased: bool = Field(
        default=False, description="Recorded as deceased without a usable date: never eligible without a check."
    )
    notes: tuple[str, ...] = Field(
        default=(),
        description="Data-quality notes from the adapter that built the profile (what it skipped or could "
        "not read); screening results repeat them.",
    )

    @model_validator(mode="before")
    @classmethod
    def _below_zero(cls, data: Any) -> Any:
        """A native observation value below zero is kept without its value, with a note (as the FHIR and
        registry readers do), so the criterion on it is unknown, never decided by the bad number."""
        if not isinstance(data, dict) or not isinstance(data.get("observations"), list | tuple):
            return data
        observations, notes = [], []
        for i, obs in enumerate(data["observations"]):
            if not isinstance(obs, dict):
                observations.append(obs)
                continue
            label = obs.get("concept") or obs.get("text") or f"{obs.get('system')} {obs.get('code')}"
            value = obs.get("value")
            if _plain_number(value) and value < 0:
                notes.append(f"observations.{i}.value {value} ({label}) is {BELOW_ZERO} (kept without a value)")
                obs = {**obs, "value": None}
            low, high = obs.get("ref_low"), obs.get("ref_high")
            if all(b is None or _plain_number(b) for b in (low, high)) and untrusted_range(low, high):
                shown = f"{'' if low is None else low}..{'' if high is None else high}"
                notes.append(f"observations.{i} ({label}): {BAD_RANGE.replace('range', f'range {shown}', 1)}")
                obs = {**obs, "ref_low": None, "ref_high": None}
            observations.append(obs)
        old = data.get("notes", ())
        if not notes or not isinstance(old, list | tuple):
            return data  # (notes of the wrong type are reported by the field's own validation)
        return {**data, "observations": observations, "notes": [*old, *notes]}


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def read_json(path: str | Path) -> object:
    """Read one JSON file (or a gzipped one, ``.gz``); every failure is an :class:`InputError` naming the file."""
    from .io.files import parse_json, read_text  # (gzipped exports: Synthea bundles are shared that way)

    return parse_json(read_text(path), str(Path(path)))


def patient_from_data(data: object, origin: str) -> Patient:
    """Validate already parsed native patient JSON; errors name ``origin`` and the field.

    A record's ``concept`` must be a concept id of the vocabulary: a misspelt one would make the record
    match nothing, and closed world would then read "no record of ..." -- so it is an input error.
    """
    try:
        patient = Patient.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], origin, _field_path(first["loc"])) from None
    _check_concepts(patient, origin)
    return with_allergy_mirrors(patient)


#: The mirror text of an allergy (io/fhir.py writes the same): "allergy: <substance>".
def _mirror_text(allergy: AllergyRecord) -> str:
    return f"allergy: {allergy.text}" if allergy.text else "allergy"


def with_allergy_mirrors(patient: Patient) -> Patient:
    """The patient with each allergy also recorded as a condition, as the FHIR adapter records it.

    Why: the evaluator reads allergies from conditions (their mirrors carry the kind and the substance), so a
    native file's ``allergies`` alone were never seen, and "no drug allergy" or "no allergy to metformin" read
    'no' for a patient who has one. An allergy whose mirror is already there (a file written from a FHIR
    read) is not mirrored twice. A native allergy without a kind (no concept, or plain ``allergy``) is
    ``allergy_unclassified``: it may be to a food or a drug."""
    if not patient.allergies:
        return patient
    present = {(c.system, c.code, c.text, c.source) for c in patient.conditions if c.concept is not None}
    mirrors = tuple(
        ConditionRecord(
            concept=a.concept if a.concept not in (None, "allergy") else "allergy_unclassified",
            system=a.system,
            code=a.code,
            text=_mirror_text(a),
            source=a.source,
            onset=a.onset,
            status=a.status,
        )
        for a in patient.allergies
        if (a.system, a.code, _mirror_text(a), a.source) not in present
    )
    if not mirrors:
        return patient
    return patient.model_copy(update={"conditions": (*patient.conditions, *mirrors)})


def _check_concepts(patient: Patient, origin: str) -> None:
    import difflib

    from .concepts import default_vocabulary

    vocab = default_vocabulary()
    kinds = ("observations", "conditions", "medications", "procedures", "allergies")
    for kind in kinds:
        for i, rec in enumerate(getattr(patient, kind)):
            if rec.concept is not None and rec.concept not in vocab:
                close = difflib.get_close_matches(rec.concept, list(vocab.concepts), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise InputError(
                    f"unknown concept '{rec.concept}': not a concept id of the vocabulary{hint}",
                    origin,
                    f"{kind}.{i}.concept",
                )


def load_patient_json(path: str | Path) -> Patient:
    """Read a native patient file; errors name the file and the field."""
    return patient_from_data(read_json(path), str(Path(path)))


def patient_schema() -> dict[str, object]:
    """JSON Schema of the native patient format (``eligibility schema patient``)."""
    return Patient.model_json_schema()
