"""A record table read in place gives the file's own patient_id column when no kept row's id needs trimming.

Why it matters: the typed patient_id is NULLIF(TRIM(patient_id), ''), and a filter on it (the patient range
of a partition) is an expression the Parquet reader cannot apply, so every bucket read and trimmed every id
of the file. When every kept id already is its trimmed form the view gives the file's column (same values),
and when one is not, it keeps the trimmed one. Either way the rows, rejects and results are the staged ones.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from eligibility.batch import load_registry, run_batch
from tests.test_batch_in_place import _same
from tests.test_batch_partitions import AS_OF, TRIALS, _rows, _seeded

# (case, the patient_id written in place of observation row 0's, whether the view gives the file's column)
CASES = [
    ("ids as given", None, True),
    ("one id padded with spaces", " {pid} ", False),
    ("one id with a trailing space", "{pid} ", False),
    ("a blank id (row left out)", "", True),
    ("a padded id of no patient (row left out)", " ghost ", True),
    ("a missing id (row left out)", "NULL", True),
]


def _edit_first_id(folder: Path, new: str | None) -> str:
    """Rewrite observations.parquet with row 0's patient_id replaced; returns the original id."""
    con = duckdb.connect()
    path = folder / "observations.parquet"
    first = con.execute(f"SELECT patient_id FROM read_parquet('{path}') LIMIT 1").fetchone()
    assert first is not None
    if new is not None:
        value = "NULL" if new == "NULL" else "'" + new.format(pid=first[0]) + "'"
        con.execute(
            f"""CREATE TABLE t AS SELECT CASE WHEN file_row_number = 0 THEN {value} ELSE patient_id END AS patient_id,
                       * EXCLUDE (patient_id, file_row_number)
                FROM read_parquet('{path}', file_row_number = true) ORDER BY file_row_number"""
        )
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    return str(first[0])


def _view_gives_file_column(reg_con: duckdb.DuckDBPyConnection) -> bool:
    row = reg_con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'observations'").fetchone()
    assert row is not None
    return "raw_patient_id AS patient_id" in str(row[0])


@pytest.mark.parametrize(("case", "new", "verbatim"), CASES, ids=[c[0] for c in CASES])
def test_the_view_gives_the_file_ids_only_when_they_are_the_typed_ids(
    tmp_path: Path, case: str, new: str | None, verbatim: bool
) -> None:
    folder = tmp_path / "reg"
    folder.mkdir()
    _seeded(folder, 120)
    pid = _edit_first_id(folder, new)
    placed, staged = load_registry(folder), load_registry(folder, in_place=False)
    assert _view_gives_file_column(placed.con) is verbatim, case
    _same(placed, staged)
    if new is not None and new.strip() and "ghost" not in new and new != "NULL":  # the padded row is p's
        count = "SELECT COUNT(*) FROM observations WHERE patient_id = ?"
        assert placed.con.execute(count, [pid]).fetchone() == staged.con.execute(count, [pid]).fetchone()
    reference = run_batch(staged, TRIALS, AS_OF, out=tmp_path / "staged.parquet")
    for parts in (1, 3):
        out = tmp_path / f"placed-{parts}.parquet"
        run_batch(load_registry(folder), TRIALS, AS_OF, out=out, partitions=parts)
        assert _rows(out) == _rows(tmp_path / "staged.parquet"), (case, parts)
    assert reference.attrition  # (the comparison compared screened rows)
