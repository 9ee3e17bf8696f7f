"""Issue 16 scale runs: load / screen+write wall and CPU time and peak RSS, for a seeded registry and
one trial or a trial library, median of --repeat runs (each in a fresh process, so peak RSS is its own).

    python benchmarks/batch_scale.py --patients 1000000
    python benchmarks/batch_scale.py --patients 100000 --library ../shared/data/ctgov/studies-100-leukaemia.json
    python benchmarks/batch_scale.py --patients 1000000 --staged      # the copy-into-DuckDB path, to compare

Figures only, no assertions; the machine is noisy, quote medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ONE_RUN = r"""
import json, resource, sys, time
from datetime import date
from eligibility.batch import load_registry, run_batch
from eligibility.library import TrialLibrary
from eligibility.trial import load_trial
folder, library, in_place = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
trials = [e.trial for e in TrialLibrary.load(library)] if library else [load_trial("NCT06352281")]
w, c = time.perf_counter(), time.process_time()
reg = load_registry(folder, in_place=in_place)
load = (time.perf_counter() - w, time.process_time() - c)
w, c = time.perf_counter(), time.process_time()
run_batch(reg, trials, date(2026, 1, 15), out=folder + "/results.parquet")
screen = (time.perf_counter() - w, time.process_time() - c)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"trials": len(trials), "load": load, "screen": screen, "rss_mb": rss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--library", default="", help="a trial library folder or CT.gov JSON file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--staged", action="store_true", help="copy the Parquet tables into DuckDB (in_place=False)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from batch import generate

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "registry"
        folder.mkdir()
        generate(folder, args.patients)
        library = args.library
        if library and Path(library).is_file():  # one JSON file: a library folder holding it
            (Path(tmp) / "library").mkdir()
            (Path(tmp) / "library" / Path(library).name).write_bytes(Path(library).read_bytes())
            library = str(Path(tmp) / "library")
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, "-c", ONE_RUN, str(folder), library, "0" if args.staged else "1"],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = statistics.median
    load_w, load_c = med(r["load"][0] for r in runs), med(r["load"][1] for r in runs)
    scr_w, scr_c = med(r["screen"][0] for r in runs), med(r["screen"][1] for r in runs)
    print(
        f"{args.patients:,} patients x {runs[0]['trials']} trial(s), {'staged' if args.staged else 'in place'}, "
        f"median of {len(runs)}: load {load_w:.1f} s (CPU {load_c:.1f}) | screen+write {scr_w:.1f} s "
        f"(CPU {scr_c:.1f}) | total {load_w + scr_w:.1f} s | peak RSS {med(r['rss_mb'] for r in runs):.0f} MB | "
        f"{args.patients * runs[0]['trials'] / (load_w + scr_w):,.0f} patient-trials/s"
    )


if __name__ == "__main__":
    main()
