"""Start-up time of ``eligibility screen`` (issue 11: under 1 s), cold and warm, in fresh processes.

Each run is a new process of the README's main command (the seed trial NCT06352281 against examples/).
*cold*: an empty start-up cache folder each run (the grammar table, pint's definitions and the YAML data
are built); *warm*: one folder filled by a first run and kept; *off*: ``ELIGIBILITY_NO_CACHE=1``.
Prints the median and range of wall and CPU time (user + system of the child, from ``getrusage``),
with /proc/loadavg before and after: the machine is shared, so CPU is the figure to compare. Bytecode is
written to a temporary ``PYTHONPYCACHEPREFIX`` (as an installed package has it) unless ``--no-bytecode``.
``--corpus`` also times ``eligibility parse --summary`` over the development corpus (target under 15 s);
``--importtime`` prints the slowest imports (``python -X importtime``, cumulative).
Figures only, never assertions. Run: ``python benchmarks/startup.py [--runs N] [--corpus] [--importtime]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ENTRY = "from eligibility.cli import app; app()"
SCREEN = ["screen", "--trial", "NCT06352281", "--patient", "examples/", "--as-of", "2026-01-15"]
CORPUS = ["parse", "--summary", str(SHARED / "ctgov"), str(SHARED / "lct" / "docs")]


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", ENTRY, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _line(label: str, runs: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return (
        f"{label:<6} wall median {statistics.median(walls):6.3f} s (min {min(walls):.3f}, max {max(walls):.3f})   "
        f"CPU median {statistics.median(cpus):6.3f} s (min {min(cpus):.3f}, max {max(cpus):.3f})   n={len(runs)}"
    )


def _modes(args: list[str], n: int, base: dict[str, str], work: Path) -> None:
    _run(args, {**base, "ELIGIBILITY_NO_CACHE": "1"})  # writes the bytecode (see main), as an install has it
    cold: list[tuple[float, float]] = []
    for i in range(n):
        folder = work / f"cold{i}"
        cold.append(_run(args, {**base, "ELIGIBILITY_CACHE_DIR": str(folder)}))
        shutil.rmtree(folder, ignore_errors=True)
    warm_env = {**base, "ELIGIBILITY_CACHE_DIR": str(work / "warm")}
    _run(args, warm_env)  # fills the folder
    warm = [_run(args, warm_env) for _ in range(n)]
    off = [_run(args, {**base, "ELIGIBILITY_NO_CACHE": "1"}) for _ in range(n)]
    for label, runs in (("cold", cold), ("warm", warm), ("off", off)):
        print(_line(label, runs))


def _importtime(base: dict[str, str], top: int) -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import eligibility.cli"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, int, str]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), int(self_us), name.rstrip()))
    print(f"slowest imports of eligibility.cli (cumulative / self, ms; wall, so load-dependent; top {top}):")
    for cumulative, self_us, name in sorted(rows, reverse=True)[:top]:
        print(f"  {cumulative / 1000:8.1f} {self_us / 1000:8.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per mode (median reported)")
    parser.add_argument("--corpus", action="store_true", help="also time parse --summary of the development corpus")
    parser.add_argument("--corpus-runs", type=int, default=1)
    parser.add_argument("--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE as it is set")
    parser.add_argument("--importtime", type=int, nargs="?", const=25, default=0, metavar="TOP")
    args = parser.parse_args()

    drop = ("ELIGIBILITY_CACHE_DIR", "ELIGIBILITY_NO_CACHE")
    if not args.no_bytecode:
        drop += ("PYTHONDONTWRITEBYTECODE",)
    base = {k: v for k, v in os.environ.items() if k not in drop}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, loadavg before {_loadavg()}")
    with tempfile.TemporaryDirectory(prefix="eligibility-startup-") as tmp:
        work = Path(tmp)
        if not args.no_bytecode:
            # An installed package has its bytecode; a checkout run with PYTHONDONTWRITEBYTECODE=1 compiles every
            # module of the package from source in each process (about 0.3 s). The bytecode goes to a temporary
            # folder, never into the checkout.
            base["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        print("bytecode: " + ("as the environment has it" if args.no_bytecode else "written (PYTHONPYCACHEPREFIX)"))
        print("eligibility " + " ".join(SCREEN))
        _modes(SCREEN, args.runs, base, work / "screen")
        if args.corpus:
            if not SHARED.is_dir():
                print(f"--corpus: {SHARED} not found, skipped")
            else:
                print("eligibility " + " ".join(CORPUS))
                _modes(CORPUS, args.corpus_runs, base, work / "corpus")
        if args.importtime:
            _importtime(base, args.importtime)
    print(f"loadavg after {_loadavg()}")


if __name__ == "__main__":
    main()
