"""Parquet record tables read where they lie (registry.view_file) equal the staged copy, row for row.

The staged path (``load_registry(in_place=False)``) is the reference: every record table, every
reject and every result column must be the same when the same typed Parquet files are read in place.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eligibility.batch import load_registry, run_batch
from eligibility.batch.registry import RECORD_TABLES, Registry, staged_columns
from eligibility.trial import load_trial

AS_OF = date(2026, 1, 15)
TRIALS = [load_trial("NCT06352281"), load_trial("NCT06168851")]


def _messy(folder: Path) -> None:
    """Typed Parquet files with one of each problem a typed column can have."""
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM (VALUES ('p1', DATE '1980-02-29', 'female'), ('p2', DATE '1950-06-01', 'male'), "
        "('p2', DATE '1951-01-01', 'female'), ('p3', NULL, 'unknown')) v(patient_id, birth_date, sex)) "
        f"TO '{folder}/patients.parquet' (FORMAT parquet)"
    )
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
             ('p1', 'http://loinc.org', '777-3', 25.0, '10^9/L', DATE '2026-01-10', NULL::DOUBLE, NULL::DOUBLE),
             ('p1', 'http://loinc.org', ' 777-3 ', 'nan'::DOUBLE, '10^9/L', DATE '2026-01-11', NULL, NULL),
             ('p1', 'http://loinc.org', '1742-6', 130.0, 'U/L', DATE '2026-01-09', 10.0, 5.0),
             ('p2', 'http://loinc.org', '1742-6', 130.0, 'U/L', 'infinity'::DATE, NULL, 40.0),
             ('p2', 'http://loinc.org', '777-3', -3.0, '10^9/L', DATE '2026-01-01', NULL, NULL),
             ('p9', 'http://loinc.org', '777-3', 20.0, '10^9/L', DATE '2026-01-01', NULL, NULL),
             (NULL, 'http://loinc.org', '777-3', 20.0, '10^9/L', DATE '2026-01-01', NULL, NULL),
             ('p3', NULL, NULL, 20.0, '10^9/L', DATE '2026-01-01', NULL, NULL),
             ('p3', 'http://loinc.org', '2160-0', 1.1, 'mg/dL', DATE '2025-12-01', 0.6, 1.2))
           v(patient_id, system, code, value, unit, effective, ref_low, ref_high))
           TO '{folder}/observations.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
             ('p1', 'icd10cm', 'D69.3', NULL, DATE '2020-01-01', NULL::DATE, 'active'),
             ('p1', 'icd10cm', 'I21.9', NULL, DATE '2025-12-01', 'infinity'::DATE, NULL),
             ('p2', NULL, NULL, 'no_such_concept', DATE '2020-01-01', NULL, 'active'),
             ('p2', 'icd10cm', 'O80', NULL, DATE '2025-11-01', NULL, 'Resolved'),
             ('p3', 'icd10cm', 'C50.9', NULL, NULL, NULL, 'dormant'))
           v(patient_id, system, code, concept, onset, abatement, status))
           TO '{folder}/conditions.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
             ('p1', 'rxnorm', '1191', DATE '2026-01-01', 'infinity'::DATE),
             ('p2', 'rxnorm', '11289', DATE '2025-12-20', NULL::DATE),
             ('p2', 'rxnorm', '8640', DATE '2025-06-01', DATE '2025-07-01'))
           v(patient_id, system, code, "start", "end"))
           TO '{folder}/medications.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT * FROM (VALUES ('p1', 'snomed', '234319005', DATE '2019-03-01'),
                                       ('p4', 'snomed', '234319005', DATE '2019-03-01'))
                   v(patient_id, system, code, performed))
           TO '{folder}/procedures.parquet' (FORMAT parquet)"""
    )


def _rows(reg: Registry, table: str) -> list[tuple[object, ...]]:
    return reg.con.execute(f"SELECT {', '.join(staged_columns(table))} FROM {table} ORDER BY ALL").fetchall()


def _same(a: Registry, b: Registry) -> None:
    for table in ("patients", *RECORD_TABLES):
        assert _rows(a, table) == _rows(b, table), table
        if table != "patients":
            keys = f"SELECT * FROM keys_{table} ORDER BY ALL"
            assert a.con.execute(keys).fetchall() == b.con.execute(keys).fetchall(), table
    assert a.rejects() == b.rejects()
    assert a.notes == b.notes


def _results(reg: Registry, open_world: bool) -> list[list[tuple[object, ...]]]:
    result = run_batch(reg, TRIALS, AS_OF, open_world=open_world)
    return [reg.con.execute(f"SELECT * FROM {t} ORDER BY patient_id").fetchall() for t in result.tables]


