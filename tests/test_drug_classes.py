"""Closed-world drug classes (issue 11): a class earns closed world only with every member in current use
listed with its RxNorm ingredient RxCUI from a named source; the tests check the list against that source
and the evaluator at the boundaries (a member recorded, none, one stopped, a brand name, the medication
records not obtained)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from eligibility.api import screen
from eligibility.concepts import LOCAL_ROUTE, default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.parse import parse_criterion
from eligibility.patient import MedicationRecord, Patient
from eligibility.trial import Criterion, Trial

AS_OF = date(2026, 6, 1)

# The source of the anticoagulants' closed world (drugs.yaml header): ingredient -> RxCUI, the WHO ATC
# B01A anticoagulant groups in current use. Codes marked * are also in the CPIC drug table or
# clinical-facts.md (two independent sources agree).
ANTICOAGULANTS = {
    "warfarin": "11289",  # *
    "acenocoumarol": "154",  # *
    "phenprocoumon": "8150",  # *
    "fluindione": "50097",
    "heparin": "5224",  # *
    "enoxaparin": "67108",  # *
    "dalteparin": "67109",
    "tinzaparin": "69646",
    "nadroparin": "67031",
    "bemiparin": "280611",
    "danaparoid": "78484",
    "fondaparinux": "321208",
    "argatroban": "15202",
    "bivalirudin": "60819",
    "dabigatran": "1037042",
    "rivaroxaban": "1114195",  # *
    "apixaban": "1364430",  # *
    "edoxaban": "1599538",
    "betrixaban": "1927851",
}


def test_anticoagulants_are_closed_over_exactly_the_source_list() -> None:
    vocab = default_vocabulary()
    assert vocab.complete("anticoagulants")
    ingredients = {c for c in vocab.leaves("anticoagulants") if not vocab[c].members}
    assert ingredients == set(ANTICOAGULANTS)
    for name, rxcui in ANTICOAGULANTS.items():
        assert rxcui in vocab[name].codes["rxnorm"], name
        assert name in vocab.concepts_for_code("rxnorm", rxcui), name
        assert "anticoagulants" not in vocab.concepts_for_code("rxnorm", rxcui)  # a member, matched via leaves
    # antiplatelet drugs are named apart in criteria ("anticoagulants except antiplatelet agents")
    assert not set(vocab.leaves("antiplatelet_drugs")) & set(vocab.leaves("anticoagulants"))


def _med(code: str | None, text: str | None, start: str, end: str | None = None, system: str = "rxnorm") -> Any:
    return MedicationRecord(
        system=system if code else None,
        code=code,
        text=text,
        start=date.fromisoformat(start),
        end=date.fromisoformat(end) if end else None,
    )


def _status(text: str, *meds: MedicationRecord, open_kinds: tuple[Any, ...] = ()) -> str:
    patient = Patient(id="p", birth_date=date(1960, 1, 1), sex="male", medications=meds)
    if open_kinds:
        ctx = Context(patient, AS_OF, default_vocabulary(), open_kinds=open_kinds)
        return evaluate(parse_criterion(text), ctx).truth.name.lower()
    trial = Trial(id="T", criteria=(Criterion(id="E1", kind="exclusion", text=text, rule=parse_criterion(text)),))
    return next(c.status for c in screen(trial, patient, as_of=AS_OF).criteria if c.id == "E1")


APIXABAN = ("1364430", "apixaban")
ASPIRIN = ("1191", "aspirin")


@pytest.mark.parametrize(
    ("text", "meds", "status"),
    [
        ("Current use of anticoagulants", (), "pass"),  # none recorded: closed world
        ("Current use of anticoagulants", (_med(*APIXABAN, "2026-01-01"),), "fail"),
        ("Current use of anticoagulants", (_med(*APIXABAN, "2025-01-01", "2025-03-01"),), "pass"),  # stopped
        ("Current use of anticoagulants", (_med(*ASPIRIN, "2025-01-01"),), "pass"),  # an antiplatelet
        ("Current use of anticoagulants (except for antiplatelet agents)", (_med(*ASPIRIN, "2025-01-01"),), "pass"),
        ("Anticoagulant therapy within 30 days", (_med("15202", "argatroban", "2026-05-20", "2026-05-25"),), "fail"),
        ("Anticoagulant therapy within 30 days", (_med("15202", "argatroban", "2026-03-01", "2026-03-05"),), "pass"),
        # an RxNorm product not in the table is read by its name, brand names included
        ("Current use of anticoagulants", (_med("999999", "Eliquis 5 MG Oral Tablet", "2026-01-01"),), "fail"),
        ("Current use of anticoagulants", (_med(None, "Xarelto 20mg", "2026-01-01"),), "fail"),
        ("Current use of anticoagulants", (_med("999999", "lisinopril 10 MG Oral Tablet", "2026-01-01"),), "pass"),
        ("Use of DOACs", (_med("1927851", "betrixaban", "2026-01-01"),), "fail"),
        ("Use of low molecular weight heparin", (), "pass"),
        ("Use of low molecular weight heparin", (_med("69646", "tinzaparin", "2026-05-01"),), "fail"),
    ],
)
def test_anticoagulant_criteria(text: str, meds: tuple[MedicationRecord, ...], status: str) -> None:
    assert _status(text, *meds) == status


def test_absence_is_unknown_when_the_medications_were_not_obtained() -> None:
    assert _status("Current use of anticoagulants", open_kinds=("medication",)) == "unknown"
    assert _status("Current use of anticoagulants", _med(*APIXABAN, "2026-01-01"), open_kinds=("medication",)) == "true"


# ---- chemotherapy: methotrexate, mercaptopurine and cyclophosphamide are its borderline ------------------------------


@pytest.mark.parametrize(
    ("meds", "status"),
    [
        ((), "unknown"),  # chemotherapy stays open world: no record is not proof
        # cyclophosphamide is given for lupus nephritis and vasculitis too (re-judge of 9cb0ab3)
        ((_med("3002", "cyclophosphamide", "2026-01-01", "2026-02-01"),), "unknown"),
        ((_med("L01AA01", "cyclophosphamide", "2026-01-01", "2026-02-01", system="atc"),), "unknown"),
        ((_med("L01BC02", "fluorouracil", "2026-01-01", "2026-02-01", system="atc"),), "fail"),
        ((_med("L01AA06", "ifosfamide", "2026-01-01", "2026-02-01", system="atc"),), "fail"),  # another alkylator
        # cladribine and mitoxantrone are multiple sclerosis treatments too (re-judge of d57f624)
        ((_med("L01BB04", "cladribine", "2026-01-01", "2026-02-01", system="atc"),), "unknown"),
        ((_med("L01DB07", "mitoxantrone", "2026-01-01", "2026-02-01", system="atc"),), "unknown"),
        # a dual-use antimetabolite: chemotherapy at some doses, anti-rheumatic at others
        ((_med("L01BA01", "methotrexate", "2026-01-01", "2026-02-01", system="atc"),), "unknown"),
        ((_med("6851", "methotrexate 2.5 MG Oral Tablet", "2026-01-01", "2026-02-01"),), "unknown"),
        ((_med("103", "mercaptopurine", "2026-01-01", "2026-02-01"),), "unknown"),
    ],
)
def test_dual_use_antimetabolites_never_make_a_confident_chemotherapy(
    meds: tuple[MedicationRecord, ...], status: str
) -> None:
    assert _status("Prior chemotherapy within 12 months", *meds) == status


def test_methotrexate_is_still_an_immunosuppressant() -> None:
    assert _status("Use of immunosuppressants within 12 months", _med("6851", "methotrexate", "2026-01-01")) == "fail"


def test_sql_and_evaluator_agree_on_the_closed_and_borderline_drug_readings() -> None:
    from .test_batch_differential import AS_OF as DIFF_AS_OF
    from .test_batch_differential import check_agreement

    texts = [
        "Current use of anticoagulants (except for antiplatelet agents)",
        "Anticoagulant therapy within 30 days",
        "Prior chemotherapy within 12 months",
        "Use of low molecular weight heparin",
        "Systemic corticosteroids within 4 weeks",
        "Use of systemic antibiotics within 4 weeks",
    ]
    trial = Trial(
        id="DRUGS",
        criteria=tuple(
            Criterion(id=f"E{i}", kind="exclusion", text=t, rule=parse_criterion(t)) for i, t in enumerate(texts)
        ),
    )
    records = [
        ("rxnorm", "1364430", None),
        ("rxnorm", "1191", None),
        ("rxnorm", "69646", None),
        ("atc", "L01BA01", None),
        ("atc", "L01BC02", None),
        ("rxnorm", "103", None),
        ("atc", "B01AB10", None),
        (None, None, "argatroban"),
        ("rxnorm", "5492", None),  # hydrocortisone, no route stated
        ("rxnorm", "5492", LOCAL_ROUTE),  # the FHIR reader's mark of a topical / inhaled record
        ("rxnorm", "723", LOCAL_ROUTE),
    ]
    tables: dict[str, list[dict[str, Any]]] = {
        t: [] for t in ("patients", "observations", "conditions", "medications", "procedures")
    }
    tables["patients"].append({"patient_id": "none", "birth_date": date(1970, 1, 1), "sex": "male"})
    for i, (system, code, concept) in enumerate(records):
        for j, days in enumerate((-10, -200)):
            pid = f"p{i}-{j}"
            tables["patients"].append({"patient_id": pid, "birth_date": date(1970, 1, 1), "sex": "male"})
            start = DIFF_AS_OF.fromordinal(DIFF_AS_OF.toordinal() + days)
            tables["medications"].append(
                {"patient_id": pid, "system": system, "code": code, "concept": concept, "start": start, "end": None}
            )
    for open_world in (False, True):
        check_agreement(tables, [trial], open_world)


# ---- the dosage route: a locally applied drug is no systemic exposure -------------------------------

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ROUTES = {
    "oral": "Oral route",
    "topical": "Topical route",
    "inhaled": "Respiratory tract route",
    "eye": "Ophthalmic route",
}


def _statement(rxcui: str, name: str, start: str, route: str | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": f"m{rxcui}",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui, "display": name}]},
        "effectivePeriod": {"start": start},
    }
    if route is not None:
        res["dosage"] = [{"route": {"coding": [{"system": SNOMED, "code": "0", "display": ROUTES[route]}]}}]
    return res


def _bundle_status(text: str, *resources: dict[str, Any]) -> str:
    from eligibility.io.fhir import bundle_to_patient

    pat = {"resourceType": "Patient", "id": "p1", "birthDate": "2000-06-15", "gender": "female"}
    entries = [{"fullUrl": "urn:uuid:p1", "resource": pat}]
    entries += [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    patient = bundle_to_patient({"resourceType": "Bundle", "type": "collection", "entry": entries}, origin="t")
    trial = Trial(id="T", criteria=(Criterion(id="E1", kind="exclusion", text=text, rule=parse_criterion(text)),))
    return next(c.status for c in screen(trial, patient, as_of=AS_OF).criteria if c.id == "E1")


@pytest.mark.parametrize(
    ("text", "route", "status"),
    [
        ("Systemic corticosteroids within 4 weeks", "oral", "fail"),
        ("Systemic corticosteroids within 4 weeks", None, "fail"),  # no route stated: read as systemic
        ("Systemic corticosteroids within 4 weeks", "topical", "unknown"),  # never a confident 'systemic'
        ("Use of corticosteroids in the previous 4 weeks", "topical", "unknown"),  # clinicians differ
        ("Use of corticosteroids in the previous 4 weeks", "inhaled", "unknown"),
        ("Use of corticosteroids in the previous 4 weeks", "oral", "fail"),
        ("Use of hydrocortisone within 4 weeks", "topical", "fail"),  # the ingredient, any route
    ],
)
def test_corticosteroids_by_dosage_route(text: str, route: str | None, status: str) -> None:
    assert _bundle_status(text, _statement("5492", "hydrocortisone", "2026-05-20", route)) == status


@pytest.mark.parametrize(("route", "status"), [("oral", "fail"), ("eye", "unknown"), (None, "fail")])
def test_systemic_antibiotics_by_dosage_route(route: str | None, status: str) -> None:
    text = "Use of systemic antibiotics within 4 weeks"
    assert _bundle_status(text, _statement("723", "amoxicillin", "2026-05-20", route)) == status
