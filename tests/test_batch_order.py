"""The results file is in (trial, patient_id) order even when DuckDB scans the result tables in parallel.

run_batch sorts each shared table once and writes it in stored order (run.write_results, ``presorted``);
that order holds only because the writer turns ``preserve_insertion_order`` on while it streams (the
registry's connection has it off). Measured (2026-12-05, 2 cores): with that SET removed, this registry
(200k patients x two trials, four Parquet row groups, two DuckDB threads) came back with one or both
trials' chunks out of patient order ('p99999' before 'p0') in 5 runs of 5, so this test failed; with it,
never. It takes about 3 s.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow.parquet as pq

from eligibility.batch import load_registry, run_batch
from eligibility.batch.registry import connect

from .test_batch_partitions import AS_OF, TRIALS, _seeded

PATIENTS = 200_000  # x 2 trials: 400k result rows, several DuckDB row groups for the two threads to share


def test_results_are_sorted_by_trial_and_patient_under_a_parallel_scan(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    folder.mkdir()
    _seeded(folder, PATIENTS)
    reg = load_registry(folder, con=connect(threads=2))
    assert reg.con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 2
    out = tmp_path / "results.parquet"
    run_batch(reg, TRIALS, AS_OF, out=out)
    # The setting is the connection's own again after the write.
    assert reg.con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0] is False
    results = pq.ParquetFile(out)
    assert results.num_row_groups >= 4
    table = results.read(columns=["trial", "patient_id"])  # in file order
    keys = list(zip(table.column("trial").to_pylist(), table.column("patient_id").to_pylist(), strict=True))
    assert len(keys) == PATIENTS * len(TRIALS)
    assert [t for t, _ in keys[:: len(keys) - 1]] == sorted(t.id for t in TRIALS)
    disorder = [(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(keys)) if not a < b]
    assert not disorder, f"{len(disorder)} rows out of (trial, patient_id) order, first {disorder[:3]}"