@pytest.mark.parametrize("open_world", [False, True])
def test_messy_parquet_in_place_equals_staged(tmp_path: Path, open_world: bool) -> None:
    _messy(tmp_path)
    placed, staged = load_registry(tmp_path), load_registry(tmp_path, in_place=False)
    assert set(placed.in_place) == set(RECORD_TABLES) and not staged.in_place
    _same(placed, staged)
    reasons = {r.reason for r in placed.rejects()}
    # (each kind of problem is present, so the comparison above compares something)
    assert any("not in the patients table" in r for r in reasons)
    assert any("names nothing" in r for r in reasons)
    assert any("not a concept id" in r for r in reasons)
    assert any("never 'ongoing'" in r for r in reasons)
    assert any("status is unknown" in r for r in reasons)
    assert any("reference range" in r or "range" in r for r in reasons)
    assert _results(placed, open_world) == _results(staged, open_world)
    # The rebuilt patient (explain) is the same from the view.
    for pid in ("p1", "p2", "p3"):
        assert placed.patient(pid) == staged.patient(pid)


def test_the_view_reads_the_file_and_the_prefilter_is_exact(tmp_path: Path) -> None:
    """No copy of the records is stored, and the raw-code prefilter keeps every row of the keys."""
    _messy(tmp_path)
    reg = load_registry(tmp_path)
    kinds = dict(
        reg.con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = current_database()"
        ).fetchall()
    )
    assert all(kinds[t] == "VIEW" for t in RECORD_TABLES) and kinds["patients"] != "VIEW"
    keys = [k for (k,) in reg.con.execute("SELECT rkey FROM keys_observations").fetchall()]
    for k in keys:
        raw = reg.prefilter("observations", [k])
        assert raw is not None
        codes = ", ".join(f"'{c}'" for c in raw if c is not None) or "NULL"
        nulls = " OR raw_code IS NULL" if None in raw else ""
        every = reg.con.execute(f"SELECT COUNT(*) FROM observations WHERE rkey = {k}").fetchone()
        kept = reg.con.execute(
            f"SELECT COUNT(*) FROM observations WHERE rkey = {k} AND (raw_code IN ({codes}){nulls})"
        ).fetchone()
        assert every == kept and every is not None and every[0] > 0


@st.composite
def registries(draw: st.DrawFn) -> dict[str, list[tuple[object, ...]]]:
    pids = [f"p{i}" for i in range(draw(st.integers(1, 6)))]
    maybe = st.sampled_from([*pids, "ghost", None])
    day = st.one_of(st.none(), st.dates(date(2015, 1, 1), date(2026, 3, 1)), st.just(date.max))
    number = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32), st.floats(0, 500))
    codes = st.sampled_from([("http://loinc.org", "777-3"), ("http://loinc.org", "1742-6"), (None, None),
                             ("loinc", "2160-0"), ("http://loinc.org", " 777-3")])  # fmt: skip
    conds = st.sampled_from([("icd10cm", "D69.3"), ("icd10cm", "I21.9"), ("icd10cm", "O80"), (None, None)])
    status = st.sampled_from([None, "active", "resolved", "Remission", "bogus"])
    return {
        "patients": [(p, draw(day), draw(st.sampled_from(["male", "female", None, "x"]))) for p in pids],
        "observations": [
            (
                draw(maybe),
                *draw(codes),
                draw(number),
                draw(st.sampled_from(["10^9/L", "U/L", "mg/dL", None])),
                draw(day),
                draw(number),
                draw(number),
            )
            for _ in range(draw(st.integers(0, 12)))
        ],
        "conditions": [
            (draw(maybe), *draw(conds), draw(day), draw(day), draw(status)) for _ in range(draw(st.integers(0, 6)))
        ],
    }


_COLUMNS = {
    "patients": "patient_id VARCHAR, birth_date DATE, sex VARCHAR",
    "observations": "patient_id VARCHAR, system VARCHAR, code VARCHAR, value DOUBLE, unit VARCHAR, "
    "effective DATE, ref_low DOUBLE, ref_high DOUBLE",
    "conditions": "patient_id VARCHAR, system VARCHAR, code VARCHAR, onset DATE, abatement DATE, status VARCHAR",
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(tables=registries(), open_world=st.booleans())
def test_generated_parquet_in_place_equals_staged(
    tmp_path_factory: pytest.TempPathFactory, tables: dict[str, list[tuple[object, ...]]], open_world: bool
) -> None:
    folder = tmp_path_factory.mktemp("reg")
    con = duckdb.connect()
    for table, rows in tables.items():
        con.execute(f"CREATE TABLE t_{table} ({_COLUMNS[table]})")
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO t_{table} VALUES ({marks})", [list(r) for r in rows])
        con.execute(f"COPY t_{table} TO '{folder}/{table}.parquet' (FORMAT parquet)")
    placed, staged = load_registry(folder), load_registry(folder, in_place=False)
    assert set(placed.in_place) == {"observations", "conditions"}
    _same(placed, staged)
    assert _results(placed, open_world) == _results(staged, open_world)
