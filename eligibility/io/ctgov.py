"""Read ClinicalTrials.gov study records (API v2 JSON) into :class:`StudyRecord` objects.

Registry data is messy (ages of "130 Years", missing maxima), so the reader normalises what it safely can and
records each decision in ``notes`` instead of hiding it; structurally broken files raise :class:`InputError`
naming the path and the JSON field, so a user can fix the file. Splitting the ``eligibilityCriteria`` text into
single criteria is :mod:`eligibility.io.criteria_text` (re-exported here as :func:`split_criteria`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from eligibility.errors import InputError
from eligibility.io.criteria_text import RawCriterion, split_criteria
from eligibility.io.files import parse_json, read_text

__all__ = [
    "AgeLimit",
    "RawCriterion",
    "StudyRecord",
    "parse_age_limit",
    "read_ctgov_json",
    "split_criteria",
]

Sex = Literal["ALL", "FEMALE", "MALE"]
AgeUnit = Literal["years", "months", "weeks", "days"]


# --------------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------------


class AgeLimit(BaseModel):
    """An age bound as CT.gov states it; the unit is kept so that '8 Months' is not rounded to 0 years."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    unit: AgeUnit
    text: str

    def in_years(self) -> float:
        """The bound in years, for comparison with a patient's age (365.25-day years, 12 months a year)."""
        factor = {"years": 1.0, "months": 1.0 / 12.0, "weeks": 7.0 / 365.25, "days": 1.0 / 365.25}
        return self.value * factor[self.unit]


class StudyRecord(BaseModel):
    """The parts of a CT.gov study the pre-screening engine needs, normalised, with data-quality notes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nct_id: str
    title: str | None = None
    criteria_text: str = ""
    minimum_age: AgeLimit | None = None
    maximum_age: AgeLimit | None = None
    sex: Sex | None = None
    healthy_volunteers: bool | None = None
    conditions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def criteria(self) -> list[RawCriterion]:
        """Split this study's criteria text (convenience for callers holding a record)."""
        return split_criteria(self.criteria_text)


# --------------------------------------------------------------------------------------------------------
# Ages
# --------------------------------------------------------------------------------------------------------

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
_AGE_UNITS: dict[str, tuple[AgeUnit, float]] = {
    "year": ("years", 1.0),
    "years": ("years", 1.0),
    "yr": ("years", 1.0),
    "yrs": ("years", 1.0),
    "y": ("years", 1.0),
    "month": ("months", 1.0),
    "months": ("months", 1.0),
    "mo": ("months", 1.0),
    "mos": ("months", 1.0),
    "week": ("weeks", 1.0),
    "weeks": ("weeks", 1.0),
    "wk": ("weeks", 1.0),
    "wks": ("weeks", 1.0),
    "day": ("days", 1.0),
    "days": ("days", 1.0),
    "d": ("days", 1.0),
    # CT.gov also allows hours and minutes (neonatal trials); they are expressed in days.
    "hour": ("days", 1.0 / 24.0),
    "hours": ("days", 1.0 / 24.0),
    "minute": ("days", 1.0 / 1440.0),
    "minutes": ("days", 1.0 / 1440.0),
}
# Values CT.gov (or the legacy XML) uses to say "no limit"; the reader maps them to None.
_NO_AGE = {"", "n/a", "na", "none", "no limit", "not applicable"}
# Above this, a maximum age is a placeholder for "no upper limit" rather than a real bound.
_IMPLAUSIBLE_MAX_YEARS = 120.0


def parse_age_limit(text: str) -> AgeLimit:
    """Parse a CT.gov age such as '8 Years', '8 Months', '6 Weeks', '0 Years'.

    Strict on purpose: 'N/A', a bare number or an unknown unit raise :class:`InputError`, because guessing a
    unit could include a child in an adult trial. :func:`read_ctgov_json` maps the registry's "no limit"
    spellings ('N/A', absent field) to ``None`` before calling this. Hours and minutes are converted to days
    (``text`` keeps the original).
    """
    match = _AGE_RE.match(text)
    if match is None:
        raise InputError(f"cannot read age limit {text!r} (expected e.g. '18 Years' or '8 Months')")
    unit = _AGE_UNITS.get(match.group(2).lower())
    if unit is None:
        raise InputError(f"unknown unit in age limit {text!r}")
    name, factor = unit
    return AgeLimit(value=float(match.group(1)) * factor, unit=name, text=text.strip())


# --------------------------------------------------------------------------------------------------------
# JSON reader
# --------------------------------------------------------------------------------------------------------

_NCT_RE = re.compile(r"^NCT\d{8}$")


def read_ctgov_json(path: str | Path) -> list[StudyRecord]:
    """Read a CT.gov API v2 study file into :class:`StudyRecord` objects.

    Accepts a single study object, the JSON array the site's "Download -> JSON" gives, or
    ``{"studies": [...]}`` as the API returns. A malformed file raises :class:`InputError` naming the path
    and the field (e.g. ``studies[3].protocolSection.identificationModule.nctId``) so the user can fix it.
    """
    where = str(path)
    data: Any = parse_json(read_text(path, "utf-8-sig"), where)

    items: list[tuple[str, Any]]
    if isinstance(data, list):
        items = [(f"[{i}]", study) for i, study in enumerate(data)]
    elif isinstance(data, dict) and "studies" in data:
        studies = data["studies"]
        if not isinstance(studies, list):
            raise InputError("expected a list of studies", where, "studies")
        items = [(f"studies[{i}]", study) for i, study in enumerate(studies)]
    elif isinstance(data, dict) and "protocolSection" in data:
        items = [("", data)]
    else:
        raise InputError("expected a study object, an array of studies or {'studies': [...]}", where, None)
    return [_read_study(study, where, prefix) for prefix, study in items]


