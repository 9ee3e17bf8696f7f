"""Time to screen one patient against NCT06352281, and to parse the trial cold and warm.

Prints medians and p99 over many runs after a warm-up; figures only, never assertions.
Run: ``python benchmarks/screen.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _cold_parse_seconds() -> float:
    """A fresh interpreter: imports, grammar and vocabulary loading, then parsing the rule file."""
    code = (
        "import time; t=time.perf_counter(); from eligibility import load_trial; "
        "load_trial('NCT06352281'); print(time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()

    from eligibility import load_patient, load_trial, screen
    from eligibility.trial import load_rule_file, rules_dir

    trial = load_trial("NCT06352281")
    patients = [load_patient(p) for p in sorted((ROOT / "examples").glob("*.json"))]
    as_of = date(2026, 1, 15)
    for _ in range(200):  # warm-up: caches of unit factors, concept matching, code lookups
        for p in patients:
            screen(trial, p, as_of=as_of)

    times: list[float] = []
    for i in range(args.runs):
        p = patients[i % len(patients)]
        t0 = time.perf_counter()
        screen(trial, p, as_of=as_of)
        times.append(time.perf_counter() - t0)

    warm: list[float] = []
    path = rules_dir() / "NCT06352281.yaml"
    for _ in range(50):
        t0 = time.perf_counter()
        load_rule_file(path)
        warm.append(time.perf_counter() - t0)
    cold = [_cold_parse_seconds() for _ in range(5)]

    n_crit = len(trial.criteria)
    print(
        f"screen one patient ({n_crit} criteria, {len(patients)} example patients, {args.runs} runs): "
        f"median {statistics.median(times) * 1e3:.3f} ms, p99 {_percentile(times, 0.99) * 1e3:.3f} ms"
    )
    print(
        f"parse trial warm (rule file, {len(warm)} runs): median {statistics.median(warm) * 1e3:.2f} ms, "
        f"p99 {_percentile(warm, 0.99) * 1e3:.2f} ms"
    )
    print(
        f"parse trial cold (new interpreter incl. imports, {len(cold)} runs): "
        f"median {statistics.median(cold) * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
