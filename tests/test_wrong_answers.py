"""Issue 15, "wrong answers": a value that cannot be trusted gives unknown with a note (or a clear
error), never a confident pass/fail -- and the native, FHIR Bundle and registry/NDJSON paths agree.

Each test is a table of bad inputs with the exact status and the exact report expected.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from eligibility.api import screen
from eligibility.batch import load_registry, run_batch
from eligibility.parse import parse_criterion
from eligibility.trial import Criterion, Trial

AS_OF = date(2026, 1, 15)


def one_criterion(kind: str, text: str) -> Trial:
    return Trial(id="T1", criteria=(Criterion(id="C1", kind=kind, text=text, rule=parse_criterion(text)),))


def write_registry(folder: Path, tables: dict[str, list[list[str]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    return folder


def write_ndjson(folder: Path, resources: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(json.dumps(r))
    for rtype, lines in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def batch_statuses(folder: Path, trial: Trial, as_of: date = AS_OF) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(SQL status per patient, Python status per patient on the staged rows, reject reasons)."""
    reg = load_registry(folder)
    reasons = [f"{r.file}:{r.column}:{r.reason}" for r in reg.rejects()]
    res = run_batch(reg, [trial], as_of)
    cur = reg.con.execute(f"SELECT * FROM {res.tables[0]}")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    sql = {r["patient_id"]: str(r["status_C1"]) for r in rows}
    py = {pid: screen(trial, reg.patient(pid), as_of=as_of).criteria[0].status for pid in sql}
    return sql, py, reasons


PATIENTS = [["patient_id", "birth_date", "sex"], ["p1", "1990-01-01", "male"]]
ASPIRIN = one_criterion("exclusion", "Aspirin within 2 weeks")
HEART_FAILURE = one_criterion("exclusion", "Current heart failure")


# -- item 1: an unreadable end / abatement is not "ongoing" ---------------------------------------

END_CASES = [
    # (trial, table rows, expected status, expected reject reason)
    (
        ASPIRIN,
        {
            "medications": [
                ["patient_id", "system", "code", "start", "end"],
                ["p1", "atc", "B01AC06", "2025-06-01", "2025-06-31"],
            ]
        },
        "unknown",
        "medications.csv:end:not a date (YYYY-MM-DD) (kept; the exposure dates are unknown, never 'ongoing')",
    ),
    (
        ASPIRIN,
        {
            "medications": [
                ["patient_id", "system", "code", "start", "end"],
                ["p1", "atc", "B01AC06", "2025-06-01", "June"],
            ]
        },
        "unknown",
        "medications.csv:end:not a date (YYYY-MM-DD) (kept; the exposure dates are unknown, never 'ongoing')",
    ),
    (
        HEART_FAILURE,
        {
            "conditions": [
                ["patient_id", "system", "code", "onset", "abatement", "status"],
                ["p1", "icd10cm", "I50.9", "2020-01-01", "2021-13-01", ""],
            ]
        },
        "unknown",
        "conditions.csv:abatement:not a date (YYYY-MM-DD) (kept; the status is unknown unless given as ended)",
    ),
    (
        HEART_FAILURE,
        {
            "conditions": [
                ["patient_id", "system", "code", "onset", "abatement", "status"],
                ["p1", "icd10cm", "I50.9", "2020-01-01", "yes", "active"],
            ]
        },
        "unknown",
        "conditions.csv:abatement:not a date (YYYY-MM-DD) (kept; the status is unknown unless given as ended)",
    ),
    (  # an ended status is kept: the row says it ended, only the day is unreadable
        HEART_FAILURE,
        {
            "conditions": [
                ["patient_id", "system", "code", "onset", "abatement", "status"],
                ["p1", "icd10cm", "I50.9", "2020-01-01", "2021-13-01", "resolved"],
            ]
        },
        "pass",
        "conditions.csv:abatement:not a date (YYYY-MM-DD) (kept; the status is unknown unless given as ended)",
    ),
]


