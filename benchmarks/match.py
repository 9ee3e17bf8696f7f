"""Trial library: load time (cold, warm from the cache) and one patient against every trial.

Loads ``studies-100-leukaemia.json`` (100 CT.gov studies) as a :class:`eligibility.library.TrialLibrary`
three ways: compiled afresh with no cache, compiling into an empty cache folder, and from that cache in a
new interpreter (what a restarted service pays). Then matches Synthea patients (gzipped FHIR bundles) against
all 100 trials and prints the median and p95 per patient, wall-clock and CPU time of this process (the CPU
figure is what an idle machine would show when the machine is shared). Figures only, never assertions.

Run: ``python benchmarks/match.py [--patients N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eligibility.library import TrialLibrary
    from eligibility.patient import Patient

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/fhir.py would shadow the fhir.resources package the FHIR reader imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
DATA = ROOT.parent / "shared" / "data"
LIBRARY = DATA / "ctgov" / "studies-100-leukaemia.json"
PATIENTS = DATA / "fhir" / "synthea-195"
AS_OF = date(2026, 1, 15)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _load_in_new_interpreter(cache: str) -> tuple[float, float, float]:
    """Seconds to import the package, to read the vocabulary, and to load the library from ``cache``, in a
    fresh process (what a restarted service pays)."""
    code = (
        "import time; t=time.perf_counter(); from eligibility.library import TrialLibrary; "
        "from eligibility.concepts import default_vocabulary; t1=time.perf_counter(); default_vocabulary(); "
        f"t2=time.perf_counter(); TrialLibrary.load({str(LIBRARY)!r}, cache={cache!r}); "
        "print(t1-t, t2-t1, time.perf_counter()-t2)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    imports, vocabulary, load = out.stdout.split()
    return float(imports), float(vocabulary), float(load)


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:.1f} ms, p95 {_percentile(values, 0.95) * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=40, help="Synthea patients to match (of 195)")
    parser.add_argument("--rounds", type=int, default=3, help="times each patient is matched")
    args = parser.parse_args()

    from eligibility.api import load_patient
    from eligibility.library import TrialLibrary

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        lib = TrialLibrary.load(LIBRARY, cache=False)
        no_cache = time.perf_counter() - t0
        t0 = time.perf_counter()
        TrialLibrary.load(LIBRARY, cache=cache)
        filling = time.perf_counter() - t0
        t0 = time.perf_counter()
        TrialLibrary.load(LIBRARY, cache=cache)
        warm_same = time.perf_counter() - t0
        # The first new interpreter also re-compiles if the package's files changed since this process
        # hashed them (the cache is never stale); the three after it are timed.
        entries = len(list(Path(cache).rglob("*.json")))
        _load_in_new_interpreter(cache)
        recompiled = len(list(Path(cache).rglob("*.json"))) > entries
        fresh = [_load_in_new_interpreter(cache) for _ in range(3)]
    n_crit = sum(len(t.trial.criteria) for t in lib)
    print(f"library: {len(lib)} trials, {n_crit} criteria ({LIBRARY.name})")
    print(f"load, compiled afresh (no cache):            {no_cache:.2f} s")
    print(f"load, compiling into an empty cache:         {filling:.2f} s")
    print(f"load from the cache, same process:           {warm_same * 1e3:.0f} ms")
    imports, vocabulary, load = (statistics.median(f[k] for f in fresh) * 1e3 for k in range(3))
    print(
        f"load from the cache, new interpreter:        {load:.0f} ms"
        f" (+ {vocabulary:.0f} ms reading the vocabulary, + {imports:.0f} ms imports; median of {len(fresh)})"
        + (" [the package changed during the run: the first new interpreter compiled afresh]" if recompiled else "")
    )

    files = sorted(PATIENTS.glob("*.json.gz"))[: args.patients]
    t0 = time.perf_counter()
    patients = [load_patient(f) for f in files]
    reading = (time.perf_counter() - t0) / max(1, len(patients))
    resources = statistics.median(
        len(p.observations) + len(p.conditions) + len(p.medications) + len(p.procedures) for p in patients
    )
    for p in patients[:3]:  # warm-up: unit factors, code lookups, concept matching of the vocabulary
        lib.match(p, as_of=AS_OF)
    print(
        f"match 1 patient x {len(lib)} trials ({len(patients)} Synthea patients x {args.rounds} rounds, median "
        f"{resources:.0f} mapped records each; reading a bundle {reading * 1e3:.0f} ms, not included):"
    )
    _time_matches(lib, patients, args.rounds, "default gc")
    # A long-running service freezes what it loaded at start-up, so that the cyclic collector stops
    # walking the compiled library on every full collection (the p95 is mostly those collections).
    gc.freeze()
    _time_matches(lib, patients, args.rounds, "after gc.freeze()")


def _time_matches(lib: TrialLibrary, patients: list[Patient], rounds: int, label: str) -> None:
    wall: list[float] = []
    cpu: list[float] = []
    verdicts: dict[str, int] = {}
    for _ in range(rounds):
        for p in patients:
            w0, c0 = time.perf_counter(), time.process_time()
            matches = lib.match(p, as_of=AS_OF)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            for m in matches:
                verdicts[m.verdict] = verdicts.get(m.verdict, 0) + 1
    print(f"  {label:18} wall {_ms(wall)}; cpu {_ms(cpu)}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"  {'':18} verdicts over all matches: {dict(sorted(verdicts.items()))}")


if __name__ == "__main__":
    main()
