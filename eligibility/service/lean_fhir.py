"""A faster FHIR read for the hook: each resource is cut down to the elements the mapper reads before it is
validated, so validation (``fhir.resources``, most of a call's CPU) only checks what the screening uses.

Why prune and not a second, hand-written reader: the pruned resource still goes through the core's one
mapper (:func:`eligibility.io.fhir.bundle_to_patient`) and the same ``fhir.resources`` models, so every kept
element is parsed, converted and checked exactly as the full read does it — the same Patient, and for an
invalid kept element the same error (same entry, same field, same message). What changes: an error only in
an element the screening never reads (``meta``, ``issued``, ``encounter``, ``category`` ...) no longer drops
the resource. Measured on the benchmark's Synthea chart (774 Observations): 0.54 ms -> 0.24 ms each.

Kept per resource type: the elements the mapper reads, the elements FHIR requires (so a resource that lacks
one is still refused), every ``[x]`` choice of a choice element it reads (so "two values at once" is still
caught), and the ``_element`` extension twin of each kept primitive. ``tests/service/test_lean_fhir.py``
proves the same Patient over every Synthea bundle of ``../shared/data/fhir``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_COMMON = frozenset({"resourceType", "id", "status", "contained"})

#: Elements read (or required) per mapped type; a name ending in ``*`` keeps every ``[x]`` choice.
KEEP: dict[str, frozenset[str]] = {
    "Patient": frozenset({"birthDate", "gender", "deceased*"}),
    "Observation": frozenset(
        {"code", "subject", "effective*", "value*", "dataAbsentReason", "interpretation", "referenceRange", "component"}
    ),
    "Condition": frozenset({"code", "subject", "verificationStatus", "clinicalStatus", "onset*", "abatement*"}),
    "MedicationRequest": frozenset({"intent", "subject", "medication*", "authoredOn", "dosageInstruction"}),
    "MedicationStatement": frozenset({"subject", "medication*", "effective*", "dateAsserted", "dosage"}),
    "MedicationAdministration": frozenset({"subject", "medication*", "effective*", "dosage"}),
    "Procedure": frozenset({"code", "subject", "performed*"}),
    "AllergyIntolerance": frozenset(
        {"code", "patient", "verificationStatus", "clinicalStatus", "criticality", "onset*", "category", "type"}
    ),
    "Medication": frozenset({"code"}),
}
_PREFIXES = {t: tuple(k[:-1] for k in keep if k.endswith("*")) for t, keep in KEEP.items()}


def _kept(name: str, rtype: str) -> bool:
    base = name[1:] if name.startswith("_") else name
    return base in _COMMON or base in KEEP[rtype] or base.startswith(_PREFIXES[rtype])


#: Per type, element name -> kept, as decided by :func:`_kept` (a resource's keys repeat from one resource to
#: the next: ~9,000 decisions a call for a few dozen names). Bounded, and only names shaped like FHIR element
#: names are remembered, since the keys come from the request.
_DECIDED: dict[str, dict[str, bool]] = {t: {} for t in KEEP}
_MAX_DECIDED = 512
_ELEMENT_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9]{0,63}")


def prune(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource with only the elements the screening reads (unchanged for a type the mapper skips)."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or rtype not in KEEP:
        return resource
    decided = _DECIDED[rtype]
    if not resource.keys() <= decided.keys():
        for name in resource.keys() - decided.keys():
            if len(decided) >= _MAX_DECIDED or not isinstance(name, str) or not _ELEMENT_NAME.fullmatch(name):
                return {k: v for k, v in resource.items() if _kept(k, rtype)}
            decided[name] = _kept(name, rtype)
    return {name: value for name, value in resource.items() if decided[name]}