@pytest.mark.parametrize(("trial", "tables", "status", "reason"), END_CASES)
def test_unreadable_end_is_unknown_in_sql_and_python(
    tmp_path: Path, trial: Trial, tables: dict[str, list[list[str]]], status: str, reason: str
) -> None:
    sql, py, reasons = batch_statuses(write_registry(tmp_path, {"patients": PATIENTS, **tables}), trial)
    assert sql == py == {"p1": status}
    assert reasons == [reason]


def test_unreadable_ndjson_abatement_is_unknown(tmp_path: Path) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1990-01-01", "gender": "male"}
    cond = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.9"}]},
        "abatementDateTime": "2021-13-01",
    }
    sql, py, reasons = batch_statuses(write_ndjson(tmp_path, [patient, cond]), HEART_FAILURE)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["Condition.ndjson:abatementDateTime:not a FHIR date (kept as unknown)"]


# -- item 2: numbers that are not measurements ----------------------------------------------------

PLATELETS = one_criterion("inclusion", "Platelets >= 100 x 10^9/L")
FHIR_PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1990-01-01", "gender": "male"}


def platelet_observation(value: object) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "effectiveDateTime": "2026-01-10",
        "valueQuantity": {"value": value, "unit": "10*9/L"},
    }


def native_platelets(value: object) -> dict[str, Any]:
    return {
        "id": "p1",
        "birth_date": "1990-01-01",
        "sex": "male",
        "observations": [
            {"system": "loinc", "code": "777-3", "value": value, "unit": "10*9/L", "effective": "2026-01-10"}
        ],
    }


NATIVE_NUMBERS = [
    # (value in the native JSON, the error or the status and note)
    (float("nan"), "native.json: field 'observations.0.value': Value error, not a finite number: nan"),
    (float("inf"), "native.json: field 'observations.0.value': Value error, not a finite number: inf"),
    (10**400, "native.json: field 'observations.0.value': Value error, not a finite number: 1" + "0" * 400),
    ("nan", "native.json: field 'observations.0.value': Value error, not a finite number: 'nan'"),
    ("-Infinity", "native.json: field 'observations.0.value': Value error, not a finite number: '-Infinity'"),
    (True, "native.json: field 'observations.0.value': Value error, a number is needed, not true"),
    (-5, "unknown|observations.0.value -5 (loinc 777-3) is below zero: not a measurement (kept without a value)"),
    (-0.5, "unknown|observations.0.value -0.5 (loinc 777-3) is below zero: not a measurement (kept without a value)"),
    (150, "pass|"),
]


@pytest.mark.parametrize(("value", "expected"), NATIVE_NUMBERS)
def test_native_numbers_that_are_not_measurements(value: object, expected: str) -> None:
    from eligibility.errors import InputError
    from eligibility.patient import patient_from_data

    data = json.loads(json.dumps(native_platelets(value)))  # as read from a file (NaN, Infinity survive)
    if "|" not in expected:
        with pytest.raises(InputError) as err:
            patient_from_data(data, "native.json")
        assert str(err.value) == expected
        return
    status, note = expected.split("|")
    patient = patient_from_data(data, "native.json")
    result = screen(PLATELETS, patient, as_of=AS_OF)
    assert result.criteria[0].status == status
    assert list(patient.notes) == ([note] if note else [])


@pytest.mark.parametrize(
    ("value", "status", "note"),
    [
        (
            -5,
            "unknown",
            "FHIR: Observation value below zero: not a measurement (kept without a value) (e.g. loinc 777-3: -5)",
        ),
        (150, "pass", None),
    ],
)
def test_bundle_negative_value_is_not_a_measurement(value: int, status: str, note: str | None) -> None:
    from eligibility.io.fhir import bundle_to_patient

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": FHIR_PATIENT}, {"resource": platelet_observation(value)}],
    }
    patient = bundle_to_patient(bundle, "b.json")
    assert screen(PLATELETS, patient, as_of=AS_OF).criteria[0].status == status
    assert [n for n in patient.notes if "below zero" in n] == ([note] if note else [])


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "1e400", "true", "-5", "-0.01"])
def test_registry_numbers_that_are_not_measurements(tmp_path: Path, value: str) -> None:
    obs = [
        ["patient_id", "system", "code", "value", "unit", "effective"],
        ["p1", "loinc", "777-3", value, "10*9/L", "2026-01-10"],
    ]
    sql, py, reasons = batch_statuses(write_registry(tmp_path, {"patients": PATIENTS, "observations": obs}), PLATELETS)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["observations.csv:value:not a finite number at or above zero (kept as unknown)"]


