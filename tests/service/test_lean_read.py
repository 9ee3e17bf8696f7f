"""The hook's fast FHIR read (service/lean_read.py) against the full ``fhir.resources`` read: the same Patient on
every Synthea bundle of ../shared/data/fhir and on the dev cases' bundles, the same screening results, and on
mutated resources the same outcome -- the same Patient, or the same refusal (message and field)."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from eligibility.errors import InputError
from eligibility.io.fhir import bundle_to_patient
from eligibility.library import TrialLibrary
from eligibility.patient import Patient
from eligibility.service import lean_read, prefetch
from eligibility.service.lean_fhir import prune

from .bundles import BUNDLES, SHARED, load_bundle, pruned

MAKE_CASES = SHARED / "cases-dev" / "make_cases_dev.py"
LIBRARY = Path(__file__).resolve().parent / "library"


class Counting:
    """lean_read.read, counting what it accepted and what it left to the full read."""

    def __init__(self) -> None:
        self.accepted = 0
        self.declined = 0

    def __call__(self, resource: dict[str, Any]) -> Any:
        view = lean_read.read(resource)
        if view is None:
            self.declined += 1
        else:
            self.accepted += 1
        return view


def _outcome(bundle: dict[str, Any], reader: Any) -> tuple[str, Any, Any]:
    try:
        return "patient", bundle_to_patient(bundle, origin="b.json", reader=reader), None
    except InputError as exc:
        return "refused", str(exc), exc.field


@pytest.fixture(scope="module")
def dev_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MAKE_CASES.is_file():
        pytest.skip("../shared/data/cases-dev is not there")
    out = tmp_path_factory.mktemp("cases")
    subprocess.run([sys.executable, str(MAKE_CASES), str(out)], check=True, capture_output=True)
    return out


@pytest.mark.skipif(not BUNDLES, reason="../shared/data/fhir is not there")
def test_same_patient_as_the_full_read_over_every_synthea_bundle() -> None:
    assert len(BUNDLES) >= 200
    reader = Counting()
    for path in BUNDLES:
        bundle = pruned(load_bundle(path))
        assert bundle_to_patient(bundle, origin=path.name, reader=reader) == bundle_to_patient(
            bundle, origin=path.name
        ), path.name
    assert reader.accepted > 10_000  # the fast path was taken, so the comparison is not of one read with itself


def test_same_patient_and_screening_over_the_dev_cases(dev_cases: Path) -> None:
    expectations = json.loads((dev_cases / "expectations.json").read_text())
    as_of = date.fromisoformat(expectations["as_of"])
    library = TrialLibrary.load(dev_cases, cache=False, strict=False)
    assert len(library) == 8
    reader = Counting()
    for name, case in expectations["cases"].items():
        bundle = pruned(json.loads((dev_cases / f"{name}.json").read_text()))
        full = bundle_to_patient(bundle, origin=name)
        lean = bundle_to_patient(bundle, origin=name, reader=reader)
        assert lean == full, name
        trial = [case["trial"].removesuffix(".json")]
        assert library.match(lean, as_of=as_of, trial_ids=trial) == library.match(full, as_of=as_of, trial_ids=trial)
    assert len(expectations["cases"]) >= 140
    assert reader.accepted > 1000


# ---- mutations: wrong values, missing and extra elements -------------------------------------------------

WRONG_VALUES: list[Any] = [
    None,
    "",
    " padded ",
    "two  spaces",
    "a\tb",
    "2020",
    "2020-13-01",
    "2020-02-30",
    "2021-06-01T10:00:00",
    "2021-06-01T10:00:60Z",
    "2021-06-01T10:00:00.1234567+01:00",
    "2021-06-01T25:00:00Z",
    "12.5",
    "true",
    1.5,
    1.0,
    0,
    -3,
    2**40,
    float("inf"),
    True,
    [],
    [None],
    {},
    {"extension": [{"url": "http://x.example", "valueString": "x"}]},
    {"text": "a concept"},
    {"reference": "Patient/other"},
    [{"code": "x"}],
]


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*at, key)
            yield from _paths(inner, (*at, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield (*at, i)
            yield from _paths(inner, (*at, i))


def _set(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


def _mutants(resource: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    for path in _paths(resource):
        if path == ("resourceType",):
            continue
        yield _set(resource, path, KeyError)
        for value in rng.sample(WRONG_VALUES, 6):
            yield _set(resource, path, value)
        if isinstance(path[-1], str):
            yield _set(resource, (*path[:-1], "_" + path[-1]), {"extension": []})
            yield _set(resource, (*path[:-1], path[-1] + "Bogus"), "x")
    yield {**resource, "resourceType": "Observation" if resource["resourceType"] != "Observation" else "Condition"}
    yield {**resource, "contained": [{"resourceType": "Medication", "id": "m"}]}
    yield {**resource, "valueString": "x", "valueInteger": 1}
    yield {**resource, "onsetString": "x", "onsetAge": {"value": 3}}


def _samples() -> list[dict[str, Any]]:
    """A few resources of each mapped type, with components and dosages, from Synthea bundles (pruned)."""
    picked: dict[str, list[dict[str, Any]]] = {}
    for path in BUNDLES[:40]:
        for entry in load_bundle(path)["entry"]:
            resource = dict(prune(entry["resource"]))
            if resource["resourceType"] == "Patient":
                resource["id"] = "p1"
            for field in ("subject", "patient"):
                if isinstance(resource.get(field), dict):
                    resource[field] = {"reference": "Patient/p1"}
            kind = resource["resourceType"] + ("+component" if "component" in resource else "")
            kind += "+dosage" if "dosageInstruction" in resource else ""
            if len(picked.setdefault(kind, [])) < 2 and resource["resourceType"] in lean_read_types():
                picked[kind].append(resource)
    return [r for group in picked.values() for r in group]


def lean_read_types() -> frozenset[str]:
    from eligibility.io.fhir import MAPPED_TYPES

    return frozenset(MAPPED_TYPES)


@pytest.mark.skipif(not BUNDLES, reason="../shared/data/fhir is not there")
def test_mutated_resources_give_the_full_reads_patient_or_its_refusal() -> None:
    rng = random.Random(12)
    samples = _samples()
    assert {"Patient", "Observation", "Condition", "MedicationRequest", "Procedure"} <= {
        r["resourceType"] for r in samples
    }
    patient = next(r for r in samples if r["resourceType"] == "Patient")
    reader = Counting()
    seen = {"patient": 0, "refused": 0}
    for resource in samples:
        for mutant in _mutants(resource, rng):
            entries = [{"resource": mutant}] if resource is patient else [{"resource": patient}, {"resource": mutant}]
            bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
            full = _outcome(bundle, None)
            lean = _outcome(bundle, reader)
            assert lean == full, json.dumps(mutant)[:300]
            seen[full[0]] += 1
    assert seen["patient"] > 200 and seen["refused"] > 200, seen
    assert reader.accepted > 200 and reader.declined > 200  # both paths were exercised


# ---- the service's chart: lean path and full path ---------------------------------------------------------


def _prefetch_of(bundle: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    keys = {
        "Condition": "conditions",
        "MedicationRequest": "medicationRequests",
        "Procedure": "procedures",
        "AllergyIntolerance": "allergies",
        "Observation": "labs",
    }
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    out: dict[str, Any] = {"patient": patient, "vitals": None, "medicationStatements": None}
    for key in keys.values():
        out[key] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    for entry in bundle["entry"]:
        key = keys.get(entry["resource"]["resourceType"])
        if key:
            out[key]["entry"].append({"resource": entry["resource"]})
    return patient["id"], out


def _chart(pid: str, given: dict[str, Any]) -> prefetch.Chart:
    return asyncio.run(prefetch.obtain_chart(given, pid, None, 5.0))


def test_the_service_chart_is_the_same_on_the_lean_and_the_full_path(
    dev_cases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = TrialLibrary.load(LIBRARY, cache=False)
    names = sorted(p.stem for p in dev_cases.glob("[a-z]*.json") if p.stem != "expectations")[:40]
    charts: list[tuple[prefetch.Chart, str]] = []
    for name in names:
        pid, given = _prefetch_of(json.loads((dev_cases / f"{name}.json").read_text()))
        charts.append((_chart(pid, given), name))
    # one broken lab and one broken condition: left out, and the same gaps and open world on both paths
    pid, given = _prefetch_of(json.loads((dev_cases / f"{names[0]}.json").read_text()))
    given["labs"]["entry"].append({"resource": {"resourceType": "Observation", "status": "final"}})
    given["conditions"]["entry"].append(
        {"resource": {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}, "onsetDateTime": "x"}}
    )
    broken = _chart(pid, given)
    assert broken.dropped == 2 and "condition" in broken.open_kinds

    monkeypatch.setattr(prefetch, "read", lambda resource: None)  # every resource through fhir.resources
    for lean, name in charts:
        pid, given = _prefetch_of(json.loads((dev_cases / f"{name}.json").read_text()))
        full = _chart(pid, given)
        assert (lean.patient, lean.open_kinds, lean.gaps, lean.dropped) == (
            full.patient,
            full.open_kinds,
            full.gaps,
            full.dropped,
        ), name
        assert isinstance(lean.patient, Patient)
        assert library.match(lean.patient, as_of=date(2026, 11, 1)) == library.match(
            full.patient, as_of=date(2026, 11, 1)
        )
    pid, given = _prefetch_of(json.loads((dev_cases / f"{names[0]}.json").read_text()))
    given["labs"]["entry"].append({"resource": {"resourceType": "Observation", "status": "final"}})
    given["conditions"]["entry"].append(
        {"resource": {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}, "onsetDateTime": "x"}}
    )
    full_broken = _chart(pid, given)
    assert (broken.patient, broken.open_kinds, broken.gaps) == (
        full_broken.patient,
        full_broken.open_kinds,
        full_broken.gaps,
    )
