"""Closed-world drug classes beyond the anticoagulants (issue 10's completeness rule, issue 11's classes): a class
is `extent: complete` only with every marketed ingredient of its ATC group a member with its RxNorm ingredient
RxCUI. For each closed class: no medication record makes "Use of <class> within 3 months" false; a record of each
member, by its RxNorm ingredient code and by its name alone (a product's display text), makes it true; a record of a
drug outside the class leaves it false."""

from __future__ import annotations

from datetime import date

import pytest

from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.parse import parse_criterion
from eligibility.patient import MedicationRecord, Patient

AS_OF = date(2026, 6, 1)

# class -> (criterion text, {member: RxNorm ingredient RxCUI}); the RxCUIs are those drugs.yaml cites
CLOSED: dict[str, tuple[str, dict[str, str]]] = {
    "statins": (
        "Use of statins within 3 months",
        {
            "atorvastatin": "83367",
            "simvastatin": "36567",
            "pravastatin": "42463",
            "rosuvastatin": "301542",
            "cerivastatin": "596723",
            "lovastatin": "6472",
            "fluvastatin": "41127",
            "pitavastatin": "861634",
        },
    ),
    "proton_pump_inhibitors": (
        "Use of proton pump inhibitors within 3 months",
        {
            "omeprazole": "7646",
            "esomeprazole": "283742",
            "lansoprazole": "17128",
            "pantoprazole": "40790",
            "rabeprazole": "114979",
            "dexlansoprazole": "816346",
        },
    ),
    "ace_inhibitors": (
        "Use of ACE inhibitors within 3 months",
        {
            "captopril": "1998",
            "enalapril": "3827",
            "lisinopril": "29046",
            "ramipril": "35296",
            "quinapril": "35208",
            "benazepril": "18867",
            "perindopril": "54552",
            "cilazapril": "21102",
            "fosinopril": "50166",
            "trandolapril": "38454",
            "spirapril": "36908",
            "moexipril": "30131",
            "zofenopril": "39990",
            "imidapril": "60245",
        },
    ),
    "arbs": (
        "Use of angiotensin receptor blockers within 3 months",
        {
            "losartan": "52175",
            "valsartan": "69749",
            "candesartan": "214354",
            "irbesartan": "83818",
            "olmesartan": "321064",
            "telmisartan": "73494",
            "eprosartan": "83515",
            "azilsartan": "1091643",
        },
    ),
    "thiazolidinediones": (
        "Use of thiazolidinediones within 3 months",
        {"rosiglitazone": "84108", "pioglitazone": "33738"},
    ),
    "platinum_compounds": (
        "Use of platinum compounds within 3 months",
        {"cisplatin": "2555", "carboplatin": "40048", "oxaliplatin": "32592"},
    ),
}

OUTSIDE = MedicationRecord(system="rxnorm", code="6809", text="metformin", start=date(2026, 5, 1))


def _truth(text: str, *meds: MedicationRecord) -> str:
    patient = Patient(id="p", birth_date=date(1960, 1, 1), sex="male", medications=meds)
    ctx = Context(patient, AS_OF, default_vocabulary())
    return evaluate(parse_criterion(text), ctx).truth.name.lower()


def _rec(code: str | None, text: str | None) -> MedicationRecord:
    return MedicationRecord(system="rxnorm" if code else None, code=code, text=text, start=date(2026, 5, 1))


@pytest.mark.parametrize("cls", sorted(CLOSED))
def test_each_closed_class_is_complete_over_exactly_its_members(cls: str) -> None:
    vocab = default_vocabulary()
    assert vocab.complete(cls), cls
    ingredients = {c for c in vocab.leaves(cls) if not vocab[c].members}
    assert ingredients == set(CLOSED[cls][1]), cls
    for member in vocab[cls].members:
        assert member in vocab.concepts, member
        assert vocab[member].codes.get("rxnorm"), member  # every member carries an RxNorm ingredient code
    for name, rxcui in CLOSED[cls][1].items():
        assert rxcui in vocab[name].codes["rxnorm"], name
        assert name in vocab.concepts_for_code("rxnorm", rxcui), name


@pytest.mark.parametrize("cls", sorted(CLOSED))
def test_no_record_is_absence(cls: str) -> None:
    assert _truth(CLOSED[cls][0]) == "false"


@pytest.mark.parametrize("cls", sorted(CLOSED))
def test_a_drug_outside_the_class_is_not_one(cls: str) -> None:
    assert _truth(CLOSED[cls][0], OUTSIDE) == "false"


CASES = [(cls, name, rxcui) for cls, (_, members) in sorted(CLOSED.items()) for name, rxcui in members.items()]


@pytest.mark.parametrize(("cls", "name", "rxcui"), CASES)
def test_a_member_by_its_rxnorm_ingredient_code(cls: str, name: str, rxcui: str) -> None:
    assert _truth(CLOSED[cls][0], _rec(rxcui, None)) == "true"


@pytest.mark.parametrize(("cls", "name", "rxcui"), CASES)
def test_a_member_by_its_product_display_text(cls: str, name: str, rxcui: str) -> None:
    # an RxNorm product the table does not map, named as RxNorm names it
    assert _truth(CLOSED[cls][0], _rec("999999", f"{name.capitalize()} 10 MG Oral Tablet")) == "true"
    assert _truth(CLOSED[cls][0], _rec(None, f"{name} 10mg")) == "true"


@pytest.mark.parametrize(
    ("text", "record"),
    [
        ("Use of statins within 3 months", _rec(None, "Lipitor 20 mg")),  # a brand name
        ("Use of statins within 3 months", _rec("999999", "Simvistatin 10 MG")),  # Synthea's misspelling
        ("Use of ACE inhibitors within 3 months", _rec("104370", None)),  # captopril / hydrochlorothiazide
        (
            "Use of ACE inhibitors within 3 months",
            _rec("999999", "lisinopril 10 MG / hydrochlorothiazide 12.5 MG Oral Tablet"),
        ),
        ("Use of angiotensin receptor blockers within 3 months", _rec("1000001", None)),  # amlodipine/HCTZ/olmesartan
        (
            "Use of angiotensin receptor blockers within 3 months",
            _rec("999999", "sacubitril 49 MG / valsartan 51 MG Oral Tablet [Entresto]"),
        ),
        ("Use of proton pump inhibitors within 3 months", _rec(None, "Nexium 40 mg")),
    ],
)
def test_combination_products_and_brands(text: str, record: MedicationRecord) -> None:
    assert _truth(text, record) == "true"


def test_a_record_by_the_class_atc_code() -> None:
    # an ATC-coded record of an ingredient without an RxNorm ingredient (delapril, fimasartan) matches the class code
    atc = MedicationRecord(system="atc", code="C09AA12", text="delapril", start=date(2026, 5, 1))
    assert _truth("Use of ACE inhibitors within 3 months", atc) == "true"
    atc = MedicationRecord(system="atc", code="C09DA", text=None, start=date(2026, 5, 1))
    assert _truth("Use of angiotensin receptor blockers within 3 months", atc) == "true"


def test_an_old_record_is_outside_the_window() -> None:
    old = MedicationRecord(
        system="rxnorm", code="83367", text="atorvastatin", start=date(2025, 1, 1), end=date(2025, 6, 1)
    )
    assert _truth("Use of statins within 3 months", old) == "false"