@pytest.mark.parametrize(
    ("raw", "value"),
    [("NaN", float("nan")), ("Infinity", float("inf")), ('"nan"', "nan"), ("true", True), ("-5", -5), ("1e400", 1e400)],
)
def test_ndjson_numbers_that_are_not_measurements(tmp_path: Path, raw: str, value: object) -> None:
    folder = tmp_path / "bulk"
    folder.mkdir()
    (folder / "Patient.ndjson").write_text(json.dumps(FHIR_PATIENT) + "\n")
    line = json.dumps(platelet_observation("@@")).replace('"@@"', raw)
    (folder / "Observation.ndjson").write_text(line + "\n")
    sql, py, reasons = batch_statuses(folder, PLATELETS)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["Observation.ndjson:valueQuantity.value:not a finite number at or above zero (kept as unknown)"]


# -- item 7: strings that are not dates -------------------------------------------------------------

ADULT = one_criterion("inclusion", "Age >= 18 years")

NATIVE_DATES = [
    ("0", "'0' is not a date: write YYYY-MM-DD"),
    ("20240101", "'20240101' is not a date: write YYYY-MM-DD"),
    (1700000000, "1700000000 is not a date: write YYYY-MM-DD"),
    ("epoch", "'epoch' is not a date: write YYYY-MM-DD"),
    ("infinity", "'infinity' is not a date: write YYYY-MM-DD"),
    ("0044-03-15 (BC)", "'0044-03-15 (BC)' is not a date: write YYYY-MM-DD"),
    ("0000-01-01", "'0000-01-01': year 0 is not a date (years run 0001-9999)"),
    ("10000-01-01", "'10000-01-01' is not a date: write YYYY-MM-DD"),
    ("1984", "'1984' is a partial date; a full date YYYY-MM-DD is needed"),
    ("1984-06", "'1984-06' is a partial date; a full date YYYY-MM-DD is needed"),
]


@pytest.mark.parametrize(("value", "message"), NATIVE_DATES)
@pytest.mark.parametrize("field", ["birth_date", "observations.0.effective", "medications.0.end"])
def test_native_refuses_what_is_not_a_date(value: object, message: str, field: str) -> None:
    from eligibility.errors import InputError
    from eligibility.patient import patient_from_data

    data: dict[str, Any] = {"id": "p1", "birth_date": "1990-01-01"}
    if field == "birth_date":
        data["birth_date"] = value
    elif field.startswith("observations"):
        data["observations"] = [{"concept": "platelets", "value": 150, "unit": "10*9/L", "effective": value}]
    else:
        data["medications"] = [{"concept": "aspirin", "start": "2025-01-01", "end": value}]
    with pytest.raises(InputError) as err:
        patient_from_data(data, "native.json")
    assert str(err.value) == f"native.json: field '{field}': Value error, {message}"


REGISTRY_DATES = ["0", "20240101", "1700000000", "epoch", "infinity", "-infinity", "0044-03-15 (BC)", "0000-01-01",
                  "10000-01-01", "1990-1-1"]  # fmt: skip


@pytest.mark.parametrize("value", REGISTRY_DATES)
def test_registry_and_ndjson_refuse_what_is_not_a_date(tmp_path: Path, value: str) -> None:
    patients = [["patient_id", "birth_date", "sex"], ["p1", value, "male"]]
    sql, py, reasons = batch_statuses(write_registry(tmp_path / "csv", {"patients": patients}), ADULT)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["patients.csv:birth_date:not a date (YYYY-MM-DD) (kept as unknown)"]
    bulk = write_ndjson(tmp_path / "bulk", [{**FHIR_PATIENT, "birthDate": value}])
    sql, py, reasons = batch_statuses(bulk, ADULT)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["Patient.ndjson:birthDate:not a FHIR date (kept as unknown)"]


