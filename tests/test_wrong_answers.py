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
