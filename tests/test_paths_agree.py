"""Property (issue 15): a native JSON patient and the FHIR Bundle built from the same values -- bad
ones included (negative or non-finite results, impossible reference ranges, a birth after the screening
date, a death before it) -- are refused together or give the same status for every criterion."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.api import screen
from eligibility.errors import InputError
from eligibility.io.fhir import bundle_to_patient
from eligibility.parse import parse_criterion
from eligibility.patient import patient_from_data
from eligibility.trial import Criterion, Trial

AS_OF = date(2026, 1, 15)
TEXTS = [
    ("inclusion", "Age >= 18 years"),
    ("inclusion", "Platelets >= 100 x 10^9/L"),
    ("exclusion", "ALT > 3 x ULN"),
    ("exclusion", "Current heart failure"),
    ("exclusion", "Aspirin within 2 weeks"),
    ("inclusion", "Male"),
]
TRIAL = Trial(
    id="T1",
    criteria=tuple(
        Criterion(id=f"C{i}", kind=kind, text=text, rule=parse_criterion(text)) for i, (kind, text) in enumerate(TEXTS)
    ),
)
DAYS = st.one_of(st.none(), st.integers(-400, 60).map(lambda d: AS_OF + timedelta(days=d)))
NUMBERS = st.one_of(
    st.none(),
    st.sampled_from([-5.0, -0.5, 0.0, 10.0, 40.0, 99.9, 100.0, 150.0, 1e6, float("nan"), float("inf")]),
)
LOINC = "http://loinc.org"


@st.composite
def values(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "birth": draw(st.one_of(st.none(), st.integers(-30, 80).map(lambda y: date(AS_OF.year - y, 6, 1)))),
        "sex": draw(st.sampled_from([None, "male", "female", "other"])),
        "death": draw(st.one_of(st.none(), st.integers(-400, 400).map(lambda d: AS_OF + timedelta(days=d)))),
        "labs": draw(
            st.lists(st.tuples(st.sampled_from(["777-3", "1742-6"]), NUMBERS, NUMBERS, NUMBERS, DAYS), max_size=3)
        ),
        "hf": draw(st.lists(st.tuples(DAYS, DAYS), max_size=2)),
        "aspirin": draw(st.lists(st.tuples(DAYS, DAYS), max_size=2)),
    }


def native(v: dict[str, Any]) -> dict[str, Any]:
    units = {"777-3": "10*9/L", "1742-6": "U/L"}
    data: dict[str, Any] = {"id": "p1", "birth_date": v["birth"] and v["birth"].isoformat(), "sex": v["sex"]}
    if v["death"] is not None:
        data["death_date"] = v["death"].isoformat()
    data["observations"] = [
        {"system": "loinc", "code": code, "value": value, "unit": units[code], "ref_low": low, "ref_high": high,
         "effective": day and day.isoformat()}
        for code, value, low, high, day in v["labs"]
        if value is not None
    ]  # fmt: skip
    data["conditions"] = [
        {"system": "icd10cm", "code": "I50.9", "onset": s and s.isoformat(), "abatement": e and e.isoformat(),
         "status": "active" if e is None else "resolved"}
        for s, e in v["hf"]
    ]  # fmt: skip
    data["medications"] = [
        {"system": "atc", "code": "B01AC06", "start": s.isoformat(), "end": e and e.isoformat()}
        for s, e in v["aspirin"]
        if s is not None
    ]
    return data


def bundle(v: dict[str, Any]) -> dict[str, Any]:
    units = {"777-3": "10*9/L", "1742-6": "U/L"}
    pat: dict[str, Any] = {"resourceType": "Patient", "id": "p1"}
    if v["birth"] is not None:
        pat["birthDate"] = v["birth"].isoformat()
    if v["sex"] is not None:
        pat["gender"] = v["sex"]
    if v["death"] is not None:
        pat["deceasedDateTime"] = v["death"].isoformat()
    entries: list[dict[str, Any]] = [{"resource": pat}]
    subject = {"reference": "Patient/p1"}
    for i, (code, value, low, high, day) in enumerate(v["labs"]):
        if value is None:
            continue
        obs: dict[str, Any] = {
            "resourceType": "Observation", "id": f"o{i}", "status": "final", "subject": subject,
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": {"value": value, "unit": units[code]},
        }  # fmt: skip
        if day is not None:
            obs["effectiveDateTime"] = day.isoformat()
        rng = {k: {"value": b, "unit": units[code]} for k, b in (("low", low), ("high", high)) if b is not None}
        if rng:
            obs["referenceRange"] = [rng]
        entries.append({"resource": obs})
    for i, (s, e) in enumerate(v["hf"]):
        cond: dict[str, Any] = {
            "resourceType": "Condition", "id": f"c{i}", "subject": subject,
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.9"}]},
            "clinicalStatus": {"coding": [{"code": "active" if e is None else "resolved"}]},
        }  # fmt: skip
        if s is not None:
            cond["onsetDateTime"] = s.isoformat()
        if e is not None:
            cond["abatementDateTime"] = e.isoformat()
        entries.append({"resource": cond})
    for i, (s, e) in enumerate(v["aspirin"]):
        if s is None:
            continue
        period = {"start": s.isoformat(), **({"end": e.isoformat()} if e is not None else {})}
        entries.append({"resource": {
            "resourceType": "MedicationStatement", "id": f"m{i}", "subject": subject,
            "status": "active" if e is None else "completed", "effectivePeriod": period,
            "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "B01AC06"}]},
        }})  # fmt: skip
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def statuses(load: Any) -> tuple[str, ...] | str:
    try:
        patient = load()
    except InputError:
        return "refused"
    result = screen(TRIAL, patient, as_of=AS_OF)
    return (result.verdict, *(c.status for c in result.criteria))


@settings(max_examples=150, deadline=None)
@given(values())
def test_native_and_bundle_agree_on_every_status(v: dict[str, Any]) -> None:
    import json

    data = json.loads(json.dumps(native(v)))  # through JSON text, as from a file (NaN and Infinity survive)
    doc = json.loads(json.dumps(bundle(v)))
    assert statuses(lambda: patient_from_data(data, "p.json")) == statuses(lambda: bundle_to_patient(doc, "b.json"))