@pytest.mark.parametrize("value", ["infinity", "-infinity", "0044-03-15 (BC)", "10000-01-01"])
def test_registry_parquet_dates_outside_years_1_to_9999_are_refused(tmp_path: Path, value: str) -> None:
    import duckdb

    folder = tmp_path / "reg"
    folder.mkdir()
    target = str(folder / "patients.parquet")
    duckdb.sql(
        f"COPY (SELECT 'p1' AS patient_id, DATE '{value}' AS birth_date, 'male' AS sex) TO '{target}' (FORMAT parquet)"
    )
    sql, py, reasons = batch_statuses(folder, ADULT)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["patients.parquet:birth_date:not a date in years 0001-9999 (kept as unknown)"]


# -- item 9: reference ranges that cannot be anyone's normal range ----------------------------------

ALT_3_ULN = one_criterion("exclusion", "ALT > 3 x ULN")
BAD_RANGES = [
    # (low, high, what the note shows) -- ALT 100 U/L: with ULN 10 or 0 it would be "> 3 x ULN" (fail)
    (40, 10, "40..10"),
    (0, 0, "0..0"),
    (None, 0, "..0"),
    (-5, 40, "-5..40"),
    (None, -1, "..-1"),
]
RANGE_NOTE = "reference range is inverted or not above zero: not used (kept without the range)"


def alt_observation(low: float | None, high: float | None) -> dict[str, Any]:
    rng = {k: {"value": v, "unit": "U/L"} for k, v in (("low", low), ("high", high)) if v is not None}
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "effectiveDateTime": "2026-01-10",
        "valueQuantity": {"value": 100, "unit": "U/L"},
        "referenceRange": [rng],
    }


@pytest.mark.parametrize(("low", "high", "shown"), BAD_RANGES)
def test_untrusted_reference_ranges_are_not_used_in_any_path(
    tmp_path: Path, low: float | None, high: float | None, shown: str
) -> None:
    from eligibility.io.fhir import bundle_to_patient
    from eligibility.patient import patient_from_data

    # The vocabulary's ALT range (ULN 40 U/L) decides instead: 100 is not > 120, so the exclusion passes.
    native = patient_from_data(
        {
            "id": "p1",
            "birth_date": "1990-01-01",
            "sex": "male",
            "observations": [
                {
                    "system": "loinc",
                    "code": "1742-6",
                    "value": 100,
                    "unit": "U/L",
                    "effective": "2026-01-10",
                    "ref_low": low,
                    "ref_high": high,
                }
            ],
        },
        "native.json",
    )
    assert native.observations[0].ref_low is None and native.observations[0].ref_high is None
    assert list(native.notes) == [f"observations.0 (loinc 1742-6): {RANGE_NOTE.replace('range', f'range {shown}', 1)}"]
    bundle = bundle_to_patient(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": FHIR_PATIENT}, {"resource": alt_observation(low, high)}],
        }
    )
    assert [n for n in bundle.notes if "range" in n] == [f"FHIR: {RANGE_NOTE} (e.g. loinc 1742-6: {shown} U/L)"]
    assert screen(ALT_3_ULN, native, as_of=AS_OF).criteria[0].status == "pass"
    assert screen(ALT_3_ULN, bundle, as_of=AS_OF).criteria[0].status == "pass"

    cell = ["" if low is None else str(low), "" if high is None else str(high)]
    obs = [
        ["patient_id", "system", "code", "value", "unit", "effective", "ref_low", "ref_high"],
        ["p1", "loinc", "1742-6", "100", "U/L", "2026-01-10", *cell],
    ]
    sql, py, reasons = batch_statuses(
        write_registry(tmp_path / "csv", {"patients": PATIENTS, "observations": obs}), ALT_3_ULN
    )
    assert sql == py == {"p1": "pass"}
    assert reasons == [f"observations.csv:ref_high:{RANGE_NOTE}"]
    sql, py, reasons = batch_statuses(
        write_ndjson(tmp_path / "bulk", [FHIR_PATIENT, alt_observation(low, high)]), ALT_3_ULN
    )
    assert sql == py == {"p1": "pass"}
    assert reasons == [f"Observation.ndjson:referenceRange:{RANGE_NOTE}"]


