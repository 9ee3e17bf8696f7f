"""Batch screening: registry loading and its rejects report, the CLI, explain, atomic output."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from eligibility.batch import explain_patient, load_registry, run_batch
from eligibility.batch.registry import SCHEMA, staged_columns
from eligibility.batch.run import write_results
from eligibility.cli import app
from eligibility.errors import InputError
from eligibility.trial import load_trial

from .test_batch_differential import AS_OF, SEED_TRIALS, check_agreement

BASIC = Path(__file__).parent / "fixtures" / "registry" / "basic"


def test_bad_rows_are_reported_with_file_line_and_reason() -> None:
    reg = load_registry(BASIC)
    got = {(r.file, r.line, r.column, r.kept) for r in reg.rejects()}
    assert got == {
        ("patients.csv", 5, "birth_date", True),
        ("patients.csv", 6, "sex", True),
        ("patients.csv", 7, "patient_id", False),
        ("patients.csv", 8, "patient_id", False),
        ("observations.csv", 10, "value", True),
        ("observations.csv", 12, "effective", True),
        ("observations.csv", 13, "patient_id", False),
        ("observations.csv", 14, "code", False),
        ("conditions.csv", 6, "status", True),
    }
    assert reg.patient_count() == 6
    # A kept row keeps its other fields; the bad one is unknown (NULL), never a guess.
    p4 = reg.patient("p4")
    assert p4.birth_date is None and p4.sex == "male"
    # An unreadable condition status is unknown, not the 'active' default.
    assert [c.status for c in reg.patient("p6").conditions] == ["unknown"]


def test_malformed_csv_lines_are_reported_and_line_numbers_stay_right(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text(
        "patient_id,birth_date,sex\np1,2000-01-01,male\np2,2000-01-01,female,extra\np3,1999-99-99,female\n"
    )
    reg = load_registry(tmp_path)
    rejects = sorted((r.line, r.column or "", r.reason.split(" ")[0]) for r in reg.rejects())
    assert rejects == [(3, "", "malformed"), (4, "birth_date", "not")]
    assert reg.patient_count() == 2


def test_parquet_and_csv_registries_give_the_same_results(tmp_path: Path) -> None:
    con = duckdb.connect()
    for table in SCHEMA:
        src = BASIC / f"{table}.csv"
        if src.exists():
            con.execute(
                f"COPY (SELECT * FROM read_csv('{src}', header = true, all_varchar = true, ignore_errors = true)) "
                f"TO '{tmp_path / (table + '.parquet')}' (FORMAT parquet)"
            )
    trials = [load_trial("NCT06352281")]
    a = load_registry(BASIC)
    b = load_registry(tmp_path)
    run_batch(a, trials, AS_OF)
    run_batch(b, trials, AS_OF)
    rows_a = a.con.execute("SELECT * FROM result_0 ORDER BY patient_id").fetchall()
    rows_b = b.con.execute("SELECT * FROM result_0 ORDER BY patient_id").fetchall()
    assert rows_a == rows_b


def test_missing_patients_table_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="patients"):
        load_registry(tmp_path)


def test_cli_batch_writes_results_and_prints_attrition(tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    args = [
        "batch",
        "--trial",
        "NCT06352281",
        "--trial",
        "NCT06168851",
        "--registry",
        str(BASIC),
        "--out",
        str(out),
        "--as-of",
        "2026-01-15",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "attrition" in res.output and "possibly eligible" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "results.parquet",
        "results.parquet.manifest.json",
        "results.parquet.rejects.csv",
    ]
    rows = duckdb.connect().execute(f"SELECT trial, COUNT(*) FROM '{out}' GROUP BY trial ORDER BY trial").fetchall()
    assert rows == [("NCT06168851", 6), ("NCT06352281", 6)]


def test_explain_matches_every_batch_row(tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    reg = load_registry(BASIC)
    run_batch(reg, SEED_TRIALS, AS_OF, out=out)
    for trial in SEED_TRIALS:
        for pid in ("p1", "p2", "p3", "p4", "p5", "p6"):
            explanation = explain_patient(reg, trial, pid, AS_OF, results=out)
            assert explanation.mismatches == []
            assert explanation.batch_row is not None
            assert explanation.batch_row["verdict"] == explanation.result.verdict
    res = CliRunner().invoke(
        app, ["explain", "--results", str(out), "--patient", "p1", "--registry", str(BASIC), "--trial", "NCT06352281"]
    )
    assert res.exit_code == 0, res.output
    assert "batch row agrees" in res.output and "Platelet" in res.output


def test_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    reg = load_registry(BASIC)
    with pytest.raises(duckdb.Error):
        write_results(reg, ["no_such_table"], tmp_path / "results.parquet")
    assert list(tmp_path.iterdir()) == []


def _row(pid: str, **kw: object) -> dict[str, object]:
    return {"patient_id": pid, **kw}


def test_window_boundaries_agree_with_evaluator() -> None:
    """Hand-picked edges: pregnancy tests 30/31 days old, windows of exactly N days, ties on a day."""
    d = lambda days: AS_OF - timedelta(days=days)  # noqa: E731
    tables: dict[str, list[dict[str, object]]] = {
        "patients": [_row(f"p{i}", birth_date=date(1990, 1, 15), sex="female") for i in range(6)],
        "observations": [
            _row("p0", concept="pregnancy_test", result="negative", effective=d(30)),
            _row("p1", concept="pregnancy_test", result="negative", effective=d(31)),
            _row("p2", concept="pregnancy_test", result="positive", effective=d(31)),
            _row("p3", concept="platelets", value=20, unit="10^9/L", effective=d(90)),
            _row("p3", concept="platelets", value=40, unit="10^9/L", effective=d(90)),
            _row("p4", concept="platelets", value=20, unit="10^9/L", effective=d(91)),
        ],
        "conditions": [
            _row("p0", concept="pregnancy", onset=d(60), status="active"),
            _row("p1", concept="pregnancy", onset=d(301), status="active"),
            _row("p5", concept="myocardial_infarction", onset=d(365), status="resolved"),
            _row("p5", concept="pregnancy", onset=d(100), status="active"),
            _row("p5", concept="pregnancy_outcome", onset=d(10), status="resolved"),
        ],
        "medications": [
            _row("p0", concept="aspirin", start=d(14), end=d(10)),
            _row("p1", concept="aspirin", start=d(13), end=d(10)),
            _row("p2", concept="corticosteroids", start=d(14)),
        ],
        "procedures": [
            _row("p3", concept="cardiac_angioplasty", performed=d(364)),
            _row("p4", concept="cardiac_angioplasty", performed=d(365)),
        ],
    }
    for table, rows in tables.items():
        cols = [c.name for c in SCHEMA[table]]
        for row in rows:
            for c in cols:
                row.setdefault(c, None)
        if table == "conditions":
            for row in rows:
                row["abatement"] = None
    check_agreement(tables, SEED_TRIALS, open_world=False)
    check_agreement(tables, SEED_TRIALS, open_world=True)


def test_typed_parquet_columns_read_as_their_text_would(tmp_path: Path) -> None:
    """Parquet DOUBLE/INTEGER/DATE/TIMESTAMP columns are read natively; values and rejects equal the text route."""
    typed, text = tmp_path / "typed", tmp_path / "text"
    typed.mkdir()
    text.mkdir()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE p AS SELECT * FROM (VALUES (' p1 ', DATE '1990-01-15', 'male'), ('p2', NULL, 'Female')) "
        "v(patient_id, birth_date, sex)"
    )
    con.execute(
        """CREATE TABLE o AS SELECT * FROM (VALUES
             ('p1', 'http://loinc.org', '777-3', 'nan'::DOUBLE, '10^9/L', TIMESTAMP '2026-01-10 08:30:00', 1, 450.5),
             ('p1', 'loinc', '777-3', 0.1::DOUBLE, '10^9/L', TIMESTAMP '2026-01-11 00:00:00', 2, 'inf'::DOUBLE),
             ('p2', 'http://loinc.org', '777-3', 25.25::DOUBLE, '10^9/L', NULL, NULL, NULL),
             ('p9', 'http://loinc.org', '777-3', 1::DOUBLE, '10^9/L', NULL, NULL, NULL))
           v(patient_id, system, code, value, unit, effective, ref_low, ref_high)"""
    )
    for name, table in (("patients", "p"), ("observations", "o")):
        con.execute(f"COPY {table} TO '{typed / (name + '.parquet')}' (FORMAT parquet)")
        con.execute(f"COPY {table} TO '{text / (name + '.csv')}' (HEADER)")
    a, b = load_registry(typed), load_registry(text)
    assert "observations" in a.in_place and not b.in_place  # (Parquet read where it lies, CSV staged)
    obs = ", ".join(c for c in staged_columns("observations") if c != "rn")
    for sql in ("SELECT * FROM patients ORDER BY ALL", f"SELECT {obs} FROM observations ORDER BY ALL"):
        assert a.con.execute(sql).fetchall() == b.con.execute(sql).fetchall()
    # Parquet rows are counted from line 1, CSV rows from line 2 (after the header).
    got_a = {(r.line, r.column, r.value, r.kept) for r in a.rejects()}
    got_b = {(r.line - 1, r.column, r.value, r.kept) for r in b.rejects()}
    assert got_a == got_b == {(1, "value", "nan", True), (2, "ref_high", "inf", True), (4, "patient_id", "p9", False)}
    trials = [load_trial("NCT06352281")]
    run_batch(a, trials, AS_OF)
    run_batch(b, trials, AS_OF)
    assert (
        a.con.execute("SELECT * FROM result_0 ORDER BY patient_id").fetchall()
        == b.con.execute("SELECT * FROM result_0 ORDER BY patient_id").fetchall()
    )


def test_cli_batch_library_screens_every_trial_of_the_folder_as_trial_options_do(tmp_path: Path) -> None:
    """--library DIR gives the same rows as naming each of its trials with --trial (one shared pass)."""
    import shutil

    from eligibility.trial import rules_dir

    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("NCT06352281.yaml", "NCT06168851.yaml"):
        shutil.copy(rules_dir() / name, lib / name)
    common = ["--registry", str(BASIC), "--as-of", "2026-01-15"]
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    res = CliRunner().invoke(app, ["batch", "--library", str(lib), "--out", str(a), *common])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        app, ["batch", "--trial", "NCT06168851", "--trial", "NCT06352281", "--out", str(b), *common]
    )
    assert res.exit_code == 0, res.output
    con = duckdb.connect()
    rows = [con.execute(f"SELECT * FROM '{p}'").fetchall() for p in (a, b)]
    assert rows[0] == rows[1] and {r[1] for r in rows[0]} == {"NCT06352281", "NCT06168851"}
    res = CliRunner().invoke(app, ["batch", "--out", str(a), *common])
    assert res.exit_code != 0 and "--library" in res.output
