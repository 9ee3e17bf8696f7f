"""Batch screening at scale (issue 16): seeded registries of N patients x trial libraries of T trials.

    python benchmarks/batch.py --patients 1000000 3000000 10000000 --trials 1 10 100 --repeat 3 --data DIR
    python benchmarks/batch.py --patients 1000000 --staged          # the copy-into-DuckDB path, to compare
    python benchmarks/batch.py --patients 100000 1000000 --engine spark --spark-master standalone --repeat 1

Each run is a fresh process (so its peak RSS is its own): load, screen (every trial, shared passes) and
write (the streamed, sorted Parquet results) wall and CPU seconds, peak RSS, patient-trials per second.
Beside them, in the same invocation and on the same files, the limits: a full scan of the inputs (DuckDB
hashing every value of every column of every Parquet file) and the hand-written query of benchmarks/batch_compare.py
(the NCT06352281 criteria as a person would write them, computed and written sorted to Parquet).
One trial is NCT06352281 (rules/); 10 and 100 trials are the first of ../shared/data/ctgov/
studies-100-leukaemia.json. Medians of --repeat runs; the load average is printed with each row because
the machine is shared. Figures only, no assertions. ``--data DIR`` keeps the generated registries
(DIR/long-<N>/) for the next invocation; ``batch_compare.py`` has the evaluator and OMOP comparisons.

``--engine spark`` runs the trials on PySpark instead (run_batch(engine='spark'); DuckDB still reads the
registry and writes the results): local mode by default, ``--spark-master URL`` a cluster, and
``--spark-master standalone`` a standalone master and one worker started by this script on 127.0.0.1
from the pyspark package (spark-class ...Master / ...Worker, each in its own process group, both killed
when the script ends, whatever happens). Its screen phase includes the Spark session's start and the
staged tables' export to Parquet; peak RSS adds the driver JVM's (and, with the script's own cluster, the
executor's) peak to the Python process's, but CPU is the Python process's alone (not the JVMs'). One
DuckDB run of the same registry is kept and the Spark results must equal it row by row, every column, in
file order (printed; a difference ends the script)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
# benchmarks/fhir.py would shadow the fhir.resources package the FHIR reader imports: siblings go last.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
LIBRARY = HERE.parent.parent / "shared" / "data" / "ctgov" / "studies-100-leukaemia.json"

_PRELUDE = r"""
import json, os, resource, sys, time
sys.path.append(sys.argv[1])
from datetime import date
def clock():
    return time.perf_counter(), time.process_time()
def since(t):
    w, c = clock()
    return [w - t[0], c - t[1]]
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def tree_peak_mb(root, include_root):
    # The sum of the peak RSS (VmHWM) of a process's descendants (and its own): Spark's JVMs.
    total, todo = 0.0, [int(root)]
    while todo:
        pid = todo.pop()
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                todo += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
            if pid != int(root) or include_root:
                hwm = [x for x in open(f"/proc/{pid}/status") if x.startswith("VmHWM:")]
                total += int(hwm[0].split()[1]) / 1024 if hwm else 0
        except (OSError, ValueError):
            continue
    return total
"""

ONE_RUN = (
    _PRELUDE
    + r"""
from eligibility.batch import load_registry, run_batch
from eligibility.batch.registry import connect
from eligibility.library import TrialLibrary
from eligibility.trial import load_trial
import tempfile
folder, n_trials, in_place, memory = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
out_dir = tempfile.mkdtemp(prefix="batch-bench-", dir=os.path.dirname(os.path.abspath(folder)))
partitions = int(sys.argv[6]) or None
engine, master, work_dir, keep = sys.argv[8], sys.argv[9] or None, sys.argv[10] or None, sys.argv[11]
if n_trials == 1:
    trials = [load_trial("NCT06352281")]
else:
    trials = [e.trial for e in TrialLibrary.load(sys.argv[7])][:n_trials]
load_avg = open("/proc/loadavg").read().split()[0]
t = clock()
con = connect(memory_limit=memory)
con.execute("SET enable_progress_bar = false")
reg = load_registry(folder, con=con, in_place=in_place)
load = since(t)
marks = {}
def step(msg):
    if msg.startswith("writing"):
        marks["write"] = clock()
t = clock()
kw = {"partitions": partitions} if partitions else {}
if engine == "spark":
    kw.update(engine="spark", spark_master=master, work_dir=work_dir)
import shutil
try:
    run_batch(reg, trials, date(2026, 1, 15), out=out_dir + "/results.parquet", on_step=step, **kw)
    total = since(t)
    write = since(marks["write"])
    if keep:
        shutil.move(out_dir + "/results.parquet", keep)
finally:
    shutil.rmtree(out_dir, ignore_errors=True)
