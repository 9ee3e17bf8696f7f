"""Native :class:`~eligibility.patient.Patient` -> a FHIR R4 collection Bundle.

For round-trip tests (a profile and its Bundle must screen the same) and for users who want to hand a
profile to a FHIR tool. Kept apart from the reader (:mod:`.fhir`): it shares only the system URIs.
"""

from __future__ import annotations

from typing import Any

from ..concepts import Vocabulary, default_vocabulary
from ..evaluate import normalise_system
from ..patient import Patient
from .fhir_values import _SYSTEM_URIS, SNOMED

__all__ = ["patient_to_bundle"]


def _coding(record: Any, vocab: Vocabulary, preferred: tuple[str, ...]) -> dict[str, Any]:
    """A CodeableConcept for a native record; a concept-only record gets the vocabulary's code."""
    system, code = record.system, record.code
    if code is None and record.concept is not None and record.concept in vocab:
        codes = vocab[record.concept].codes
        for name in (*preferred, *codes):
            if codes.get(name):
                system, code = name, codes[name][0]
                break
    cc: dict[str, Any] = {}
    if code is not None:
        uri = _SYSTEM_URIS.get(normalise_system(system) or "", system)
        cc["coding"] = [{"system": uri, "code": code} if uri else {"code": code}]
    if record.text:
        cc["text"] = record.text
    if not cc:
        raise ValueError(f"record {record!r} has no code, text or concept with a code: FHIR needs one")
    return cc


def patient_to_bundle(patient: Patient, vocabulary: Vocabulary | None = None) -> dict[str, Any]:
    """A FHIR R4 collection Bundle that :func:`bundle_to_patient` reads back to the same screening.

    Records that name only a ``concept`` get the vocabulary's first code for it (a code may map to more
    concepts than the one named, so prefer records with codes when exact equality matters). Medications
    become MedicationStatements (``effectivePeriod``; status ``active`` when the end is open). Attestations
    have no FHIR form here and are left out.
    """
    vocab = vocabulary or default_vocabulary()
    pid = patient.id
    subject = {"reference": f"Patient/{pid}"}
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> None:
        entries.append({"fullUrl": f"urn:uuid:{resource['resourceType'].lower()}-{len(entries)}", "resource": resource})

    pat: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if patient.birth_date:
        pat["birthDate"] = patient.birth_date.isoformat()
    if patient.sex:
        pat["gender"] = patient.sex
    add(pat)
    for i, o in enumerate(patient.observations):
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"obs-{i}",
            "status": "final",
            "code": _coding(o, vocab, ("loinc",)),
            "subject": subject,
        }
        if o.effective:
            res["effectiveDateTime"] = o.effective.isoformat()
        if o.value is not None:
            res["valueQuantity"] = {"value": o.value, **({"unit": o.unit} if o.unit else {})}
        elif o.result is not None:
            answer = ("10828004", "Positive") if o.result == "positive" else ("260385009", "Negative")
            res["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": answer[0], "display": answer[1]}]}
        if (o.ref_low is not None or o.ref_high is not None) and o.value is not None:
            rng: dict[str, Any] = {}
            for key, bound in (("low", o.ref_low), ("high", o.ref_high)):
                if bound is not None:
                    rng[key] = {"value": bound, **({"unit": o.unit} if o.unit else {})}
            res["referenceRange"] = [rng]
        add(res)
    for i, c in enumerate(patient.conditions):
        res = {
            "resourceType": "Condition",
            "id": f"cond-{i}",
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": c.status}]
            },
            "code": _coding(c, vocab, ("icd10cm", "snomed")),
            "subject": subject,
        }
        if c.onset:
            res["onsetDateTime"] = c.onset.isoformat()
        if c.abatement:
            res["abatementDateTime"] = c.abatement.isoformat()
        add(res)
    for i, m in enumerate(patient.medications):
        res = {
            "resourceType": "MedicationStatement",
            "id": f"med-{i}",
            "status": "active" if m.end is None else "completed",
            "medicationCodeableConcept": _coding(m, vocab, ("rxnorm", "atc")),
            "subject": subject,
        }
        period = {k: v.isoformat() for k, v in (("start", m.start), ("end", m.end)) if v is not None}
        if period:
            res["effectivePeriod"] = period
        if m.authored:
            res["dateAsserted"] = m.authored.isoformat()
        add(res)
    for i, p in enumerate(patient.procedures):
        res = {
            "resourceType": "Procedure",
            "id": f"proc-{i}",
            "status": "completed",
            "code": _coding(p, vocab, ("snomed",)),
            "subject": subject,
        }
        if p.date:
            res["performedDateTime"] = p.date.isoformat()
        add(res)
    for i, a in enumerate(patient.allergies):
        res = {
            "resourceType": "AllergyIntolerance",
            "id": f"allergy-{i}",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": a.status}
                ]
            },
            "code": _coding(a, vocab, ("snomed",)),
            "patient": subject,
        }
        if a.criticality:
            res["criticality"] = a.criticality
        if a.onset:
            res["onsetDateTime"] = a.onset.isoformat()
        add(res)
    return {"resourceType": "Bundle", "id": f"bundle-{pid}", "type": "collection", "entry": entries}
