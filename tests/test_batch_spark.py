"""The compiled plan on Spark (local mode) gives exactly the DuckDB results on the same registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eligibility.batch import load_registry, run_batch

from .test_batch_differential import AS_OF, SEED_TRIALS

BASIC = Path(__file__).parent / "fixtures" / "registry" / "basic"

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'eligibility[spark]')")
if shutil.which("java") is None:  # pragma: no cover - depends on the machine
    pytest.skip("Spark needs a Java runtime (java not on PATH)", allow_module_level=True)


@pytest.mark.parametrize("open_world", [False, True])
def test_spark_and_duckdb_agree(open_world: bool) -> None:
    duck = load_registry(BASIC)
    spark = load_registry(BASIC)
    a = run_batch(duck, SEED_TRIALS, AS_OF, open_world=open_world)
    b = run_batch(spark, SEED_TRIALS, AS_OF, open_world=open_world, engine="spark")
    for ta, tb in zip(a.tables, b.tables, strict=True):
        rows_a = duck.con.execute(f"SELECT * FROM {ta} ORDER BY patient_id").fetchall()
        rows_b = spark.con.execute(f"SELECT * FROM {tb} ORDER BY patient_id").fetchall()
        assert rows_a == rows_b
    assert [x.rows for x in a.attrition] == [x.rows for x in b.attrition]


def test_spark_and_duckdb_agree_on_generated_registries() -> None:
    """A few generated registries and rules (every node type), so Spark also sees runs, end events, tests."""
    import tempfile

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from eligibility.trial import Trial

    from .test_batch_differential import _write, generated_trials, registries

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(tables=registries(), trial=generated_trials(), open_world=st.booleans())
    def check(tables: dict[str, list[dict[str, object]]], trial: Trial, open_world: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            _write(Path(tmp), tables)  # type: ignore[arg-type]
            duck, spark = load_registry(tmp), load_registry(tmp)
            trials = [*SEED_TRIALS, trial]
            a = run_batch(duck, trials, AS_OF, open_world=open_world)
            b = run_batch(spark, trials, AS_OF, open_world=open_world, engine="spark")
            for ta, tb in zip(a.tables, b.tables, strict=True):
                assert (
                    duck.con.execute(f"SELECT * FROM {ta} ORDER BY patient_id").fetchall()
                    == spark.con.execute(f"SELECT * FROM {tb} ORDER BY patient_id").fetchall()
                )

    check()


def test_spark_and_duckdb_agree_on_affine_units() -> None:
    """HbA1c in mmol/mol, %, ‰ against % and mmol/mol thresholds: the affine line (and its FLOOR rounding) in Spark."""
    import tempfile

    from .test_batch_differential import _affine_grid, _write

    tables, trial = _affine_grid()
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), tables)
        duck, spark = load_registry(tmp), load_registry(tmp)
        a = run_batch(duck, [trial], AS_OF)
        b = run_batch(spark, [trial], AS_OF, engine="spark")
        for ta, tb in zip(a.tables, b.tables, strict=True):
            assert (
                duck.con.execute(f"SELECT * FROM {ta} ORDER BY patient_id").fetchall()
                == spark.con.execute(f"SELECT * FROM {tb} ORDER BY patient_id").fetchall()
            )
