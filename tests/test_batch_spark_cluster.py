"""``eligibility batch --engine spark --spark-master spark://...`` on a real standalone cluster.

The fixture starts a standalone master and one worker on loopback from the pyspark package itself
(``$SPARK_HOME/bin/spark-class``), in their own process groups, and kills both groups at the end
whatever happens. The batch runs in a subprocess (its own driver JVM, as a user's run would), and its
results file must equal the DuckDB engine's row by row, every column.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).parent.parent
BASIC = ROOT / "tests" / "fixtures" / "registry" / "basic"
TRIALS = ("NCT06352281", "NCT06168851")  # in rules/; between them labs, conditions, drugs and demographics
PATIENTS = 2000  # benchmarks/batch.py's seeded registry: 20 labs, 2 conditions, 2 drugs a patient
REGISTER_SECONDS = 60
RUN_SECONDS = 150

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'eligibility[spark]')")
if shutil.which("java") is None:  # pragma: no cover - depends on the machine
    pytest.skip("a Spark standalone cluster needs a Java runtime (java not on PATH)", allow_module_level=True)

SPARK_HOME = Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SPARK_REMOTE", None)
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",  # master, worker, executors and the driver all bind to loopback
        SPARK_LOCAL_DIRS=str(tmp / "local"),
        SPARK_WORKER_DIR=str(tmp / "worker"),  # else the executors' logs go into site-packages
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so the launcher script and its JVM go together
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):  # the JVM may outlive the launcher shell
            os.killpg(proc.pid, signal.SIGKILL)
        return


def _alive_workers(webui: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui}/json/", timeout=2) as r:
            state = json.load(r)
    except (OSError, ValueError):
        return 0
    return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A standalone master and one 1-core worker on 127.0.0.1; yields (master URL, env, folder)."""
    tmp = tmp_path_factory.mktemp("spark-cluster")
    env = _spark_env(tmp)
    port, webui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        master_args = ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui)]
        procs.append(_start(["org.apache.spark.deploy.master.Master", *master_args], env, tmp / "master.log"))
        worker_args = [url, "--host", "127.0.0.1", "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui)]
        procs.append(_start(["org.apache.spark.deploy.worker.Worker", *worker_args], env, tmp / "worker.log"))
        deadline = time.monotonic() + REGISTER_SECONDS
        while _alive_workers(webui) < 1:
            for p, name in zip(procs, ("master", "worker"), strict=True):
                if p.poll() is not None:
                    log = (tmp / f"{name}.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"the Spark {name} exited ({p.returncode}):\n{log}")
            if time.monotonic() > deadline:
                log = (tmp / "worker.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"no worker registered with {url} within {REGISTER_SECONDS} s:\n{log}")
            time.sleep(0.5)
        yield url, env, tmp
    finally:
        for p in reversed(procs):
            _kill_group(p)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("batch_bench", ROOT / "benchmarks" / "batch_data.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = tmp_path_factory.mktemp("registry")
    bench.generate(folder, PATIENTS)
    return folder


def _batch(env: dict[str, str], registry: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    trials = [a for t in TRIALS for a in ("--trial", t)]
    cmd = [sys.executable, "-c", "from eligibility.cli import app; app()", "batch", *trials]
    cmd += ["--registry", str(registry), "--out", str(out), "--as-of", "2026-01-15", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_SECONDS)


def _rows(results: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    con = duckdb.connect()
    try:
        cur = con.execute(f"SELECT * FROM read_parquet('{results}') ORDER BY trial, patient_id")
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


def test_standalone_cluster_gives_the_duckdb_rows(cluster: tuple[str, dict[str, str], Path], registry: Path) -> None:
    url, env, tmp = cluster
    work = tmp / "work"  # on loopback the driver's folder is the worker's: the 'shared' file system
    work.mkdir()
    duck = _batch(env, registry, tmp / "duck.parquet")
    assert duck.returncode == 0, duck.stderr
    spark = _batch(
        env, registry, tmp / "spark.parquet", "--engine", "spark", "--spark-master", url, "--work-dir", str(work)
    )
    assert spark.returncode == 0, spark.stderr[-3000:]
    names_d, rows_d = _rows(tmp / "duck.parquet")
    names_s, rows_s = _rows(tmp / "spark.parquet")
    assert names_s == names_d
    assert any(n.startswith("status_") for n in names_d) and any(n.startswith("value_") for n in names_d)
    assert len(rows_d) == len(rows_s) == PATIENTS * len(TRIALS)
    assert {r[names_d.index("verdict")] for r in rows_d} >= {"ineligible", "needs-review"}
    for a, b in zip(rows_d, rows_s, strict=True):
        assert a == b
    # The executors really ran on the worker (an app was launched there), and the exchange folder is gone.
    assert any((tmp / "worker").glob("app-*/*/stderr")), "no executor ran on the worker"
    assert not any(work.glob("eligibility-registry-*")), list(work.iterdir())


def test_spark_master_needs_the_spark_engine(tmp_path: Path) -> None:
    from eligibility.batch import load_registry, run_batch
    from eligibility.errors import InputError
    from eligibility.trial import load_trial

    with pytest.raises(InputError, match="--spark-master needs --engine spark"):
        run_batch(load_registry(BASIC), [load_trial(TRIALS[0])], date(2025, 6, 1), spark_master="local[1]")


def test_spark_remote_without_the_connect_client_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """SPARK_REMOTE asks for Spark Connect; without its client packages the run says so, and how to fix it."""
    try:
        import grpc  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - the Connect client is installed: nothing to refuse
        pytest.skip("the Spark Connect client is installed here")
    from eligibility.batch import load_registry
    from eligibility.batch.spark import SparkRunner
    from eligibility.errors import InputError

    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:1")
    with pytest.raises(InputError, match=r"Spark Connect.*pip install 'pyspark\[connect\]'"):
        SparkRunner(load_registry(BASIC))