screen = [total[0] - write[0], total[1] - write[1]]
# Spark's memory is in its JVMs: the driver's (a child of this process) and, on the script's own
# standalone cluster, the executor's (a child of the worker); read while the session is still up.
jvm = tree_peak_mb(os.getpid(), False) if engine == "spark" else 0.0
if engine == "spark" and os.environ.get("BENCH_SPARK_WORKER_PID"):
    jvm += tree_peak_mb(os.environ["BENCH_SPARK_WORKER_PID"], False)
print(json.dumps({"trials": len(trials), "load": load, "screen": screen, "write": write, "rss_mb": rss_mb() + jvm,
                  "python_rss_mb": rss_mb(), "loadavg": load_avg, "partitions": partitions or 0}))
"""
)

FULL_SCAN = (
    _PRELUDE
    + r"""
import duckdb
from pathlib import Path
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t = clock()
for f in sorted(Path(sys.argv[2]).glob("*.parquet")):
    if f.name.startswith("results"):
        continue
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{f}')").fetchall()]
    # hash() of every value: COUNT(col) is answered from the Parquet footers' null counts (0.1 s at 1M, no
    # data read), which is no scan at all.
    counts = ", ".join(f'SUM(hash("{c}"))' for c in cols)
    con.execute(f"SELECT {counts} FROM read_parquet('{f}')").fetchall()
print(json.dumps({"scan": since(t), "rss_mb": rss_mb()}))
"""
)

HAND = (
    _PRELUDE
    + r"""
from batch_compare import hand_query
from eligibility.batch import load_registry
from eligibility.batch.registry import connect
from eligibility.trial import load_trial
folder = sys.argv[2]
con = connect(memory_limit=sys.argv[3])
con.execute("SET enable_progress_bar = false")
reg = load_registry(folder, con=con)
sql = hand_query(reg, load_trial("NCT06352281"))
t = clock()
reg.con.execute(f"CREATE TEMP TABLE hand AS {sql}")
reg.con.execute(f"COPY (SELECT * FROM hand ORDER BY patient_id) TO '{folder}/results-hand.parquet' (FORMAT parquet)")
took = since(t)
os.remove(f"{folder}/results-hand.parquet")
print(json.dumps({"hand": took, "rss_mb": rss_mb()}))
"""
)


COMPARE = (
    _PRELUDE
    + r"""
import duckdb
con = duckdb.connect()  # preserve_insertion_order on (the default): both files are read in file order
a, b = (f"read_parquet('{p}')" for p in sys.argv[2:4])
names = [[d[0] for d in con.execute(f"SELECT * FROM {x} LIMIT 0").description] for x in (a, b)]
rows = [con.execute(f"SELECT COUNT(*) FROM {x}").fetchall()[0][0] for x in (a, b)]
cols = ", ".join(f'"{c}"' for c in names[0])
differ = None
if names[0] == names[1] and rows[0] == rows[1]:
    # Row by row in file order: the i-th row of one file against the i-th of the other, every column.
    differ = con.execute(
        f"SELECT COUNT(*) FROM (SELECT row({cols}) AS r FROM {a}) POSITIONAL JOIN (SELECT row({cols}) AS s FROM {b}) "
        "WHERE r IS DISTINCT FROM s"
    ).fetchall()[0][0]
print(json.dumps({"names": names[0] == names[1], "rows": rows, "columns": len(names[0]), "differ": differ}))
"""
)


def child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code, str(HERE), *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:  # the child's own error, not only its exit status
        raise SystemExit(f"benchmark run {args} failed:\n{out.stderr[-4000:]}")
    # The last JSON line: DuckDB may draw its progress bar on stdout before it.
    line = [x for x in out.stdout.splitlines() if x.startswith('{"')][-1]
    result: dict[str, object] = json.loads(line)
    return result


def registry(data: Path, patients: int) -> Path:
    """DIR/long-<N>: generated once (batch_data.generate), reused while its 'done' marker is there."""
    from batch_data import generate

    folder = data / f"long-{patients}"
    if not (folder / "done").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        generate(folder, patients)
        (folder / "done").write_text(f"{time.perf_counter() - t0:.0f} s\n")
        print(f"generated {patients:,} patients in {time.perf_counter() - t0:.0f} s -> {folder}", flush=True)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_env(folder: Path) -> dict[str, str]:
    """Spark's environment: everything on loopback, its scratch and worker folders under ``folder``."""
    import pyspark

    env = dict(os.environ)
    env.pop("SPARK_REMOTE", None)
    env.update(
        SPARK_HOME=str(Path(pyspark.__file__).parent),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_DIRS=str(folder / "local"),
        SPARK_WORKER_DIR=str(folder / "worker"),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # the JVM may outlive the launcher
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def standalone_cluster(folder: Path, env: dict[str, str], cores: int, memory: str) -> Iterator[tuple[str, int]]:
    """A standalone master and one worker on 127.0.0.1 (the pyspark package's spark-class), in their own
    process groups, killed on the way out; yields (master URL, the worker's pid)."""
    spark_class = Path(env["SPARK_HOME"]) / "bin" / "spark-class"
    port, webui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], log: str) -> None:
        with open(folder / log, "wb") as out:
            procs.append(
                subprocess.Popen(
                    [str(spark_class), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
            )  # fmt: skip

    try:
        start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
               "--webui-port", str(webui)], "master.log")  # fmt: skip
        start(["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", str(cores),
               "--memory", memory, "--webui-port", str(worker_ui)], "worker.log")  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(f"http://127.0.0.1:{webui}/json/", timeout=2) as r,
            ):
                if any(w.get("state") == "ALIVE" for w in json.load(r).get("workers", [])):
                    break
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                logs = "\n".join((folder / n).read_text(errors="replace")[-1500:] for n in ("master.log", "worker.log"))
                raise SystemExit(f"the standalone cluster did not come up:\n{logs}")
            time.sleep(0.5)
        print(f"standalone master {url}, one worker ({cores} cores, {memory}) on 127.0.0.1", flush=True)
        yield url, procs[1].pid
    finally:
        for p in reversed(procs):
            _kill_group(p)


