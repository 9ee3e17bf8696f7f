"""FHIR input benchmark: load a ~1,000-resource Bundle and screen it against NCT06352281.

Builds a seeded synthetic bundle (Observations with UCUM units and reference ranges, Conditions,
MedicationRequests with dosage bounds, Procedures, and Claims/Encounters the adapter skips), then prints
the median and p90 over N runs of: loading (JSON -> validated R4B resources -> native Patient, with the
default "mapped" validation and with validate="all"), screening, and the total.

    python benchmarks/fhir.py [--runs 30] [--resources 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from eligibility import load_trial, screen
from eligibility.io.fhir import load_fhir_bundle

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LABS = [
    ("777-3", "10*3/uL", 150, 450),
    ("1742-6", "U/L", 7, 45),
    ("1920-8", "IU/L", 8, 43),
    ("38483-4", "mg/dL", 0.5, 1.1),
    ("14682-9", "umol/L", 45, 95),
    ("718-7", "g/dL", 12, 16),
    ("33914-3", "mL/min/{1.73_m2}", 60, 120),
]
CONDITIONS = [("http://snomed.info/sct", "22298006"), ("http://hl7.org/fhir/sid/icd-10-cm", "D69.3"),
              ("http://snomed.info/sct", "44054006"), ("http://snomed.info/sct", "271737000")]  # fmt: skip
DRUGS = ["243670", "309362", "855332", "849574", "310965", "312617"]


def build_bundle(n: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    subject = {"reference": "urn:uuid:p"}
    day0 = date(2021, 5, 1)

    def day() -> str:
        return (day0 - timedelta(days=rng.randint(0, 900))).isoformat()

    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p", "birthDate": "1970-03-04", "gender": "female"}
    ]
    for i in range(n - 1):
        kind = rng.random()
        if kind < 0.6:
            code, unit, low, high = rng.choice(LABS)
            resources.append({
                "resourceType": "Observation", "id": f"o{i}", "status": "final", "subject": subject,
                "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": day(),
                "valueQuantity": {"value": round(rng.uniform(low * 0.5, high * 1.5), 2), "system": UCUM, "code": unit},
                "referenceRange": [{"low": {"value": low, "code": unit}, "high": {"value": high, "code": unit}}],
            })  # fmt: skip
        elif kind < 0.7:
            system, code = rng.choice(CONDITIONS)
            resources.append({
                "resourceType": "Condition", "id": f"c{i}", "subject": subject, "onsetDateTime": day(),
                "code": {"coding": [{"system": system, "code": code}]},
            })  # fmt: skip
        elif kind < 0.8:
            start = day()
            end = (date.fromisoformat(start) + timedelta(days=rng.randint(1, 30))).isoformat()
            resources.append({
                "resourceType": "MedicationRequest", "id": f"m{i}",
                "status": rng.choice(["active", "completed", "stopped"]), "intent": "order",
                "subject": subject, "authoredOn": start,
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": rng.choice(DRUGS)}]},
                "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}}}}],
            })  # fmt: skip
        elif kind < 0.85:
            resources.append({
                "resourceType": "Procedure", "id": f"pr{i}", "status": "completed", "subject": subject,
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "234319005"}]},
                "performedDateTime": day(),
            })  # fmt: skip
        else:
            resources.append({
                "resourceType": "Encounter", "id": f"e{i}", "status": "finished", "subject": subject,
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "period": {"start": day()},
            })  # fmt: skip
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    out, value = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        value = fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out, value


def summary(label: str, ms: list[float]) -> str:
    p90 = statistics.quantiles(ms, n=10)[-1] if len(ms) >= 2 else ms[0]
    return f"{label:<32} median {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms"


def _unshadow_fhir_package() -> None:
    """This file is named fhir.py: as a script, its folder comes first on sys.path and would hide the
    ``fhir`` package (fhir.resources), which the adapter imports lazily."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]


def main() -> None:
    _unshadow_fhir_package()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--resources", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    trial = load_trial("NCT06352281")
    data = build_bundle(args.resources, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        load_fhir_bundle(path)  # warm-up: imports and builds the R4B model classes once
        t0 = time.perf_counter()
        load_ms, patient = timed(lambda: load_fhir_bundle(path), args.runs)
        all_ms, _ = timed(lambda: load_fhir_bundle(path, validate="all"), args.runs)
        as_of = date(2021, 5, 1)
        screen_ms, result = timed(lambda: screen(trial, patient, as_of=as_of), args.runs)
        total_ms = [a + b for a, b in zip(load_ms, screen_ms, strict=True)]
        wall = time.perf_counter() - t0
    kinds = {k: sum(1 for e in data["entry"] if e["resource"]["resourceType"] == k) for k in
             sorted({e["resource"]["resourceType"] for e in data["entry"]})}  # fmt: skip
    print(f"bundle: {len(data['entry'])} resources {kinds}; {args.runs} runs (seed {args.seed})")
    print(
        f"patient: {len(patient.observations)} observations, {len(patient.conditions)} conditions, "
        f"{len(patient.medications)} medications, {len(patient.procedures)} procedures; verdict {result.verdict}"
    )
    print(summary("load (validate mapped types)", load_ms))
    print(summary("load (validate every resource)", all_ms))
    print(summary("screen NCT06352281", screen_ms))
    print(summary("load + screen", total_ms))
    print(f"(wall {wall:.1f} s)")


if __name__ == "__main__":
    main()