def test_a_sound_reference_range_is_used() -> None:
    from eligibility.patient import patient_from_data

    patient = patient_from_data(
        {"id": "p1", "birth_date": "1990-01-01", "sex": "male",
         "observations": [{"concept": "alt", "value": 100, "unit": "U/L", "effective": "2026-01-10", "ref_high": 20}]},
        "native.json",
    )  # fmt: skip
    assert patient.notes == ()
    assert screen(ALT_3_ULN, patient, as_of=AS_OF).criteria[0].status == "fail"  # 100 > 3 x 20


# -- item 5: a Bundle resource about another patient; item 10: gender outside the value set --------

HF_CODE = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.9"}]}
OTHER = "FHIR: resource about another patient left out (this bundle's patient is Patient/p1) (e.g. Condition/c1 -> {})"


def heart_failure(ref: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "c1", "subject": {"reference": ref}, "code": HF_CODE}


@pytest.mark.parametrize(
    ("ref", "status", "notes"),
    [
        ("Patient/p2", "pass", [OTHER.format("Patient/p2")]),
        ("urn:uuid:someone-else", "pass", [OTHER.format("urn:uuid:someone-else")]),
        ("Patient/p1", "fail", []),
        ("urn:uuid:p1", "fail", []),  # the Patient entry's fullUrl
        ("https://fhir.example.org/r4/Patient/p1/_history/3", "fail", []),
    ],
)
def test_bundle_routes_resources_by_subject_as_the_bulk_reader_does(
    tmp_path: Path, ref: str, status: str, notes: list[str]
) -> None:
    from eligibility.io.fhir import bundle_to_patient

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:p1", "resource": FHIR_PATIENT}, {"resource": heart_failure(ref)}],
    }
    patient = bundle_to_patient(bundle, "b.json")
    assert screen(HEART_FAILURE, patient, as_of=AS_OF).criteria[0].status == status
    assert list(patient.notes) == notes
    other = {**FHIR_PATIENT, "id": "p2"}
    sql, py, _ = batch_statuses(write_ndjson(tmp_path, [FHIR_PATIENT, other, heart_failure(ref)]), HEART_FAILURE)
    assert sql["p1"] == py["p1"] == status


def test_bundle_without_patient_naming_two_subjects_is_refused() -> None:
    from eligibility.errors import InputError
    from eligibility.io.fhir import bundle_to_patient

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": heart_failure("Patient/a")}, {"resource": {**heart_failure("Patient/b"), "id": "c2"}}],
    }
    with pytest.raises(InputError) as err:
        bundle_to_patient(bundle, "b.json")
    assert str(err.value) == (
        "b.json: field 'entry[1]': the bundle has no Patient resource and its resources name different subjects "
        "(Patient/a, Patient/b); one patient per bundle"
    )


@pytest.mark.parametrize("subject", [None, {"display": "J. Smith"}, {"identifier": {"value": "MRN-1"}}])
def test_observation_naming_no_patient_is_reported_and_not_used_in_both_fhir_paths(
    tmp_path: Path, subject: dict[str, Any] | None
) -> None:
    """A lab without a subject reference is nobody's record: left out and reported (never closed world, so
    the criterion is unknown, not decided by a value that may be someone else's)."""
    from eligibility.io.fhir import bundle_to_patient

    obs = {k: v for k, v in platelet_observation(150).items() if k != "subject"}
    if subject is not None:
        obs["subject"] = subject
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": FHIR_PATIENT}, {"resource": obs}]}
    patient = bundle_to_patient(bundle, "b.json")
    assert patient.observations == ()
    assert list(patient.notes) == [
        "FHIR: Observation without a subject reference left out (whose record it is is not stated)"
        " (e.g. Observation/o1)"
    ]
    assert screen(PLATELETS, patient, as_of=AS_OF).criteria[0].status == "unknown"
    sql, py, reasons = batch_statuses(write_ndjson(tmp_path, [FHIR_PATIENT, obs]), PLATELETS)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["Observation.ndjson:subject:missing subject reference (line left out)"]


