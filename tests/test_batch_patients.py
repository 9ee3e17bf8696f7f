"""Staging the patients table: every id once, the first row of a repeated id kept, the others reported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from eligibility.batch import load_registry

ROWS = [
    ("p1", "1990-03-15", "female"),
    ("p2", "2014-02-11", "male"),
    ("p1", "1950-01-01", "male"),  # a repeat: reported, the first p1 kept
    ("", "1980-01-01", "female"),  # no id: reported
    ("p3", "not a day", "other"),  # kept, the day unknown
    ("p2", "1960-01-01", "female"),  # a second repeat
]


def _write(folder: Path, rows: list[tuple[str, str, str]], kind: str) -> None:
    folder.mkdir()
    csv = folder / "patients.csv"
    csv.write_text("patient_id,birth_date,sex\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows), encoding="utf-8")
    if kind == "parquet":
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM read_csv('{csv}', all_varchar = true)) TO '{folder}/patients.parquet'")
        csv.unlink()


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_repeated_and_missing_ids_are_reported_and_the_first_row_kept(tmp_path: Path, kind: str) -> None:
    _write(tmp_path / "reg", ROWS, kind)
    reg = load_registry(tmp_path / "reg")
    got = reg.con.execute("SELECT patient_id, birth_date, sex FROM patients ORDER BY patient_id").fetchall()
    assert got == [("p1", date(1990, 3, 15), "female"), ("p2", date(2014, 2, 11), "male"), ("p3", None, "other")]
    header = 1 if kind == "csv" else 0  # a reject names the CSV line, or the Parquet row (from 1)
    found = sorted((r.line + 1 - header, r.column or "", r.reason, r.kept) for r in reg.rejects())
    assert found == [
        (4, "patient_id", "duplicate patient_id (row left out; the first row is used)", False),
        (5, "patient_id", "missing patient_id (row left out)", False),
        (6, "birth_date", "not a date (YYYY-MM-DD) (kept as unknown)", True),
        (7, "patient_id", "duplicate patient_id (row left out; the first row is used)", False),
    ]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_clean_file_is_the_patients_table_as_it_is(tmp_path: Path, kind: str) -> None:
    rows = [r for r in ROWS if r[0] and r[1] != "not a day"][:2]
    _write(tmp_path / "reg", rows, kind)
    reg = load_registry(tmp_path / "reg")
    columns = [r[0] for r in reg.con.execute("DESCRIBE patients").fetchall()]
    assert columns == ["patient_id", "birth_date", "sex"]
    assert reg.con.execute("SELECT * FROM patients ORDER BY patient_id").fetchall() == [
        ("p1", date(1990, 3, 15), "female"),
        ("p2", date(2014, 2, 11), "male"),
    ]
    assert reg.rejects() == []
