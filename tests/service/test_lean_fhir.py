"""The hook's pruned FHIR read (service/lean_fhir.py) gives the same Patient as the full read over every Synthea
bundle of ../shared/data/fhir, and the same error for an invalid element the screening reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eligibility.errors import InputError
from eligibility.io.fhir import bundle_to_patient
from eligibility.service.lean_fhir import prune

from .bundles import BUNDLES, load_bundle, pruned


@pytest.mark.skipif(not BUNDLES, reason="../shared/data/fhir is not there")
def test_same_patient_as_the_full_read_over_every_synthea_bundle() -> None:
    assert len(BUNDLES) >= 200
    shrunk = 0
    for path in BUNDLES:
        bundle = load_bundle(path)
        full = bundle_to_patient(bundle, origin=path.name)
        lean = bundle_to_patient(pruned(bundle), origin=path.name)
        assert lean == full, path.name
        shrunk += sum(len(e["resource"]) - len(prune(e["resource"])) for e in bundle["entry"])
    assert shrunk > 0  # something was left out, so the comparison is not of identical inputs


PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01", "gender": "female"}
OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "category": [{"coding": [{"code": "laboratory"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2025-01-01",
    "issued": "2025-01-01T10:00:00Z",
    "valueQuantity": {"value": 12.5, "unit": "g/dL"},
}


def _bundle(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": PATIENT}, {"resource": resource}]}


def _broken(path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(OBSERVATION)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("effectiveDateTime", "yesterday"),
        ("valueQuantity.value", "twelve"),
        ("status", 123),  # a number where a code belongs
        ("code", KeyError),  # required
        ("subject", "Patient/p1"),  # a string where a Reference belongs
        ("valueString", "high"),  # two values at once: value[x] is one choice
        ("unknownElement", 1),
    ],
)
def test_an_invalid_element_it_reads_gives_the_same_error(path: str, value: Any) -> None:
    resource = _broken(path, value)
    with pytest.raises(InputError) as full:
        bundle_to_patient(_bundle(resource), origin="hook")
    if path == "unknownElement":  # not an element the screening reads: left out, the resource is read
        assert bundle_to_patient(_bundle(dict(prune(resource))), origin="hook").observations
        return
    with pytest.raises(InputError) as lean:
        bundle_to_patient(_bundle(dict(prune(resource))), origin="hook")
    assert (str(lean.value), lean.value.field) == (str(full.value), full.value.field)


def test_an_error_only_in_an_element_it_never_reads_no_longer_drops_the_resource() -> None:
    resource = _broken("issued", "not a time")
    with pytest.raises(InputError):
        bundle_to_patient(_bundle(resource), origin="hook")
    [obs] = bundle_to_patient(_bundle(dict(prune(resource))), origin="hook").observations
    assert (obs.code, obs.value) == ("718-7", 12.5)