def _field(prefix: str, name: str) -> str:
    """Join JSON field names the way the error messages show them ('studies[0].protocolSection')."""
    return f"{prefix}.{name}" if prefix else name


def _get_object(container: dict[str, Any], key: str, where: str, name: str, required: bool) -> dict[str, Any]:
    """Fetch a JSON object member; absent optional modules read as empty, wrong types are errors."""
    value = container.get(key)
    if value is None:
        if required:
            raise InputError("required field is missing", where, name)
        return {}
    if not isinstance(value, dict):
        raise InputError(f"expected an object, got {type(value).__name__}", where, name)
    return value


def _get_str(container: dict[str, Any], key: str, where: str, name: str) -> str | None:
    """Fetch an optional string member; a number or list where text belongs means a broken file."""
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", where, name)
    return value


def _read_study(study: Any, where: str, prefix: str) -> StudyRecord:
    """Validate one study object and normalise the eligibility fields, collecting data-quality notes."""
    if not isinstance(study, dict):
        raise InputError(f"expected a study object, got {type(study).__name__}", where, prefix or None)
    ps_name = _field(prefix, "protocolSection")
    protocol = _get_object(study, "protocolSection", where, ps_name, required=True)
    id_name = f"{ps_name}.identificationModule"
    ident = _get_object(protocol, "identificationModule", where, id_name, required=True)
    nct_id = _get_str(ident, "nctId", where, f"{id_name}.nctId")
    if nct_id is None:
        raise InputError("required field is missing", where, f"{id_name}.nctId")
    if not _NCT_RE.match(nct_id.strip()):
        raise InputError(f"not an NCT number: {nct_id!r}", where, f"{id_name}.nctId")
    title = _get_str(ident, "briefTitle", where, f"{id_name}.briefTitle")
    if title is None:
        title = _get_str(ident, "officialTitle", where, f"{id_name}.officialTitle")

    el_name = f"{ps_name}.eligibilityModule"
    elig = _get_object(protocol, "eligibilityModule", where, el_name, required=False)
    criteria = _get_str(elig, "eligibilityCriteria", where, f"{el_name}.eligibilityCriteria") or ""
    notes: list[str] = []
    if not criteria.strip():
        notes.append("no eligibility criteria text")

    minimum = _read_age(elig, "minimumAge", where, el_name, notes)
    maximum = _read_age(elig, "maximumAge", where, el_name, notes)
    if minimum is not None and minimum.value == 0:
        notes.append(f"minimum age {minimum.text}: no lower limit")
        minimum = None
    if maximum is not None and maximum.in_years() > _IMPLAUSIBLE_MAX_YEARS:
        notes.append(f"maximum age {maximum.text} is implausible; treated as no upper limit")
        maximum = None
    if maximum is not None and maximum.value == 0:
        notes.append(f"maximum age {maximum.text} excludes everyone; check the record")
    if minimum is not None and maximum is not None and minimum.in_years() > maximum.in_years():
        notes.append(f"minimum age {minimum.text} exceeds maximum age {maximum.text}; check the record")

    sex_raw = _get_str(elig, "sex", where, f"{el_name}.sex")
    sex: Sex | None = None
    if sex_raw is not None:
        upper = sex_raw.strip().upper()
        if upper == "ALL":
            sex = "ALL"
        elif upper == "FEMALE":
            sex = "FEMALE"
        elif upper == "MALE":
            sex = "MALE"
        else:
            raise InputError(f"expected ALL, FEMALE or MALE, got {sex_raw!r}", where, f"{el_name}.sex")

    healthy = elig.get("healthyVolunteers")
    healthy_volunteers: bool | None
    if healthy is None or isinstance(healthy, bool):
        healthy_volunteers = healthy
    elif isinstance(healthy, str) and healthy.strip().lower() in {"yes", "no", "true", "false"}:
        # The legacy XML and some exports spell the flag as text.
        healthy_volunteers = healthy.strip().lower() in {"yes", "true"}
    else:
        raise InputError(f"expected true or false, got {healthy!r}", where, f"{el_name}.healthyVolunteers")

    return StudyRecord(
        nct_id=nct_id.strip(),
        title=title,
        criteria_text=criteria,
        minimum_age=minimum,
        maximum_age=maximum,
        sex=sex,
        healthy_volunteers=healthy_volunteers,
        conditions=_read_conditions(protocol, where, ps_name),
        notes=tuple(notes),
    )


def _read_conditions(protocol: dict[str, Any], where: str, ps_name: str) -> tuple[str, ...]:
    """``conditionsModule.conditions``: what the trial studies, as the registry names it (for listing trials)."""
    name = f"{ps_name}.conditionsModule"
    module = _get_object(protocol, "conditionsModule", where, name, required=False)
    items = module.get("conditions") or []
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise InputError("expected a list of strings", where, f"{name}.conditions")
    return tuple(x.strip() for x in items if x.strip())


def _read_age(elig: dict[str, Any], key: str, where: str, el_name: str, notes: list[str]) -> AgeLimit | None:
    """Read one age bound; registry spellings of "no limit" become None with a note, garbage is an error."""
    name = f"{el_name}.{key}"
    raw = _get_str(elig, key, where, name)
    if raw is None:
        return None
    if raw.strip().lower() in _NO_AGE:
        label = "minimum" if key == "minimumAge" else "maximum"
        notes.append(f"{label} age {raw.strip() or 'empty'}: no limit")
        return None
    try:
        return parse_age_limit(raw)
    except InputError as exc:
        raise InputError(exc.message, where, name) from exc