@pytest.mark.parametrize("subject", [{"display": "J. Smith"}, {"identifier": {"value": "MRN-1"}}])
def test_condition_naming_no_patient_refuses_the_bundle_and_is_a_bulk_reject(
    tmp_path: Path, subject: dict[str, Any]
) -> None:
    """Left out, 'no record of heart failure' would pass the exclusion; taken in, it would guess whose it is."""
    from eligibility.errors import InputError
    from eligibility.io.fhir import bundle_to_patient

    cond = {**heart_failure("Patient/p1"), "subject": subject}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": FHIR_PATIENT}, {"resource": cond}]}
    with pytest.raises(InputError) as err:
        bundle_to_patient(bundle, "b.json")
    assert str(err.value) == (
        "b.json: field 'entry[1].resource.subject': entry 1 (Condition/c1): subject names no patient by reference"
        " (only an identifier or a display), so whose record it is cannot be told: give subject.reference"
    )
    _, _, reasons = batch_statuses(write_ndjson(tmp_path, [FHIR_PATIENT, cond]), HEART_FAILURE)
    assert reasons == ["Condition.ndjson:subject:missing subject reference (line left out)"]


@pytest.mark.parametrize("gender", ["F", "M", "Female", "intersex"])
def test_gender_outside_the_value_set_is_reported_in_both_fhir_paths(tmp_path: Path, gender: str) -> None:
    from eligibility.io.fhir import bundle_to_patient

    resource = {**FHIR_PATIENT, "gender": gender}
    patient = bundle_to_patient({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]})
    assert patient.sex is None
    assert list(patient.notes) == [
        f"FHIR: Patient gender '{gender}' is not one of male, female, other, unknown (kept as unknown)"
    ]
    male = one_criterion("inclusion", "Male")
    assert screen(male, patient, as_of=AS_OF).criteria[0].status == "unknown"
    sql, py, reasons = batch_statuses(write_ndjson(tmp_path, [resource]), male)
    assert sql == py == {"p1": "unknown"}
    assert reasons == ["Patient.ndjson:gender:not one of male, female, other, unknown (kept as unknown)"]


# -- item 8: a death date in FHIR is the patient's death date (never eligible from that day) --------


@pytest.mark.parametrize(("died", "verdict"), [("2025-06-01", "ineligible"), ("2026-01-15T08:00:00Z", "ineligible"),
                                               ("2026-06-01", "eligible")])  # fmt: skip
def test_fhir_death_date_makes_the_patient_ineligible_in_both_fhir_paths(
    tmp_path: Path, died: str, verdict: str
) -> None:
    from eligibility.io.fhir import bundle_to_patient

    resource = {**FHIR_PATIENT, "deceasedDateTime": died}
    patient = bundle_to_patient({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]})
    result = screen(ADULT, patient, as_of=AS_OF)
    assert result.verdict == verdict
    if verdict == "ineligible":
        assert result.notes[0] == f"the patient died on {died[:10]}: not eligible for any trial"
    reg = load_registry(write_ndjson(tmp_path, [resource]))
    run = run_batch(reg, [ADULT], AS_OF)
    row = reg.con.execute(f"SELECT verdict FROM {run.tables[0]}").fetchall()
    assert row == [(verdict,)]
    assert screen(ADULT, reg.patient("p1"), as_of=AS_OF).verdict == verdict


def test_birth_after_the_screening_date_is_unknown_in_every_path(tmp_path: Path) -> None:
    from eligibility.patient import patient_from_data

    patient = patient_from_data({"id": "p1", "birth_date": "2030-01-01"}, "native.json")
    result = screen(ADULT, patient, as_of=AS_OF)
    assert result.criteria[0].status == "unknown"
    assert "age unknown: the birth date 2030-01-01 is after 2026-01-15" in result.criteria[0].explanation
    patients = [["patient_id", "birth_date", "sex"], ["p1", "2030-01-01", "male"]]
    sql, py, _ = batch_statuses(write_registry(tmp_path, {"patients": patients}), ADULT)
    assert sql == py == {"p1": "unknown"}


# -- item 6: an unknown concept id is an input error (native) or a reported reject (registry) -------


