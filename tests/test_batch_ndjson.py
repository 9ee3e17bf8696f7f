"""FHIR Bulk Data NDJSON registries (eligibility/batch/fhir.py): each mapping, bad lines, the shared sample,
and the key property -- every patient's batch row equals screening that patient's resources as a Bundle."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from eligibility.api import screen
from eligibility.batch import load_registry, run_batch
from eligibility.batch.fhir import _files, is_fhir_bulk, load_fhir_bulk
from eligibility.batch.registry import Registry
from eligibility.cli import app
from eligibility.concepts import LOCAL_ROUTE
from eligibility.io.fhir import bundle_to_patient
from eligibility.patient import Patient

from .test_batch_differential import AS_OF, SEED_TRIALS

FIXTURES = Path(__file__).parent / "fixtures" / "ndjson"
MAPPING = FIXTURES / "mapping"
BAD = FIXTURES / "bad"
SAMPLE = ("fhir", "bulk-ndjson", "sample-bulk-fhir-datasets-10-patients")


@pytest.fixture(scope="module")
def reg() -> Registry:
    return load_fhir_bulk(MAPPING)


# ------------------------------------------------------------------------------------------------
# Each mapping
# ------------------------------------------------------------------------------------------------


def test_detection_and_load_registry_hook() -> None:
    assert is_fhir_bulk(MAPPING) and not is_fhir_bulk(FIXTURES / "nothing-here")
    assert load_registry(MAPPING).patient_count() == 4


def test_patients(reg: Registry) -> None:
    rows = reg.con.execute("SELECT patient_id, birth_date, sex FROM patients ORDER BY patient_id").fetchall()
    assert rows == [
        ("p1", date(1980, 3, 15), "female"),
        ("p2", date(1950, 6, 1), "male"),
        ("p3", None, "female"),  # "1990": a partial date is no day
        ("p4", date(2000, 2, 29), "male"),
    ]
    assert reg.reject_count() == 0
    assert any("Encounter.ndjson: 1 resources not read" in n for n in reg.notes)


def test_observation_values_units_dates_and_ranges(reg: Registry) -> None:
    p1 = {o.code: o for o in reg.patient("p1").observations}
    plt = p1["777-3"]
    # UCUM code preferred to the display unit; the local calendar day of a dateTime; range in the same unit.
    assert (plt.system, plt.value, plt.unit, plt.effective) == ("loinc", 150.0, "10*3/uL", date(2025, 12, 20))
    assert (plt.ref_low, plt.ref_high) == (150.0, 400.0)
    # A range in umol/L for a value in mg/dL needs a molar mass: dropped, as in the Bundle path.
    assert (p1["2160-0"].value, p1["2160-0"].ref_low, p1["2160-0"].ref_high) == (1.1, None, None)
    assert p1["5196-1"].result == "negative"
    assert p1["82810-3"].result == "negative"  # 60001007 not pregnant
    p3 = reg.patient("p3").observations
    assert [o.result for o in p3 if o.code == "82810-3"] == ["positive"]  # 77386006, subject urn:uuid:p3
    local = next(o for o in p3 if o.code == "777-3")
    # LOINC chosen over the first (local) coding; period start partial -> no date (as io/fhir.py: start or end).
    assert local.system == "loinc" and local.unit == "K/uL" and local.effective == date(2025, 12, 5)
    assert local.text == "Platelet count (interpretation: Low)" and local.ref_low == 150.0
    p2 = {o.code: o for o in reg.patient("p2").observations}
    assert p2["1742-6"].value is None and p2["1742-6"].unit is None  # "<5" is not 5
    assert p2["75622-1"].result == "negative"  # valueString "Not detected"
    assert "777-3" not in p2  # entered-in-error
    assert "85354-9" not in p2  # a panel without its own value: only its components
    assert (p2["8480-6"].value, p2["8480-6"].unit, p2["8462-4"].unit) == (120.0, "mm[Hg]", "mmHg")
    p4 = {o.code: o for o in reg.patient("p4").observations}
    assert p4["75622-1"].result is None  # "not HIV positive" is never read by substring
    assert (p4["2160-0"].value, p4["2160-0"].effective, p4["2160-0"].ref_high) == (90.0, date(2026, 1, 2), 110.0)
    assert p4["5196-1"].result == "positive"  # text " Positive " and display "POSITIVE." both read as positive


def test_conditions_and_allergies(reg: Registry) -> None:
    p1 = reg.patient("p1").conditions
    itp = next(c for c in p1 if c.code == "D69.3")  # ICD-10-CM preferred over SNOMED for conditions
    assert (itp.system, itp.status, itp.onset) == ("icd10cm", "active", date(2024, 5, 1))
    anaemia = next(c for c in p1 if c.text == "Iron deficiency anaemia")
    assert anaemia.code is None and anaemia.onset == date(2019, 7, 1)  # onsetPeriod without start: its end
    allergy = next(c for c in p1 if c.code == "91936005")
    assert (allergy.system, allergy.concept, allergy.text) == ("snomed", "drug_allergy", "allergy: Penicillin allergy")
    # the mirror concept from category and type (fhir_values.allergy_concept), as SQL
    kinds = {c.text: c.concept for c in p1 if c.text and c.text.startswith("allergy")}
    assert kinds["allergy: Lactose"] == "food_reaction_unclear"  # food, no type: allergy or intolerance
    assert kinds["allergy: Peanut (substance)"] == "food_allergy"
    p2 = reg.patient("p2").conditions
    assert [(c.code, c.status, c.onset, c.abatement) for c in p2] == [
        ("I50.9", "resolved", date(2018, 2, 3), date(2020, 1, 1))  # refuted MI and refuted allergy left out
    ]
    p3 = {c.text: c for c in reg.patient("p3").conditions}
    assert p3["NSCLC"].status == "unknown"  # clinicalStatus present but unreadable
    assert p3["Pregnancy"].status == "resolved" and p3["Pregnancy"].onset is None  # abatementString; "2025"
    assert p3["allergy: Latex"].status == "unknown"  # an unreadable status is not the active default
    assert p3["allergy: Latex"].concept == "allergy"  # environment: neither a food nor a drug allergy
    assert p3["allergy: Egg"].concept == "food_allergy"  # a category repeated is still one
    assert p3["allergy: Gelatin"].concept == "allergy_unclassified"  # two categories: food or drug
    assert p3["allergy: Codeine"].concept == "drug_reaction_unclear"  # an intolerance is no allergy
    assert p3["allergy: Allergy to tree pollen"].concept == "allergy_unclassified"  # 'food' naming a pollen
    [p4] = reg.patient("p4").conditions
    assert (p4.status, p4.onset) == ("remission", date(2010, 2, 28))  # onsetAge 10 a from 2000-02-29


def test_medication_exposure(reg: Registry) -> None:
    def meds(pid: str) -> list[tuple[str | None, date | None, date | None]]:
        return [(m.code, m.start, m.end) for m in reg.patient(pid).medications]

    assert meds("p1") == [
        ("243670", date(2026, 1, 5), None),  # active order: from authoredOn, ongoing
        ("312615", date(2026, 1, 1), date(2026, 1, 10)),  # boundsDuration 10 d from the order date
        ("312615", date(2025, 12, 25), None),  # active statement, open period
    ]
    assert meds("p2") == [
        ("67108", date(2026, 1, 8), date(2026, 1, 8)),  # completed administration with only a start: one day
        ("243670", None, None),  # stopped, no end date: no exposure dates
        ("312615", date(2025, 12, 2), date(2025, 12, 12)),  # boundsPeriod
        (None, date(2026, 1, 10), None),  # reference not found: the display text, active
    ]
    assert [m.text for m in reg.patient("p2").medications][-1] == "Heparin"
    assert meds("p3") == [
        ("5492", date(2026, 1, 2), None),  # Medication/med1 from Medication.ndjson
        ("243670", date(2026, 1, 3), date(2026, 1, 3)),  # completed statement at a dateTime
    ]
    p4 = {m.code: m for m in reg.patient("p4").medications}
    assert (p4["11289"].start, p4["11289"].end) == (None, None)  # contained #m; on-hold with an open bound
    assert len(p4) == 5  # cancelled left out
    # the dosage route, as io/fhir.py reads it: local only when every stated route is local
    assert p4["5492"].concept == LOCAL_ROUTE  # "Topical route"
    assert p4["41126"].concept == LOCAL_ROUTE  # route text "Respiratory tract route" (one line has no route)
    assert p4["723"].concept is None  # topical and oral lines: it may be systemic
    assert p4["8640"].concept is None  # a route by code only says nothing here


def test_procedures(reg: Registry) -> None:
    got = {pid: [(p.code, p.date) for p in reg.patient(pid).procedures] for pid in ("p1", "p2", "p3", "p4")}
    assert got == {
        "p1": [("234319005", date(2010, 4, 4))],
        "p2": [("108241001", date(2025, 9, 1))],
        "p3": [],  # not-done
        "p4": [("234319005", date(2000, 8, 29))],  # performedAge 6 mo
    }


# ------------------------------------------------------------------------------------------------
# Bad lines
# ------------------------------------------------------------------------------------------------


def test_bad_lines_are_reported_with_file_line_and_reason() -> None:
    reg = load_fhir_bulk(BAD)
    got = {(r.file, r.line, r.reason.split(" (")[0], r.kept) for r in reg.rejects()}
    assert got == {
        ("Patient.ndjson", 3, "invalid JSON", False),
        ("Patient.ndjson", 4, "duplicate Patient id", False),
        ("Patient.ndjson", 5, "Patient without id", False),
        ("Patient.ndjson", 6, "not one of male, female, other, unknown", True),
        ("Patient.ndjson", 6, "not a FHIR date", True),
        ("Patient.ndjson", 7, "not a JSON object", False),
        ("Condition.000.ndjson", 2, "missing subject reference", False),
        ("Condition.000.ndjson", 3, "not a FHIR date", True),
        ("Condition.000.ndjson", 4, "subject is not a patient of the Patient files", False),
        ("Condition.000.ndjson", 5, "no resourceType", False),
        ("Condition.000.ndjson", 6, "Condition or AllergyIntolerance without a code or text: it names nothing", False),
    }
    assert reg.patient_count() == 2
    assert reg.patient("b3").birth_date is None and reg.patient("b3").sex is None
    assert [c.onset for c in reg.patient("b1").conditions] == [None, None]  # line 3 kept, its date unknown


def test_cli_batch_on_ndjson_writes_rejects_report(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    res = CliRunner().invoke(
        app, ["batch", "--trial", "NCT06352281", "--registry", str(BAD), "--out", str(out), "--as-of", "2026-01-15"]
    )
    assert res.exit_code == 0, res.output
    report = (tmp_path / "r.parquet.rejects.csv").read_text()
    assert "Patient.ndjson,3," in report and "missing subject reference" in report


# ------------------------------------------------------------------------------------------------
# The bulk path maps like the Bundle path
# ------------------------------------------------------------------------------------------------


def _patient_id(ref: object) -> str | None:
    if not isinstance(ref, str):
        return None
    if ref.startswith("urn:uuid:"):
        return ref[len("urn:uuid:") :]
    return ref.rsplit("Patient/", 1)[1] if "Patient/" in ref else None


def _bundles(folder: Path) -> dict[str, dict[str, Any]]:
    """One collection Bundle per patient from the same NDJSON lines, in file and line order."""
    patients: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    medications: list[dict[str, Any]] = []
    mapped, _ = _files(folder)
    for file in mapped:
        for text in file.read_text().splitlines():
            if not text.strip():
                continue
            res = json.loads(text)
            if res["resourceType"] == "Patient":
                patients.setdefault(res["id"], res)
            elif res["resourceType"] == "Medication":
                medications.append(res)
            else:
                records.append(res)
    out = {}
    for pid, pat in patients.items():
        mine = [r for r in records if _patient_id((r.get("subject") or r.get("patient") or {}).get("reference")) == pid]
        entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in [pat, *medications, *mine]]
        out[pid] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return out


def _records(p: Patient) -> dict[str, list[Any]]:
    strip = {"source": None, "authored": None}
    return {
        kind: [r.model_copy(update={k: v for k, v in strip.items() if k in type(r).model_fields}) for r in recs]
        for kind, recs in (
            ("observations", p.observations),
            ("conditions", p.conditions),
            ("medications", p.medications),
            ("procedures", p.procedures),
        )
    }


def _check_same_as_bundles(folder: Path) -> Registry:
    reg = load_fhir_bulk(folder)
    result = run_batch(reg, SEED_TRIALS, AS_OF)
    bundles = _bundles(folder)
    assert set(bundles) == {r[0] for r in reg.con.execute("SELECT patient_id FROM patients").fetchall()}
    for trial, table in zip(SEED_TRIALS, result.tables, strict=True):
        names = [d[0] for d in reg.con.execute(f"SELECT * FROM {table} LIMIT 0").description]
        rows = {r[0]: dict(zip(names, r, strict=True)) for r in reg.con.execute(f"SELECT * FROM {table}").fetchall()}
        for pid, bundle in bundles.items():
            native = bundle_to_patient(bundle, origin=pid)
            staged = reg.patient(pid)
            assert (staged.birth_date, staged.sex) == (native.birth_date, native.sex)
            assert _records(staged) == _records(native), pid
            expected = screen(trial, native, as_of=AS_OF)
            for c in expected.criteria:
                assert rows[pid][f"status_{c.id}"] == c.status, (trial.id, pid, c.id, c.explanation)
            assert rows[pid]["verdict"] == expected.verdict
    return reg


def test_every_patient_screens_as_its_bundle() -> None:
    _check_same_as_bundles(MAPPING)


def test_shared_sample_loads_and_screens_as_bundles(shared_data: Path) -> None:
    folder = shared_data.joinpath(*SAMPLE)
    if not folder.is_dir():
        pytest.skip(f"{folder} is not there")
    reg = _check_same_as_bundles(folder)
    assert reg.reject_count() == 0
    counts = {t: reg.con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("patients", "conditions")}
    assert counts == {"patients": (13,), "conditions": (555,)}
