"""FHIR value sets and datatype readers, shared by the Bundle mapper (:mod:`.fhir`) and the Bulk reader.

Why their own module: the Bundle path (Python, per resource) and the NDJSON path
(:mod:`eligibility.batch.fhir`, SQL over a whole export) must make the same decision for every value --
which answer code means positive, which status voids a resource, how a partial date or an Age is read --
so the tables live once, here, and the SQL macros are written against them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal

from ..data import load_yaml

__all__ = [
    "BUNDLE_TYPES",
    "LOINC",
    "MAPPED_TYPES",
    "SNOMED",
    "UCUM",
]

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"

#: Resource types this adapter reads (Medication only as the target of a reference).
MAPPED_TYPES = frozenset(
    {
        "Patient",
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "MedicationAdministration",
        "Procedure",
        "AllergyIntolerance",
        "Medication",
    }
)
BUNDLE_TYPES = frozenset({"transaction", "collection", "searchset", "batch", "document"})

_SYSTEM_URIS = {
    "loinc": LOINC,
    "snomed": SNOMED,
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "atc": "http://www.whocc.no/atc",
}
_PREFERRED_SYSTEMS: dict[str, tuple[str, ...]] = {
    "Observation": ("loinc",),
    "Condition": ("icd10cm", "snomed"),
    "AllergyIntolerance": ("snomed", "rxnorm"),
    "Medication": ("rxnorm", "atc"),
    "Procedure": ("snomed",),
}

# Exact qualitative answers (lower case, single spaces). Anything else is kept without a result.
_POSITIVE_TEXT = frozenset({"positive", "pos", "detected", "reactive", "present", "pregnant"})
_NEGATIVE_TEXT = frozenset(
    {
        "negative",
        "neg",
        "not detected",
        "undetected",
        "non-reactive",
        "nonreactive",
        "non reactive",
        "not reactive",
        "absent",
        "not present",
        "not pregnant",
    }
)
_ANSWER_CODES: dict[tuple[str, str], Literal["positive", "negative"]] = {
    (SNOMED, "10828004"): "positive",
    (SNOMED, "260385009"): "negative",
    (SNOMED, "260373001"): "positive",  # detected
    (SNOMED, "260415000"): "negative",  # not detected
    (SNOMED, "11214006"): "positive",  # reactive
    (SNOMED, "131194007"): "negative",  # non-reactive
    (SNOMED, "52101004"): "positive",  # present
    (SNOMED, "2667000"): "negative",  # absent
    (SNOMED, "77386006"): "positive",  # pregnant (answer to LOINC 82810-3)
    (SNOMED, "60001007"): "negative",  # not pregnant
    (LOINC, "LA6576-8"): "positive",
    (LOINC, "LA6577-6"): "negative",
    (LOINC, "LA11882-0"): "positive",  # detected
    (LOINC, "LA11883-8"): "negative",  # not detected
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "POS"): "positive",
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "NEG"): "negative",
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "DET"): "positive",
    ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "ND"): "negative",
}
_CONDITION_STATUSES = frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})
_ALLERGY_STATUSES = frozenset({"active", "inactive", "resolved"})

# What an AllergyIntolerance is mirrored as (the condition concept the evaluator matches), from its
# `category` and `type`: "food allergies" and "drug allergy" are decided by them, and both back ends use
# this one table (io/fhir.py in Python, batch/fhir.py as a SQL CASE). Category -> (concept when the type
# says 'allergy', concept when it says 'intolerance' or nothing: an intolerance such as lactose intolerance
# is no allergy, so it is the unclear borderline of the allergy concept, see data/concepts.yaml).
ALLERGY_CATEGORY_CONCEPTS: dict[str, tuple[str, str]] = {
    "food": ("food_allergy", "food_reaction_unclear"),
    "medication": ("drug_allergy", "drug_reaction_unclear"),
    "environment": ("allergy", "allergy"),  # neither a food nor a drug: plain "allergy"
    "biologic": ("allergy", "allergy"),
}
# No category, more than one, or a code outside the FHIR R4 list: it may be to a food or to a drug.
ALLERGY_UNCLASSIFIED = "allergy_unclassified"


@cache
def non_food_allergen_pattern() -> str:
    """A regular expression (Python and DuckDB alike) for ``data/allergen_words.yaml``: whole words."""
    text = resources.files("eligibility.data").joinpath("allergen_words.yaml").read_text(encoding="utf-8")
    words: list[str] = load_yaml(text)["non_food_allergens"]
    return r"\b(" + "|".join(re.escape(w) for w in sorted(words)) + r")\b"


@cache
def local_route_pattern() -> str:
    """A regular expression, the same in Python and in DuckDB (RE2), for a dosage route that says the drug
    was applied locally: the words of ``data/local_routes.yaml`` as whole words of the lower-cased route
    text (its text, and every coding's display, joined by spaces)."""
    text = resources.files("eligibility.data").joinpath("local_routes.yaml").read_text(encoding="utf-8")
    words: list[str] = load_yaml(text)["local_routes"]
    alternatives = "|".join(re.escape(w.lower()).replace(r"\ ", "[ \t]+") for w in sorted(words, key=len, reverse=True))
    return rf"(^|[^a-z0-9_-])({alternatives})($|[^a-z0-9_-])"


def locally_given(routes: Iterable[str]) -> bool:
    """Whether a medication resource was given locally: it states at least one route, and every route it
    states (one string per dosage line: the route's text and codings' displays) is local."""
    stated = [r for r in routes if r.strip(" \t\r\n")]
    return bool(stated) and all(re.search(local_route_pattern(), r.lower()) for r in stated)


def allergy_concept(categories: Iterable[str | None], kind: str | None, text: str | None = None) -> str:
    """The mirror concept of an AllergyIntolerance with these ``category`` codes, this ``type`` and name."""
    found = {c for c in categories if c}
    if len(found) != 1:
        return ALLERGY_UNCLASSIFIED
    category = found.pop()
    pair = ALLERGY_CATEGORY_CONCEPTS.get(category)
    if pair is None:
        return ALLERGY_UNCLASSIFIED
    if category == "food" and text and re.search(non_food_allergen_pattern(), text.lower()):
        return ALLERGY_UNCLASSIFIED  # "food" with a pollen or a mould named: the category is not to be trusted
    return pair[0] if kind == "allergy" else pair[1]


# Statuses whose resources are ignored: the event did not happen (or the record is void).
_VOID_STATUS: dict[str, frozenset[str]] = {
    "Observation": frozenset({"entered-in-error", "cancelled"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationStatement": frozenset({"entered-in-error", "not-taken", "intended"}),
    "MedicationAdministration": frozenset({"entered-in-error", "not-done"}),
    "Procedure": frozenset({"entered-in-error", "not-done", "preparation"}),
}
# Statuses that say the drug is still being taken, so an open end means "ongoing".
_ONGOING_STATUS = {
    "MedicationRequest": "active",
    "MedicationStatement": "active",
    "MedicationAdministration": "in-progress",
}


# -- small readers for FHIR datatypes --------------------------------------------------------------


def _day(value: object) -> date | None:
    """A FHIR date/dateTime/instant as a calendar day; partial dates (kept as strings) give None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def _add_months(start: date, months: int) -> date:
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    for day in range(start.day, 27, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return date(year, month, min(start.day, 28))


def _after(start: date, amount: float, unit: str | None) -> date | None:
    """``start`` + a FHIR Duration/Age; calendar units for months and years; None if unreadable."""
    if not math.isfinite(amount) or amount < 0:
        return None
    unit = (unit or "").strip()
    if unit in ("a", "year", "years", "yr"):
        return _add_months(start, round(amount * 12))
    if unit in ("mo", "month", "months"):
        return _add_months(start, round(amount))
    days = {"wk": 7.0, "week": 7.0, "weeks": 7.0, "d": 1.0, "day": 1.0, "days": 1.0, "h": 1 / 24, "min": 1 / 1440}
    if unit in days:
        return start + timedelta(days=math.ceil(amount * days[unit]))
    return None


def _age_unit(q: Any) -> str | None:
    return str(q.code) if q.code else (str(q.unit) if q.unit else None)


def _quantity_unit(q: Any) -> str | None:
    """UCUM ``code`` when the quantity is UCUM (or says no system), else the display ``unit``."""
    if q.code and (q.system is None or q.system == UCUM):
        return str(q.code)
    if q.unit:
        return str(q.unit)
    return str(q.code) if q.code else None


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _fmt_number(value: float) -> str:
    return f"{value:g}"


def _status_code(cc: Any) -> str | None:
    """The code of a status CodeableConcept (clinicalStatus, verificationStatus)."""
    if cc is None:
        return None
    for coding in cc.coding or ():
        if coding.code:
            return str(coding.code)
    return str(cc.text).strip().lower() if cc.text else None


def _normal_text(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").split()).rstrip(".")


def _concept_text(cc: Any) -> str | None:
    if cc is None:
        return None
    if cc.text:
        return str(cc.text)
    for coding in cc.coding or ():
        if coding.display or coding.code:
            return str(coding.display or coding.code)
    return None


def _text_result(text: str) -> Literal["positive", "negative"] | None:
    t = _normal_text(text)
    if t in _POSITIVE_TEXT:
        return "positive"
    if t in _NEGATIVE_TEXT:
        return "negative"
    return None