@pytest.mark.parametrize(
    ("kind", "record", "message"),
    [
        ("observations", {"concept": "platlets", "value": 150, "unit": "10*9/L"}, "; did you mean 'platelets'?"),
        ("conditions", {"concept": "heart_failur"}, "; did you mean 'heart_failure'?"),
        ("medications", {"concept": "xyzzy-drug", "start": "2026-01-01"}, ""),
    ],
)
def test_native_unknown_concept_id_is_an_input_error(kind: str, record: dict[str, Any], message: str) -> None:
    from eligibility.errors import InputError
    from eligibility.patient import patient_from_data

    with pytest.raises(InputError) as err:
        patient_from_data({"id": "p1", kind: [record]}, "native.json")
    name = record["concept"]
    assert str(err.value) == (
        f"native.json: field '{kind}.0.concept': unknown concept '{name}': not a concept id of the vocabulary{message}"
    )


def test_registry_unknown_concept_id_is_a_reported_reject(tmp_path: Path) -> None:
    conditions = [["patient_id", "system", "code", "concept", "onset", "abatement", "status"],
                  ["p1", "", "", "heart_failur", "2020-01-01", "", "active"],
                  ["p1", "", "", "heart_failure", "2020-01-01", "", "active"]]  # fmt: skip
    sql, py, reasons = batch_statuses(
        write_registry(tmp_path, {"patients": PATIENTS, "conditions": conditions}), HEART_FAILURE
    )
    assert sql == py == {"p1": "fail"}  # the good row still decides
    assert reasons == ["conditions.csv:concept:not a concept id of the vocabulary (row left out)"]


# -- item 22: small silent manglings ----------------------------------------------------------------


def test_rule_file_notes_must_be_a_list(tmp_path: Path) -> None:
    from eligibility.errors import InputError
    from eligibility.trial import load_trial

    path = tmp_path / "t.yaml"
    path.write_text("trial: T\ncriteria:\n  - id: I1\n    kind: inclusion\n    text: Age >= 18 years\n"
                    "    rule: age >= 18 years\nnotes: hello\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError) as err:
        load_trial(path)
    assert str(err.value) == f"{path}: 1 problem(s):\n  field 'notes': a list of strings is needed, one note per item"


def test_parse_refuses_an_unknown_format(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eligibility.cli import app

    result = CliRunner().invoke(app, ["parse", "NCT06352281", "--format", "xml"])
    assert result.exit_code == 2
    assert "--format must be table or json, not 'xml'" in result.output


@pytest.mark.parametrize(
    ("rtype", "message"),
    [
        (5, "b.json: field 'resourceType': not a FHIR Bundle (resourceType is 5, not a string)"),
        (None, "b.json: field 'resourceType': not a FHIR Bundle (no resourceType)"),
        ("Patient", "b.json: field 'resourceType': not a FHIR Bundle (a FHIR Patient resource)"),
    ],
)
def test_bundle_resource_type_messages(rtype: object, message: str) -> None:
    from eligibility.errors import InputError
    from eligibility.io.fhir import bundle_to_patient

    with pytest.raises(InputError) as err:
        bundle_to_patient({"resourceType": rtype} if rtype is not None else {}, "b.json")
    assert str(err.value) == message


def test_registry_refuses_a_header_naming_a_column_twice(tmp_path: Path) -> None:
    from eligibility.errors import InputError

    (tmp_path / "patients.csv").write_text("patient_id,birth_date,sex,sex\np1,1990-01-01,male,female\n")
    with pytest.raises(InputError) as err:
        load_registry(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'patients.csv'}: the header names column(s) sex more than once: keep one of each"
    )


def test_a_patient_recorded_as_deceased_without_a_date_is_never_eligible() -> None:
    """deceasedBoolean true: every criterion may pass, but a person must check before any contact."""
    from eligibility import nodes as n
    from eligibility.io.fhir import bundle_to_patient
    from eligibility.trial import Criterion, Trial

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "d1",
                    "gender": "female",
                    "birthDate": "1970-01-01",
                    "deceasedBoolean": True,
                }
            }
        ],
    }
    patient = bundle_to_patient(bundle, "deceased.json")
    assert patient.deceased and patient.death_date is None
    trial = Trial(
        id="T1", criteria=(Criterion(id="I1", kind="inclusion", text="Women", rule=n.Sex(sexes=("female",))),)
    )
    result = screen(trial, patient, as_of=date(2026, 1, 1))
    assert result.verdict == "needs-review"
    assert any("has died" in note for note in result.notes)
