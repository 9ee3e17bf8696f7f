"""The compiled plans on PySpark: the staged tables go over as Parquet, results come back as Arrow.

Why results come back to DuckDB: the attrition counts and the results file are written by the same
code for both engines (:mod:`.run`, :mod:`.outputs`), so the two engines differ only in who runs the
plan's SQL (``CompiledTrial.sql('spark')``, transpiled by sqlglot from the one AST).
"""

from __future__ import annotations

import os
import tempfile

from ..errors import InputError
from .compile import CompiledTrial
from .registry import RECORD_TABLES, Registry, lit


class SparkRunner:
    """The same compiled plan on PySpark (local mode): the staged tables go over as Parquet."""

    def __init__(self, reg: Registry):
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise InputError("--engine spark needs pyspark: pip install 'eligibility[spark]'") from exc
        self.reg = reg
        self.dir = tempfile.TemporaryDirectory(prefix="eligibility-spark-")
        self.spark = (
            SparkSession.builder.master("local[2]")
            .appName("eligibility-batch")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate()
        )
        for table in ("patients", *RECORD_TABLES, *sorted(reg.extras)):
            path = os.path.join(self.dir.name, f"{table}.parquet")
            reg.con.execute(f"COPY {table} TO {lit(path)} (FORMAT parquet)")
            self.spark.read.parquet(path).createOrReplaceTempView(table)

    def run(self, plan: CompiledTrial, table: str) -> None:
        df = self.spark.sql(plan.sql("spark"))
        arrow = df.toArrow()
        self.reg.con.register(f"{table}_arrow", arrow)
        self.reg.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {table}_arrow")
        self.reg.con.unregister(f"{table}_arrow")

    def close(self) -> None:
        self.dir.cleanup()
