"""The compiled plans on PySpark: the staged tables go over as Parquet, results come back as Parquet.

Why results come back to DuckDB: the attrition counts and the results file are written by the same
code for both engines (:mod:`.run`, :mod:`.outputs`), so the two engines differ only in who runs the
plan's SQL (``CompiledTrial.sql('spark')``, transpiled by sqlglot from the one AST).

Where Spark runs: local mode (``local[2]``) by default; a cluster with ``master`` (``spark://host:7077``,
``yarn``, ``k8s://...``); or a Spark Connect server named by the ``SPARK_REMOTE`` environment variable
(``sc://host:15002``) when no master is given. Either way the staged tables are written to, and the
results read back from, one folder under the work folder: on a cluster that folder must be visible under
the same path to the driver and every worker (a shared file system), since the executors read the
tables and write the results there themselves. Results never travel through the driver.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from .compile import CompiledTrial
from .registry import RECORD_TABLES, Registry, lit
from .staging import STAGING_PREFIX

LOCAL_MASTER = "local[2]"
# The SQL settings the plan's results depend on (or that keep their Parquet readable as DuckDB reads
# Spark's results): set on every session, classic or Connect.
SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


class SparkRunner:
    """The same compiled plan on PySpark: the staged tables go over as Parquet, the results come back so.

    ``master``: a Spark master URL (default: ``SPARK_REMOTE``'s Spark Connect server if set, else local
    mode). ``work_dir``: where the exchange folder is made (default: the temp folder); on a cluster, a
    folder every worker sees under the same path.
    """

    def __init__(self, reg: Registry, master: str | None = None, work_dir: str | Path | None = None):
        try:
            import pyspark  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise InputError("--engine spark needs pyspark: pip install 'eligibility[spark]'") from exc
        self.reg = reg
        # Named like a staged registry (prefix and pid), so that a dead run's folder is removed by the
        # next run's remove_stale_staging on the same work folder.
        self.dir = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-spark-", dir=work_dir))
        try:
            self.spark = _session(master, work_dir)
            for table in ("patients", *RECORD_TABLES, *sorted(reg.extras)):
                path = str(self.dir / f"{table}.parquet")
                reg.con.execute(f"COPY {table} TO {lit(path)} (FORMAT parquet)")
                self.spark.read.parquet(_uri(path)).createOrReplaceTempView(table)
        except BaseException:
            self.close()
            raise

    def run(self, plan: CompiledTrial, table: str) -> None:
        """The plan run by Spark, written by its executors as Parquet, read into a DuckDB temp table."""
        path = self.dir / table
        self.spark.sql(plan.sql("spark")).write.mode("overwrite").parquet(_uri(str(path)))
        self.reg.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT * FROM read_parquet({lit(str(path / '*.parquet'))}) ORDER BY patient_id"
        )  # sorted once here: the results are written in stored order (run.write_results, presorted)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _uri(path: str) -> str:
    """A local path as Spark must be told it: with a cluster's default file system (HDFS), a bare path
    would name a file there, not the shared folder."""
    return Path(path).absolute().as_uri()


def _session(master: str | None, work_dir: str | Path | None) -> Any:
    from pyspark.sql import SparkSession

    remote = os.environ.get("SPARK_REMOTE") if master is None else None
    if remote:
        return _connect(remote)
    wanted = master or LOCAL_MASTER
    # A session of this process on another master is stopped: getOrCreate would hand it back unchanged.
    current = getattr(SparkSession, "_instantiatedSession", None)
    if current is not None and current._sc._jsc is not None and current.sparkContext.master != wanted:
        current.stop()
    builder = SparkSession.builder.master(wanted).appName("eligibility-batch").config("spark.ui.enabled", "false")
    for key, value in SQL_CONF.items():
        builder = builder.config(key, value)
    if wanted.startswith("local") and work_dir is not None:
        # Local mode: the executors are this process, their shuffle and spill go to the work folder.
        # (On a cluster the workers' own SPARK_LOCAL_DIRS decide.)
        builder = builder.config("spark.local.dir", str(Path(work_dir).absolute()))
        # and the driver JVM's own temp folder (a spark-<uuid> folder), else the system's /tmp
        builder = builder.config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={Path(work_dir).absolute()}")
    with _without_env("SPARK_REMOTE"):  # a master given wins over SPARK_REMOTE (pyspark would refuse both)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # a bad master URL, an unreachable cluster, no Java
            raise InputError(f"cannot start Spark on {wanted}: {_first_line(exc)}", "--spark-master") from None
    sc = session.sparkContext
    if not sc.getConf().contains("spark.sql.shuffle.partitions"):
        # Spark's 200 shuffle partitions are for far larger inputs than a plan's per-patient aggregates
        # on a few cores: on one 1-core worker a 2,000-patient run took 71 s with them and 30 s with 4.
        # Two per core, unless the cluster's configuration (spark-defaults.conf, --conf) says otherwise.
        session.conf.set("spark.sql.shuffle.partitions", str(max(4, 2 * sc.defaultParallelism)))
    return session


def _connect(remote: str) -> Any:
    """A Spark Connect session on SPARK_REMOTE; its client needs packages pyspark does not install."""
    from pyspark.sql import SparkSession

    try:
        from pyspark.sql.connect import utils
        from pyspark.sql.pandas.utils import require_minimum_pandas_version, require_minimum_pyarrow_version

        for require in (
            require_minimum_pandas_version,
            require_minimum_pyarrow_version,
            utils.require_minimum_grpc_version,
            utils.require_minimum_grpcio_status_version,
            utils.require_minimum_googleapis_common_protos_version,
            utils.require_minimum_zstandard_version,
        ):
            require()
    except ImportError as exc:
        raise InputError(
            f"SPARK_REMOTE={remote} asks for Spark Connect, whose client is not installed here "
            f"({_first_line(exc)}); pip install 'pyspark[connect]', or unset SPARK_REMOTE and give --spark-master",
            "SPARK_REMOTE",
        ) from None
    try:
        builder = SparkSession.builder.remote(remote).appName("eligibility-batch")
        for key, value in SQL_CONF.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    except Exception as exc:
        raise InputError(f"cannot reach Spark Connect at {remote}: {_first_line(exc)}", "SPARK_REMOTE") from None


@contextlib.contextmanager
def _without_env(name: str) -> Iterator[None]:
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