def compare(duck: Path, spark: Path) -> str:
    """The Spark results against DuckDB's, row by row in file order; a difference ends the script."""
    same = child(COMPARE, str(duck), str(spark))
    rows = same["rows"]
    if not same["names"] or same["differ"] != 0:
        raise SystemExit(f"Spark's results differ from DuckDB's: {same}")
    return f"identical to DuckDB's: {rows[0]:,} rows x {same['columns']} columns, row by row"  # type: ignore[index]


def med(runs: list[dict[str, object]], key: str, i: int | None = None) -> float:
    values = [r[key] for r in runs]
    return statistics.median(float(v[i]) if i is not None else float(v) for v in values)  # type: ignore[index, arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[1_000_000])
    parser.add_argument(
        "--trials", type=int, nargs="*", default=[1], help="library sizes (1, 10, 100); none: the limits only"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", default="", help="keep the generated registries here (default: a temp folder)")
    parser.add_argument("--library", default=str(LIBRARY), help="the trials beyond the first (a CT.gov JSON)")
    parser.add_argument("--memory-limit", default="3GB")
    parser.add_argument("--partitions", type=int, default=0, help="force this many patient partitions")
    parser.add_argument("--staged", action="store_true", help="copy the Parquet tables into DuckDB (in_place=False)")
    parser.add_argument("--no-limits", action="store_true", help="skip the full-scan and hand-written runs")
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument(
        "--spark-master",
        default="",
        help="with --engine spark: a master URL, or 'standalone' (a master and one worker started on 127.0.0.1 "
        "for this run); default local mode",
    )
    parser.add_argument("--spark-cores", type=int, default=2, help="the started worker's cores")
    parser.add_argument("--spark-memory", default="4g", help="the started worker's memory")
    args = parser.parse_args()
    if args.spark_master and args.engine != "spark":
        parser.error("--spark-master needs --engine spark")
    with contextlib.ExitStack() as stack:
        spark: tuple[str, dict[str, str] | None, str] = ("", None, "")  # master URL, environment, work folder
        if args.engine == "spark":
            folder = Path(tempfile.mkdtemp(prefix="batch-bench-spark-", dir=args.data or None))
            stack.callback(shutil.rmtree, folder, True)
            env = spark_env(folder)
            (folder / "work").mkdir()  # on loopback the driver's folder is the worker's (the shared one)
            master = args.spark_master
            if master == "standalone":
                master, worker_pid = stack.enter_context(
                    standalone_cluster(folder, env, args.spark_cores, args.spark_memory)
                )
                env["BENCH_SPARK_WORKER_PID"] = str(worker_pid)
            spark = (master, env, str(folder / "work"))
        run_matrix(args, spark)


def run_matrix(args: argparse.Namespace, spark: tuple[str, dict[str, str] | None, str]) -> None:
    master, env, work = spark
    if env is not None:
        print(f"engine: spark on {master or 'local mode (local[2])'}", flush=True)
    grid: dict[tuple[int, int], tuple[float, float, float]] = {}  # (patients, trials) -> wall, CPU, RSS MB
    limits: dict[int, tuple[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp)
        print(
            f"{'patients':>10} {'trials':>6} | {'load':>11} | {'screen':>11} | {'write':>11} | {'total':>6} "
            f"{'CPU':>6} | {'peak RSS':>8} | {'pt-trials/s':>11} | {'full scan':>9} | {'hand query':>10} | load avg"
        )
        for patients in args.patients:
            folder = registry(data, patients)
            scan = hand = ""
            if not args.no_limits:
                scans = [child(FULL_SCAN, str(folder)) for _ in range(args.repeat)]
                hands = [child(HAND, str(folder), args.memory_limit) for _ in range(args.repeat)]
                scan = f"{med(scans, 'scan', 0):.1f} s"
                hand = f"{med(hands, 'hand', 0):.1f} s"
                limits[patients] = (
                    f"{scan} ({med(scans, 'scan', 1):.1f} s)",
                    f"{hand} ({med(hands, 'hand', 1):.1f} s), {med(hands, 'rss_mb') / 1024:.2f} GB",
                )
                print(
                    f"{patients:>10,} limits: full scan {scan} (CPU {med(scans, 'scan', 1):.1f} s), hand-written query "
                    f"+ sorted Parquet {hand} (CPU {med(hands, 'hand', 1):.1f} s, "
                    f"peak RSS {med(hands, 'rss_mb'):.0f} MB)",
                    flush=True,
                )
            for n_trials in args.trials:
                keep = [""] * args.repeat
                if env is not None:  # the first run's results are compared with one DuckDB run's
                    keep[0] = str(Path(work).parent / "spark.parquet")
                runs = [
                    child(ONE_RUN, str(folder), str(n_trials), "0" if args.staged else "1", args.memory_limit,
                          str(args.partitions), args.library, args.engine, master, work, keep[i], env=env)
                    for i in range(args.repeat)
                ]  # fmt: skip
                parts = {k: (med(runs, k, 0), med(runs, k, 1)) for k in ("load", "screen", "write")}
                # The total is the median of each run's total (not the sum of the phases' medians).
                total = statistics.median(sum(float(r[k][0]) for k in parts) for r in runs)  # type: ignore[index]
                cpu = statistics.median(sum(float(r[k][1]) for k in parts) for r in runs)  # type: ignore[index]
                grid[(patients, int(runs[0]["trials"]))] = (total, cpu, med(runs, "rss_mb"))
                cells = " | ".join(f"{w:4.1f} ({c:4.1f})" for w, c in parts.values())
                print(
                    f"{patients:>10,} {int(runs[0]['trials']):>6} | {cells} | {total:5.1f}s {cpu:5.1f}s | "
                    f"{med(runs, 'rss_mb'):5.0f} MB | {patients * int(runs[0]['trials']) / total:>11,.0f} | "
                    f"{scan:>9} | {hand:>10} | {', '.join(str(r['loadavg']) for r in runs)}",
                    flush=True,
                )
                if env is not None:
                    duck = str(Path(work).parent / "duckdb.parquet")
                    d = child(ONE_RUN, str(folder), str(n_trials), "0" if args.staged else "1", args.memory_limit,
                              str(args.partitions), args.library, "duckdb", "", "", duck)  # fmt: skip
                    total_d = sum(med([d], k, 0) for k in ("load", "screen", "write"))
                    print(
                        f"{patients:>10,} {n_trials:>6} | Spark python RSS {med(runs, 'python_rss_mb'):.0f} MB; "
                        f"DuckDB (one run): {total_d:.1f} s, {med([d], 'rss_mb'):.0f} MB; Spark results "
                        f"{compare(Path(duck), Path(keep[0]))}",
                        flush=True,
                    )
                    for f in (duck, keep[0]):
                        os.remove(f)
    print("cells: wall s (CPU s), medians of", args.repeat, "fresh processes; limits are for NCT06352281 alone")
    print_grid(grid, limits, args.repeat)


def print_grid(
    grid: dict[tuple[int, int], tuple[float, float, float]], limits: dict[int, tuple[str, str]], repeat: int
) -> None:
    """The sizes x trials table (Markdown): total wall (CPU) and peak RSS per cell, the times one trial,
    and the limits of that size beside them."""
    if not grid:
        return
    sizes = sorted({p for p, _ in grid})
    libraries = sorted({t for _, t in grid})
    head = ["patients", *(f"{t} trial{'s' if t > 1 else ''}" for t in libraries), "full scan", "hand-written query"]
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for size in sizes:
        cells = [f"{size:,}"]
        for t in libraries:
            if (size, t) not in grid:
                cells.append("")
                continue
            wall, cpu, rss = grid[(size, t)]
            cell = f"{wall:.1f} s ({cpu:.1f} s CPU), {rss / 1024:.2f} GB"
            if t > 1 and (size, 1) in grid:
                cell += f", {wall / grid[(size, 1)][0]:.1f}x one trial"
            cells.append(cell)
        scan, hand = limits.get(size, ("", ""))
        cells += [scan, hand]
        print("| " + " | ".join(cells) + " |")
    print(f"\nwall (CPU) in seconds, load + screen + write, medians of {repeat}; limits: wall (CPU) of NCT06352281")


if __name__ == "__main__":
    main()
