"""Food and drug allergy (issue 11): an AllergyIntolerance's category and type decide "food allergies" and
"drug allergy"; an ICD-10-CM allergy-status code does too; a record that may be either leaves it unknown; and
absence counts only when the allergy records were obtained."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from eligibility.api import screen
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.io.fhir import bundle_to_patient
from eligibility.io.fhir_values import allergy_concept
from eligibility.parse import parse_criterion
from eligibility.patient import Patient
from eligibility.trial import Criterion, Trial

AS_OF = date(2026, 6, 1)
SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
HL7 = "http://terminology.hl7.org/CodeSystem"


@pytest.mark.parametrize(
    ("categories", "kind", "concept"),
    [
        (["food"], "allergy", "food_allergy"),
        (["food"], "intolerance", "food_reaction_unclear"),  # lactose intolerance is no food allergy
        (["food"], None, "food_reaction_unclear"),  # FHIR: "allergy or intolerance" when no type
        (["food", "food"], "allergy", "food_allergy"),
        (["medication"], "allergy", "drug_allergy"),
        (["medication"], None, "drug_reaction_unclear"),
        (["environment"], "allergy", "allergy"),
        (["biologic"], None, "allergy"),
        ([], "allergy", "allergy_unclassified"),
        (["food", "medication"], "allergy", "allergy_unclassified"),
        (["bogus"], "allergy", "allergy_unclassified"),
    ],
)
def test_mirror_concept_from_category_and_type(categories: list[str], kind: str | None, concept: str) -> None:
    assert allergy_concept(categories, kind) == concept


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Allergy to eggs", "food_allergy"),
        ("Allergy to nut", "food_allergy"),
        ("Allergy to tree pollen", "allergy_unclassified"),  # Synthea files these under 'food'
        ("Allergy to mould", "allergy_unclassified"),
        ("Dander (animal) allergy", "allergy_unclassified"),
        ("House dust mite allergy", "allergy_unclassified"),
        ("Beef", "food_allergy"),  # 'bee' is a whole word only
    ],
)
def test_a_food_category_naming_a_non_food_allergen_is_not_trusted(text: str, concept: str) -> None:
    assert allergy_concept(["food"], "allergy", text) == concept


def _allergy(category: list[str] | None, kind: str | None, code: tuple[str, str], rid: str = "a1") -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": rid,
        "patient": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": f"{HL7}/allergyintolerance-clinical", "code": "active"}]},
        "code": {"coding": [{"system": SNOMED, "code": code[0], "display": code[1]}]},
    }
    if category is not None:
        res["category"] = category
    if kind is not None:
        res["type"] = kind
    return res


def _condition(code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {"coding": [{"system": ICD, "code": code, "display": display}]},
        "onsetDateTime": "2024-01-01",
    }


def _patient(*resources: dict[str, Any]) -> Patient:
    pat = {"resourceType": "Patient", "id": "p1", "birthDate": "2020-06-15", "gender": "female"}
    entries = [{"fullUrl": "urn:uuid:p1", "resource": pat}]
    entries += [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    return bundle_to_patient({"resourceType": "Bundle", "type": "collection", "entry": entries}, origin="t.json")


PEANUT = ("762952008", "Peanut (substance)")
PENICILLIN = ("764146007", "Penicillin (substance)")
LATEX = ("111088007", "Latex (substance)")


def _status(text: str, patient: Patient, **ctx: Any) -> str:
    trial = Trial(id="T", criteria=(Criterion(id="E1", kind="exclusion", text=text, rule=parse_criterion(text)),))
    if ctx:
        verdict = evaluate(parse_criterion(text), Context(patient, AS_OF, default_vocabulary(), **ctx))
        return verdict.truth.name.lower()
    return next(c.status for c in screen(trial, patient, as_of=AS_OF).criteria if c.id == "E1")


FOOD = ["Food allergies", "History of food allergy", "Allergy to food", "food hypersensitivity"]


@pytest.mark.parametrize("text", FOOD)
@pytest.mark.parametrize(
    ("resources", "status"),
    [
        ((), "pass"),  # no allergy recorded: closed world over the reviewed codes
        ((_allergy(["food"], "allergy", PEANUT),), "fail"),
        ((_allergy(["food"], None, PEANUT),), "unknown"),  # allergy or intolerance: not said
        ((_allergy(["food"], "intolerance", ("37384000", "Lactose")),), "unknown"),
        ((_allergy(None, "allergy", PEANUT),), "unknown"),  # no category: it may be to a food
        ((_allergy(["medication"], "allergy", PENICILLIN),), "pass"),  # a drug allergy is not a food allergy
        ((_allergy(["environment"], "allergy", LATEX),), "pass"),
        ((_condition("Z91.010", "Allergy to peanuts"),), "fail"),
        ((_condition("T78.01XA", "Anaphylactic reaction due to peanuts, initial encounter"),), "fail"),
        ((_condition("Z88.0", "Allergy status to penicillin"),), "pass"),
        ((_condition("L27.2", "Dermatitis due to ingested food"),), "unknown"),  # allergic or not: not said
        ((_condition("L24.6", "Irritant contact dermatitis due to food in contact with skin"),), "pass"),
    ],
)
def test_food_allergy(text: str, resources: tuple[dict[str, Any], ...], status: str) -> None:
    assert _status(text, _patient(*resources)) == status


@pytest.mark.parametrize(
    ("resources", "status"),
    [
        ((), "pass"),
        ((_allergy(["medication"], "allergy", PENICILLIN),), "fail"),
        ((_allergy(["medication"], "intolerance", PENICILLIN),), "unknown"),  # an intolerance is no allergy
        ((_allergy(None, None, PENICILLIN),), "unknown"),
        ((_allergy(["food"], "allergy", PEANUT),), "pass"),
        ((_condition("Z88.0", "Allergy status to penicillin"),), "fail"),
    ],
)
def test_drug_allergy(resources: tuple[dict[str, Any], ...], status: str) -> None:
    assert _status("Known drug allergy", _patient(*resources)) in (status, "unknown")
    assert _status("Drug allergies", _patient(*resources)) == status


def test_absence_is_unknown_when_the_allergy_records_were_not_obtained() -> None:
    nothing = _patient()
    assert _status("Food allergies", nothing, open_kinds=("allergy",)) == "unknown"
    assert _status("Food allergies", nothing) == "pass"
    # a food allergy that is recorded still decides when the list may be incomplete
    peanut = _patient(_allergy(["food"], "allergy", PEANUT))
    assert _status("Food allergies", peanut, open_kinds=("allergy",)) == "true"


def test_history_of_allergy_still_sees_every_kind() -> None:
    vocab = default_vocabulary()
    for concept in ("food_allergy", "food_reaction_unclear", "drug_allergy", "drug_reaction_unclear"):
        assert concept in vocab.leaf_set("allergy")
    assert "allergy_unclassified" in vocab.leaf_set("allergy")


def _snomed_condition(display: str) -> dict[str, Any]:
    res = _condition("X", display)
    res["code"] = {"coding": [{"system": SNOMED, "code": "999999", "display": display}]}
    return res


@pytest.mark.parametrize(
    ("display", "food", "drug"),
    [
        ("Allergy to peanuts", "fail", "pass"),  # names an ICD-10-CM title: read as Z91.010
        ("Peanut allergy", "unknown", "unknown"),  # an allergy of a kind nothing reads: never 'none'
        ("Penicillin allergy", "unknown", "unknown"),
        ("Shellfish allergy", "unknown", "unknown"),
        ("No known allergies", "pass", "pass"),  # a negation: no allergy
        ("Essential hypertension", "pass", "pass"),
    ],
)
def test_a_snomed_allergy_of_unread_kind_is_never_proof_of_none(display: str, food: str, drug: str) -> None:
    patient = _patient(_snomed_condition(display))
    assert (_status("Food allergies", patient), _status("Drug allergies", patient)) == (food, drug)


def test_an_icd10cm_allergy_of_another_kind_still_decides() -> None:
    hay_fever = _patient(_condition("J30.1", "Allergic rhinitis due to pollen"))
    assert _status("Food allergies", hay_fever) == "pass"
