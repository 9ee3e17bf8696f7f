"""The attrition counted while the results are written (AttritionCounter) is the attrition query's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from eligibility.batch import load_registry, run_batch
from eligibility.batch.attrition import AttritionCounter, attrition_sql
from tests.test_batch_partitions import BASIC, TRIALS, _seeded

AS_OF = date(2026, 1, 15)


@pytest.mark.parametrize("source", ["basic", "seeded"])
def test_written_attrition_is_the_queried_attrition(tmp_path: Path, source: str) -> None:
    folder = BASIC
    if source == "seeded":
        folder = tmp_path / "registry"
        folder.mkdir()
        _seeded(folder)
    written = run_batch(load_registry(folder), TRIALS, AS_OF, out=tmp_path / "results.parquet")
    reg = load_registry(folder)
    queried = run_batch(reg, TRIALS, AS_OF)  # no output: the attrition query
    assert [a.trial for a in written.attrition] == [t.id for t in TRIALS]
    assert written.attrition == queried.attrition
    again = [attrition_sql(reg, table, plan) for table, plan in zip(queried.tables, queried.compiled, strict=True)]
    assert again == queried.attrition
    first = queried.attrition[0]
    assert first.patients > 0 and sum(first.verdicts.values()) == first.patients
    assert any(r.failed for a in queried.attrition for r in a.rows)  # the counts are not all zero
    assert any(r.passed < r.possible_after or r.unknown for a in queried.attrition for r in a.rows)


def test_counter_reads_a_missing_status_as_the_query_does() -> None:
    """A NULL status counts as no status and ends 'eligible' and 'possible' (SQL: s = 'pass' is NULL)."""
    plan = run_batch(load_registry(BASIC), TRIALS[:1], AS_OF).compiled[0]
    first, second = plan.criteria[0].status_column, plan.criteria[1].status_column
    n = 4
    columns = {c.status_column: ["pass"] * n for c in plan.criteria}
    columns[first] = ["pass", None, "fail", "unknown"]
    columns[second] = ["pass", "pass", "pass", "pass"]
    columns["verdict"] = ["eligible", "needs-review", "ineligible", "needs-review"]
    counter = AttritionCounter(plan)
    batch = pa.RecordBatch.from_pydict(columns)
    counter.add(batch.slice(0, 2))
    counter.add(batch.slice(2, 2))
    got = counter.result()
    assert got.patients == n
    assert (got.rows[0].passed, got.rows[0].failed, got.rows[0].unknown) == (1, 1, 1)
    assert (got.rows[0].eligible_after, got.rows[0].possible_after) == (1, 2)
    assert (got.rows[1].eligible_after, got.rows[1].possible_after) == (1, 2)
    assert got.verdicts == {"eligible": 1, "needs-review": 2, "ineligible": 1}
