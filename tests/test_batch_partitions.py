"""Patients in partitions (batch/partitions.py): the same rows and attrition whatever the bucket count."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from eligibility.batch import load_registry, run_batch
from eligibility.batch.partitions import (
    in_partition,
    memory_limit_bytes,
    partition_count,
    patient_bounds,
    patient_tables,
)
from eligibility.batch.registry import connect
from eligibility.trial import load_trial

AS_OF = date(2026, 1, 15)
BASIC = Path(__file__).parent / "fixtures" / "registry" / "basic"
TRIALS = [load_trial("NCT06352281"), load_trial("NCT06168851")]


def _seeded(folder: Path, patients: int = 400) -> None:
    """A small typed Parquet registry (read in place): labs, conditions, drugs, procedures, some patients bare."""
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("SELECT setseed(0.7)")
    con.execute(
        f"""COPY (SELECT 'p' || i AS patient_id,
                   DATE '1950-01-01' + CAST(random() * 25000 AS INTEGER) AS birth_date,
                   ['female', 'male', 'unknown'][1 + CAST(floor(random() * 3) AS INT)] AS sex
                 FROM range({patients}) t(i))
            TO '{folder}/patients.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id,
                   'http://loinc.org' AS system,
                   ['777-3', '1742-6', '1920-8', '2160-0'][1 + CAST(floor(random() * 4) AS INT)] AS code,
                   round(random() * 300, 1) AS value,
                   ['10*3/uL', 'U/L', 'U/L', 'mg/dL'][1 + CAST(floor(random() * 4) AS INT)] AS unit,
                   DATE '{AS_OF}' - CAST(random() * 120 AS INTEGER) AS effective,
                   NULL::DOUBLE AS ref_low, CASE WHEN random() < 0.3 THEN 40.0 END AS ref_high
                 FROM range({patients * 6}))
            TO '{folder}/observations.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'icd10cm' AS system,
                   ['D69.3', 'I21.9', 'C50.9', 'O80'][1 + CAST(floor(random() * 4) AS INT)] AS code,
                   DATE '{AS_OF}' - CAST(random() * 3000 AS INTEGER) AS onset, NULL::DATE AS abatement,
                   CASE WHEN random() < 0.8 THEN 'active' ELSE 'resolved' END AS status FROM range({patients}))
            TO '{folder}/conditions.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'atc' AS system,
                   ['H02AB07', 'B01AC06'][1 + CAST(floor(random() * 2) AS INT)] AS code,
                   DATE '{AS_OF}' - CAST(random() * 400 AS INTEGER) AS start,
                   CASE WHEN random() < 0.5 THEN DATE '{AS_OF}' - CAST(random() * 30 AS INTEGER) END AS "end"
                 FROM range({patients}))
            TO '{folder}/medications.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || CAST(floor(random() * {patients}) AS BIGINT) AS patient_id, 'snomed' AS system,
                   '234319005' AS code, DATE '{AS_OF}' - CAST(random() * 5000 AS INTEGER) AS performed
                 FROM range({patients // 5}))
            TO '{folder}/procedures.parquet' (FORMAT parquet)"""
    )


def _rows(path: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    return con.execute(f"SELECT * FROM read_parquet('{path}') ORDER BY ALL").fetchall()


def _ordered(path: Path) -> list[tuple[object, ...]]:
    """(trial, patient_id) in file order: the results are written sorted whatever the partitions."""
    con = duckdb.connect()
    return con.execute(f"SELECT trial, patient_id FROM read_parquet('{path}')").fetchall()


@pytest.mark.parametrize("source", ["basic", "seeded"])
def test_partitioned_runs_give_the_unpartitioned_rows(tmp_path: Path, source: str) -> None:
    folder = BASIC
    if source == "seeded":
        folder = tmp_path / "registry"
        folder.mkdir()
        _seeded(folder)
    one = run_batch(load_registry(folder), TRIALS, AS_OF, out=tmp_path / "one.parquet", partitions=1)
    assert one.attrition[0].patients > 0
    for parts in (2, 7):
        steps: list[str] = []
        many = run_batch(
            load_registry(folder),
            TRIALS,
            AS_OF,
            out=tmp_path / f"p{parts}.parquet",
            partitions=parts,
            on_step=steps.append,
        )
        assert sum("patients partition" in s for s in steps) == parts  # it did run in buckets
        assert _rows(tmp_path / f"p{parts}.parquet") == _rows(tmp_path / "one.parquet")
        assert _ordered(tmp_path / f"p{parts}.parquet") == _ordered(tmp_path / "one.parquet")
        assert [a.rows for a in many.attrition] == [a.rows for a in one.attrition]
        assert [a.verdicts for a in many.attrition] == [a.verdicts for a in one.attrition]


def test_every_patient_table_is_read_one_bucket_at_a_time(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    folder.mkdir()
    _seeded(folder, 50)
    reg = load_registry(folder)
    import sqlglot

    query = sqlglot.parse_one(
        "WITH pat AS (SELECT patient_id FROM patients) "
        "SELECT pat.patient_id, COUNT(o.rkey) AS n FROM pat LEFT JOIN observations AS o USING (patient_id) GROUP BY 1",
        dialect="duckdb",
    )
    assert isinstance(query, sqlglot.exp.Query)
    tables = patient_tables(reg.con, query)
    assert tables == {"patients", "observations"}  # not the CTE 'pat'
    whole = sorted(reg.con.execute(query.sql("duckdb")).fetchall())
    bounds = patient_bounds(reg.con, tables, 3)
    assert len(bounds) == 2
    buckets = [reg.con.execute(in_partition(query, tables, bounds, k).sql("duckdb")).fetchall() for k in range(3)]
    assert all(buckets) and sorted(row for b in buckets for row in b) == whole
    assert len({row[0] for b in buckets for row in b}) == sum(len(b) for b in buckets)  # no patient twice


@pytest.mark.parametrize(
    ("limit", "patients", "expected"),
    [("3GB", 1_000_000, 1), ("3GB", 10_000_000, 2), ("3GB", 30_000_000, 4), ("3GB", 0, 1), ("1GB", 1_000_000, 1)],
)
def test_partition_count_follows_the_memory_limit(limit: str, patients: int, expected: int) -> None:
    con = connect(memory_limit=limit)
    assert memory_limit_bytes(con) == pytest.approx(float(limit[:-2]) * 1e9, rel=0.08)
    assert partition_count(con, patients) == expected


def test_a_lower_limit_or_more_patients_never_means_fewer_partitions() -> None:
    low, high = connect(memory_limit="1GB"), connect(memory_limit="3GB")
    counts = [partition_count(low, n) for n in (10**6, 3 * 10**6, 10**7, 3 * 10**7)]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert all(partition_count(low, n) >= partition_count(high, n) for n in (10**6, 10**7, 3 * 10**7))
    assert partition_count(low, 10**7) > partition_count(high, 10**7)


def test_a_run_interrupted_between_partitions_leaves_no_output(tmp_path: Path) -> None:
    """Stopped after the first bucket (Ctrl-C in the middle of the shared pass): no results, rejects or
    manifest, not even temporary files, and an earlier run's complete set stays as it was."""
    folder = tmp_path / "registry"
    folder.mkdir()
    _seeded(folder, 60)
    out = tmp_path / "out" / "results.parquet"
    run_batch(load_registry(folder), TRIALS, AS_OF, out=out, partitions=1)
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    assert {"results.parquet", "results.parquet.rejects.csv", "results.parquet.manifest.json"} <= set(before)

    def stop(msg: str) -> None:
        if "partition 1 of" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(load_registry(folder), TRIALS, AS_OF, out=out, partitions=3, on_step=stop)
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before
    fresh = tmp_path / "fresh" / "results.parquet"
    with pytest.raises(KeyboardInterrupt):
        run_batch(load_registry(folder), TRIALS, AS_OF, out=fresh, partitions=3, on_step=stop)
    assert not fresh.parent.exists() or list(fresh.parent.iterdir()) == []
