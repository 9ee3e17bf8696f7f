"""Issue 15 items 11-16: what `eligibility batch` writes, refuses and leaves behind.

The interruption tests run the real command in a subprocess on a generated registry big enough that
loading, screening and writing each take a while, send SIGINT or SIGTERM when the run announces the
phase on stderr, and then look at the output folder and the work folder. A signal that arrives after
the results were renamed into place may let the run finish; then the outputs must be complete and
agree with their manifest. Either way nothing half-written or staged may remain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from eligibility.batch.outputs import OutputLock
from eligibility.batch.staging import STAGING_PREFIX
from eligibility.cli import app

from .conftest import ROOT

BASIC = Path(__file__).parent / "fixtures" / "registry" / "basic"
runner = CliRunner()
ARGS = ["batch", "--trial", "NCT06352281", "--as-of", "2026-01-15"]


def _batch(*extra: str) -> tuple[int, str]:
    """Exit code and the error lines of stderr (the progress lines, 'batch: ...', are left out)."""
    res = runner.invoke(app, [*ARGS, *extra])
    return res.exit_code, "".join(
        line for line in res.stderr.splitlines(keepends=True) if not line.startswith("batch: ")
    )


def _registry_copy(tmp: Path) -> Path:
    reg = tmp / "reg"
    shutil.copytree(BASIC, reg)
    return reg


# --- item 11: an output that would overwrite an input ---------------------------------------------


def test_outputs_that_would_overwrite_inputs_are_refused_before_any_work(tmp_path: Path) -> None:
    reg = _registry_copy(tmp_path)
    rule = tmp_path / "trial.yaml"
    shutil.copy(ROOT / "rules" / "NCT06168851.yaml", rule)
    before = {p: p.read_bytes() for p in [*reg.iterdir(), rule]}
    cases = [
        (
            ["--registry", str(reg), "--out", str(reg / "patients.csv")],
            f"error: {reg / 'patients.csv'}: is inside the registry folder {reg}: write the results elsewhere\n",
        ),
        (
            ["--registry", str(reg), "--out", str(reg / "sub" / "r.parquet")],
            f"error: {reg / 'sub' / 'r.parquet'}: is inside the registry folder {reg}: write the results elsewhere\n",
        ),
        (
            ["--registry", str(reg), "--out", str(reg)],
            f"error: {reg}: is a folder; --out names the results file (e.g. results.parquet)\n",
        ),
        (
            ["--registry", str(reg), "--trial", str(rule), "--out", str(rule)],
            f"error: {rule}: would overwrite the input {rule}\n",
        ),
        (
            ["--registry", str(reg), "--out", "/proc/no/such/r.parquet"],
            "error: /proc/no/such: cannot create the output folder: No such file or directory\n",
        ),
    ]
    for extra, message in cases:
        assert _batch(*extra) == (2, message)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg", "trial.yaml"]


def test_an_unwritable_output_folder_is_found_before_the_work(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write into a read-only folder")
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert _batch("--registry", str(BASIC), "--out", str(locked / "r.parquet")) == (
            2,
            f"error: {locked}: the output folder is not writable\n",
        )
    finally:
        locked.chmod(0o700)


# --- item 12: results, rejects and manifest belong together ---------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rejects_and_manifest_are_written_with_the_results_and_replace_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "out" / "r.parquet"
    out.parent.mkdir()
    stale = out.parent / "r.parquet.rejects.csv"
    stale.write_text("file,line\nold.csv,1\n", encoding="utf-8")
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "patients.csv").write_text("patient_id,birth_date,sex\np1,1980-01-01,female\n", encoding="utf-8")
    code, err = _batch("--registry", str(clean), "--out", str(out))
    assert code == 0, err
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "r.parquet",
        "r.parquet.manifest.json",
        "r.parquet.rejects.csv",
    ]
    assert stale.read_text(encoding="utf-8") == "file,line,col,val,reason,kept\n"  # the stale report is gone
    manifest = json.loads((out.parent / "r.parquet.manifest.json").read_text(encoding="utf-8"))
    assert manifest["trials"] == ["NCT06352281"] and manifest["as_of"] == "2026-01-15"
    assert manifest["files"]["results"] == {"name": "r.parquet", "rows": 1, "sha256": _sha(out)}
    assert manifest["files"]["rejects"] == {"name": "r.parquet.rejects.csv", "rows": 0, "sha256": _sha(stale)}
    code, err = _batch("--registry", str(BASIC), "--out", str(out))
    assert code == 0, err
    manifest = json.loads((out.parent / "r.parquet.manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["rejects"]["rows"] == 9
    assert manifest["files"]["rejects"]["sha256"] == _sha(stale)


# --- item 13: one run per output -----------------------------------------------------------------


def test_a_second_run_on_the_same_output_fails_clearly(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    with OutputLock(out):
        assert _batch("--registry", str(BASIC), "--out", str(out)) == (
            2,
            f"error: {out}: another batch run (pid {os.getpid()}) is writing these results; wait for it or"
            " choose another --out\n",
        )
    assert list(tmp_path.iterdir()) == []  # the lock file goes with its holder
    assert _batch("--registry", str(BASIC), "--out", str(out))[0] == 0


# --- item 15: two files for one table; one trial twice ---------------------------------------------


def test_two_files_for_one_table_and_a_trial_given_twice_are_refused(tmp_path: Path) -> None:
    reg = _registry_copy(tmp_path)
    csv, parquet = reg / "patients.csv", reg / "patients.parquet"
    duckdb.execute(f"COPY (SELECT * FROM read_csv('{csv}', all_varchar = true, ignore_errors = true)) TO '{parquet}'")
    out = str(tmp_path / "r.parquet")
    assert _batch("--registry", str(reg), "--out", out) == (
        2,
        f"error: {reg}: both patients.parquet and patients.csv: keep one file per table\n",
    )
    assert _batch("--trial", "NCT06352281", "--registry", str(BASIC), "--out", out) == (
        2,
        "error: --trial: trial NCT06352281 is given twice\n",
    )
    assert not Path(out).exists()


# --- item 16: unreadable registry files and results files -----------------------------------------


def test_unreadable_registry_files_name_the_file(tmp_path: Path) -> None:
    cases = {
        "patients.parquet": (b"PAR1 but not really", "cannot read: No magic bytes found at end of file"),
        "patients.csv": (
            b"patient_id,birth_date,sex\r\r\np1,1980-01-01,male\r\r\n",
            "lines end in '\\r\\r\\n' (converted to Windows line endings twice): convert to '\\n'",
        ),
    }
    for name, (data, message) in cases.items():
        reg = tmp_path / name.replace(".", "_")
        reg.mkdir()
        (reg / name).write_bytes(data)
        code, err = _batch("--registry", str(reg), "--out", str(tmp_path / "r.parquet"))
        assert code == 2
        assert err.startswith(f"error: {reg / name}: {message}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patients_csv", "patients_parquet"]


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        ("p1,1980-01-01,male\np2," + "9" * 3_000_000 + ",female\n", 3),
        # the only data row: DuckDB's CSV sniffer never returned on this one
        ("p2," + "9" * 3_000_000 + ",female\n", 2),
    ],
    ids=["among-others", "only-row"],
)
def test_a_csv_line_over_2_mb_is_one_bad_value(tmp_path: Path, rows: str, line: int) -> None:
    reg = tmp_path / "reg"
    reg.mkdir()
    (reg / "patients.csv").write_text("patient_id,birth_date,sex\n" + rows, encoding="utf-8")
    out = tmp_path / "r.parquet"
    code, err = _batch("--registry", str(reg), "--out", str(out))
    assert code == 0, err
    rejects = duckdb.execute(f"SELECT line, col, reason FROM read_csv('{out}.rejects.csv')").fetchall()
    assert rejects == [(line, "birth_date", "not a date (YYYY-MM-DD) (kept as unknown)")]


def test_explain_on_a_file_that_is_not_results(tmp_path: Path) -> None:
    bad = tmp_path / "r.parquet"
    bad.write_bytes(b"not parquet")
    args = ["explain", "--patient", "p1", "--registry", str(BASIC), "--trial", "NCT06352281", "--results", str(bad)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: {bad}: not a readable batch results file: ")


# --- item 14 and the Deliver section: interrupted runs --------------------------------------------

N_PATIENTS = 40_000


@pytest.fixture(scope="module")
def big_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40,000 patients with 4 labs each, as CSV (the slowest format to load)."""
    reg = tmp_path_factory.mktemp("bigreg")
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'p' || i AS patient_id, DATE '1950-01-01' + CAST(i % 20000 AS INTEGER) AS birth_date,
                   CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END AS sex FROM range({N_PATIENTS}) t(i))
            TO '{reg / "patients.csv"}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT 'p' || (i % {N_PATIENTS}) AS patient_id, 'http://loinc.org' AS system,
                   CASE i % 3 WHEN 0 THEN '777-3' WHEN 1 THEN '718-7' ELSE '2160-0' END AS code,
                   CAST(50 + i % 300 AS VARCHAR) AS value,
                   CASE i % 3 WHEN 0 THEN '10*9/L' WHEN 1 THEN 'g/dL' ELSE 'mg/dL' END AS unit,
                   DATE '2025-12-01' - CAST(i % 200 AS INTEGER) AS effective FROM range({4 * N_PATIENTS}) t(i))
            TO '{reg / "observations.csv"}' (HEADER)"""
    )
    return reg


def _start(registry: Path, out: Path, work: Path) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-c",
        "from eligibility.cli import app; app()",
        *ARGS,
        "--trial",
        "NCT06168851",
        "--registry",
        str(registry),
    ]
    return subprocess.Popen(
        [*cmd, "--out", str(out), "--work-dir", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )


def _wait_for(proc: subprocess.Popen[str], prefix: str) -> list[str]:
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise AssertionError(f"the run ended before '{prefix}': {''.join(seen)}")


def _leftovers(out_dir: Path, work: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir()) + sorted(f"work/{p.name}" for p in work.iterdir())


PHASES = [("load", "batch: loading registry"), ("query", "batch: loaded "), ("write", "batch: writing ")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(("phase", "prefix"), PHASES, ids=[p for p, _ in PHASES])
def test_interrupted_run_leaves_nothing_half_written(
    big_registry: Path, tmp_path: Path, sig: signal.Signals, phase: str, prefix: str
) -> None:
    out_dir, work = tmp_path / "out", tmp_path / "work"
    out_dir.mkdir()
    work.mkdir()
    out = out_dir / "r.parquet"
    proc = _start(big_registry, out, work)
    _wait_for(proc, prefix)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # the signal came after the rename: a complete, consistent set
        assert phase == "write", f"a {sig.name} during {phase} did not stop the run"
        manifest = json.loads((out_dir / "r.parquet.manifest.json").read_text(encoding="utf-8"))
        assert manifest["files"]["results"]["sha256"] == _sha(out)
        assert manifest["files"]["results"]["rows"] == 2 * N_PATIENTS
        assert _leftovers(out_dir, work) == ["r.parquet", "r.parquet.manifest.json", "r.parquet.rejects.csv"]
        return
    assert proc.returncode == 128 + sig
    assert err.endswith(f"error: interrupted by {sig.name}: nothing written ({out} is as it was)\n")
    assert _leftovers(out_dir, work) == []


def test_a_killed_run_is_cleaned_up_by_the_next_one(big_registry: Path, tmp_path: Path) -> None:
    out_dir, work = tmp_path / "out", tmp_path / "work"
    out_dir.mkdir()
    work.mkdir()
    out = out_dir / "r.parquet"
    proc = _start(big_registry, out, work)
    _wait_for(proc, "batch: loading registry")
    proc.kill()  # SIGKILL: nothing can clean up
    proc.communicate(timeout=60)
    staged = [p.name for p in work.iterdir()]
    assert len(staged) == 1 and staged[0].startswith(f"{STAGING_PREFIX}{proc.pid}-")
    (out_dir / f".r.parquet.{proc.pid}.results.tmp").write_bytes(b"half")  # as if killed in the write
    assert _batch("--registry", str(BASIC), "--out", str(out), "--work-dir", str(work))[0] == 0
    assert _leftovers(out_dir, work) == ["r.parquet", "r.parquet.manifest.json", "r.parquet.rejects.csv"]
