"""Borderline concepts: where clinicians draw a term's edge differently, a record on the edge decides nothing.

"Malignancy" may or may not take in carcinoma in situ and myelodysplastic syndrome; "drug abuse" may or may not
take in a coded "cocaine use, unspecified"; "coagulopathy" may or may not take in a thrombophilia. Each reading
keeps both senses, so a patient with only a borderline record is unknown, one with a clear record is decided, and
one with no record is still decided where the concept is closed world.
"""

from __future__ import annotations

from datetime import date

import pytest

from eligibility import nodes as n
from eligibility.concepts import VocabularyError, default_vocabulary, load_vocabulary_text
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import ConditionRecord, Patient

AS_OF = date(2026, 6, 1)
VOCAB = default_vocabulary()


def _truth(text: str, *codes: str, kind: str = "exclusion", onset: date = date(2024, 3, 1)) -> Tri:
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=onset) for c in codes)
    patient = Patient(id="p", birth_date=date(1970, 1, 1), sex="female", conditions=records)
    return evaluate(parse_criterion(text, kind), Context(patient, AS_OF, VOCAB)).truth


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        # malignancy: invasive cancer decides, carcinoma in situ and MDS / polycythaemia vera do not
        ("History of malignancy", ("C50.911",), Tri.TRUE),
        ("History of malignancy", ("D05.10",), Tri.UNKNOWN),  # ductal carcinoma in situ
        ("History of malignancy", ("D46.9",), Tri.UNKNOWN),  # myelodysplastic syndrome
        ("History of malignancy", ("D45",), Tri.UNKNOWN),  # polycythaemia vera
        ("History of malignancy", ("Z86.03",), Tri.UNKNOWN),  # history of a neoplasm of uncertain behaviour
        ("History of malignancy", ("D46.9", "C34.90"), Tri.TRUE),  # a clear record decides whatever else is there
        ("History of malignancy", (), Tri.FALSE),  # closed world in both senses
        ("History of malignancy", ("E11.9",), Tri.FALSE),
        ("Malignancy within 5 years", ("D06.9",), Tri.UNKNOWN),
        # drug abuse: abuse and dependence decide, a coded 'use, unspecified' does not
        ("History of drug abuse", ("F14.10",), Tri.TRUE),
        ("History of drug abuse", ("F14.90",), Tri.UNKNOWN),
        ("History of drug abuse", (), Tri.FALSE),
        ("History of alcohol abuse", ("F10.920",), Tri.UNKNOWN),
        ("History of alcohol abuse", ("F10.10",), Tri.TRUE),
        # coagulopathy: a bleeding disorder decides, a thrombophilia does not
        ("Coagulopathy", ("D68.0",), Tri.TRUE),  # von Willebrand disease
        ("Coagulopathy", ("D68.51",), Tri.UNKNOWN),  # factor V Leiden
        ("Coagulopathy", (), Tri.FALSE),
        # bleeding diathesis: a lasting defect decides; an acute coagulopathy (DIC, postpartum, anticoagulant)
        # and a vascular bleeding tendency (HHT) are its edge
        ("History of bleeding diathesis", ("D66",), Tri.TRUE),  # haemophilia A
        ("History of bleeding diathesis", ("D65",), Tri.UNKNOWN),
        ("History of bleeding diathesis", ("O72.3",), Tri.UNKNOWN),
        ("History of bleeding diathesis", ("D68.32",), Tri.UNKNOWN),
        ("History of bleeding diathesis", ("I78.0",), Tri.UNKNOWN),
        ("History of bleeding diathesis", ("D68.51",), Tri.FALSE),  # factor V Leiden clots, it does not bleed
        ("History of bleeding diathesis", (), Tri.FALSE),
        ("History of bleeding diathesis", ("Z14.02",), Tri.UNKNOWN),  # a carrier who bleeds
        ("Coagulopathy", ("Z14.01",), Tri.FALSE),  # an asymptomatic carrier
        ("Coagulopathy", ("D65",), Tri.TRUE),  # DIC now is a coagulopathy, whatever its cause
        # fatty liver takes in its steatohepatitis; NASH named alone is only NASH
        ("Liver disease other than fatty liver", ("K75.81",), Tri.UNKNOWN),  # open world: no other record
        ("Liver disease other than fatty liver", ("K75.81", "K74.60"), Tri.TRUE),  # cirrhosis
        ("Known NASH", ("K76.0",), Tri.UNKNOWN),  # simple steatosis is no steatohepatitis (open world)
        ("Known NASH", ("K75.81",), Tri.TRUE),
        # renal failure: a dialysis status code alone may be an acute kidney injury's dialysis
        ("Renal failure", ("N18.6",), Tri.TRUE),
        ("Renal failure", ("Z99.2",), Tri.UNKNOWN),
        ("Renal failure", (), Tri.FALSE),
    ],
)
def test_a_borderline_record_alone_leaves_the_criterion_unknown(
    text: str, codes: tuple[str, ...], expected: Tri
) -> None:
    assert _truth(text, *codes) is expected


def test_an_exception_naming_the_borderline_concept_drops_that_sense() -> None:
    """'Malignancy other than carcinoma in situ': the text settles the in-situ edge, MDS stays open."""
    rule = parse_criterion("History of malignancy other than carcinoma in situ", "exclusion")
    edges = {x.concept for x in n.walk(rule) if isinstance(x, n.Condition)}
    assert "malignancy" in edges and "neoplasm_uncertain_behavior" in edges


def test_the_reading_is_widened_once_whatever_the_nesting() -> None:
    rule = parse_criterion("Hemostatic disorders other than chronic thrombocytopenia", "exclusion")
    widened = [x for x in n.walk(rule) if isinstance(x, n.Ambiguous) and "takes in" in x.reason]
    assert len(widened) == 1


def test_a_deep_vein_thrombosis_is_not_read_from_a_stroke() -> None:
    assert _truth("History of deep vein thrombosis", "I82.401") is Tri.TRUE
    assert _truth("History of deep vein thrombosis", "I63.30") is Tri.UNKNOWN  # thrombotic stroke: not a DVT
    assert _truth("History of thrombosis", "I63.30") is Tri.TRUE


_BASE = "concepts:\n  - {id: x, display: X, category: condition, extent: complete, extent_source: s, borderline: [y]}\n"


@pytest.mark.parametrize(
    "other",
    [
        "  - {id: y, display: Y, category: condition}\n",  # partial: the wide sense could never say 'absent'
        "  - {id: y, display: Y, category: medication, extent: complete, extent_source: s}\n",
    ],
)
def test_a_borderline_concept_must_be_a_complete_concept_of_the_same_category(other: str) -> None:
    with pytest.raises(VocabularyError, match="borderline"):
        load_vocabulary_text(_BASE + other, "t")


def test_except_codes_in_a_flat_code_system_are_refused() -> None:
    """A SNOMED CT code has no descendants in the vocabulary: 'except' on it would silently do nothing."""
    text = (
        "concepts:\n  - {id: x, display: X, category: condition, codes: {icd10cm: ['I25']},"
        " except_codes: {snomed: ['53741008']}}\n"
    )
    with pytest.raises(VocabularyError, match="hierarchical"):
        load_vocabulary_text(text, "t")


def test_coronary_artery_disease_reads_the_snomed_codes_synthea_uses() -> None:
    record = ConditionRecord(system="snomed", code="53741008", onset=date(2020, 1, 1))
    patient = Patient(id="p", birth_date=date(1950, 1, 1), sex="male", conditions=(record,))
    rule = parse_criterion("Coronary artery disease", "exclusion")
    assert evaluate(rule, Context(patient, AS_OF, VOCAB)).truth is Tri.TRUE


@pytest.mark.parametrize(
    ("codes", "expected"),
    [(("I48.0",), Tri.TRUE), (("I48.3",), Tri.UNKNOWN), (("I48.92",), Tri.UNKNOWN), ((), Tri.FALSE)],
)
def test_atrial_flutter_is_the_edge_of_atrial_fibrillation(codes: tuple[str, ...], expected: Tri) -> None:
    assert _truth("Atrial fibrillation", *codes) is expected


@pytest.mark.parametrize(
    ("codes", "expected"),
    [(("F10.20",), Tri.TRUE), (("F10.21",), Tri.UNKNOWN), (("F10.11",), Tri.UNKNOWN)],  # in remission: not now
)
def test_a_use_disorder_in_remission_is_not_a_current_one(codes: tuple[str, ...], expected: Tri) -> None:
    """'Alcohol abuse' keeps 'now' and 'ever': a remission code satisfies the second only, so it decides nothing."""
    assert _truth("Alcohol abuse", *codes) is expected


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        ("Ischemic stroke within 6 months", ("I63.9",), Tri.TRUE),
        ("Ischemic stroke within 6 months", ("I61.9",), Tri.FALSE),  # a haemorrhage is not an ischaemic stroke
        ("Ischemic stroke within 6 months", ("G46.3",), Tri.UNKNOWN),  # a stroke that does not say which kind
        ("Hemorrhagic stroke within 6 months", ("I63.9",), Tri.FALSE),
        ("Stroke within 6 months", ("I61.9",), Tri.TRUE),
        ("Stroke within 6 months", ("G46.4",), Tri.TRUE),
    ],
)
def test_a_kind_of_stroke_is_not_read_from_the_other_kind(text: str, codes: tuple[str, ...], expected: Tri) -> None:
    assert _truth(text, *codes, onset=date(2026, 3, 1)) is expected


def test_a_stroke_coded_without_its_kind_leaves_the_kind_unknown() -> None:
    record = ConditionRecord(system="snomed", code="230690007", onset=date(2026, 3, 1))
    patient = Patient(id="p", birth_date=date(1950, 1, 1), sex="male", conditions=(record,))
    for text, expected in (("Ischemic stroke within 6 months", Tri.UNKNOWN), ("Stroke within 6 months", Tri.TRUE)):
        assert evaluate(parse_criterion(text, "exclusion"), Context(patient, AS_OF, VOCAB)).truth is expected


def test_an_unspecified_intracranial_haemorrhage_may_be_a_haemorrhagic_stroke() -> None:
    for text in ("Hemorrhagic stroke within 6 months", "Stroke within 6 months"):
        assert _truth(text, "I62.9", onset=date(2026, 3, 1)) is Tri.UNKNOWN


def test_a_lung_disease_is_not_read_from_a_cold() -> None:
    """'Lung disease' is narrower than the respiratory chapter (J00 nasopharyngitis, J01 sinusitis)."""
    assert _truth("No history of lung disease", "J00", kind="inclusion") is Tri.UNKNOWN  # open world
    assert _truth("No history of lung disease", "J44.9", kind="inclusion") is Tri.FALSE


@pytest.mark.parametrize(
    ("text", "kind", "coverage"),
    [
        ("Inflammatory bowel disease", "inclusion", "full"),  # narrow and wide sense of a concept: read in full
        ("Pregnant and lactating women", "exclusion", "partial"),  # an ambiguity of the text itself
    ],
)
def test_a_condition_read_with_and_without_its_edge_counts_as_read_in_full(
    text: str, kind: str, coverage: str
) -> None:
    from eligibility.trial import Criterion

    rule = parse_criterion(text, kind)
    assert any(isinstance(x, n.Ambiguous) for x in n.walk(rule))
    assert Criterion(id="I1", kind=kind, text=text, rule=rule).coverage == coverage  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        ("Current psychiatric illness", ("F32.5",), Tri.UNKNOWN),  # a depression in full remission
        ("History of psychiatric illness", ("F32.5",), Tri.TRUE),
        ("Current psychiatric illness", ("F32.1",), Tri.TRUE),
        ("Current cancer", ("C92.01",), Tri.UNKNOWN),  # AML in remission: present before, now not settled
        ("History of cancer", ("C92.01",), Tri.TRUE),
        ("Current cancer", ("C92.00",), Tri.TRUE),  # not having achieved remission
    ],
)
def test_a_disorder_in_remission_is_a_history_and_leaves_now_unknown(
    text: str, codes: tuple[str, ...], expected: Tri
) -> None:
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2024, 1, 1)) for c in codes)
    patient = Patient(id="r", birth_date=date(1970, 1, 1), sex="female", conditions=records)
    rule = parse_criterion(text, "exclusion")
    assert evaluate(rule, Context(patient, date(2026, 11, 1), default_vocabulary())).truth is expected


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        ("Bleeding disorder", ("D69.9",), Tri.TRUE),  # haemorrhagic diathesis (audit seed 18)
        ("Bleeding disorder", ("D66",), Tri.TRUE),  # a coagulation defect is one
        ("Bleeding disorder", ("D69.3",), Tri.UNKNOWN),  # ITP: a bleeding disorder to some clinicians
        ("Bleeding disorder", (), Tri.FALSE),
        ("Coagulopathy", ("D69.9",), Tri.UNKNOWN),  # a haemorrhagic condition NOS: a coagulopathy to some (seed 21)
        ("Immunodeficiency", ("D71",), Tri.TRUE),  # chronic granulomatous disease, an inborn error of immunity
        ("Patient has low back pain", ("M54.41",), Tri.TRUE),  # lumbago with sciatica
    ],
)
def test_broad_condition_names_take_in_what_they_name(text: str, codes: tuple[str, ...], expected: Tri) -> None:
    kind = "inclusion" if text.startswith("Patient has") else "exclusion"
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2024, 1, 1)) for c in codes)
    patient = Patient(id="b", birth_date=date(1970, 1, 1), sex="female", conditions=records)
    rule = parse_criterion(text, kind)
    assert evaluate(rule, Context(patient, date(2026, 11, 1), default_vocabulary())).truth is expected


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        # substance abuse: drugs and alcohol decide, nicotine dependence is its edge, no record is absence
        ("Substance abuse", (), Tri.FALSE),
        ("Substance abuse", ("F10.20",), Tri.TRUE),
        ("Substance abuse", ("F12.10",), Tri.TRUE),
        ("Substance abuse", ("F17.210",), Tri.UNKNOWN),
        ("Substance dependence", ("F17.210",), Tri.UNKNOWN),
        ("Substance dependence", ("F12.10",), Tri.FALSE),  # cannabis abuse is no dependence
        # both ways shared: "alcohol or substance abuse or dependence" names every pairing
        ("Alcohol or substance abuse or dependence within the past 2 years", (), Tri.FALSE),
        ("Alcohol or substance abuse or dependence within the past 2 years", ("F10.20",), Tri.TRUE),
        ("Alcohol or drug abuse or dependence", ("F14.20",), Tri.TRUE),
        ("Alcohol or drug abuse or dependence", (), Tri.FALSE),
    ],
)
def test_substance_use_is_drugs_and_alcohol_with_nicotine_on_its_edge(
    text: str, codes: tuple[str, ...], expected: Tri
) -> None:
    assert _truth(text, *codes, onset=date(2025, 6, 1)) is expected


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        # psychiatric disorder: psychosis, mood, anxiety decide; dementia, ADHD, substance use, insomnia are its edge
        ("Psychiatric disorder", (), Tri.FALSE),
        ("Psychiatric disorder", ("F20.9",), Tri.TRUE),
        ("Psychiatric disorder", ("F41.1",), Tri.TRUE),
        ("Psychiatric disorder", ("F03.90",), Tri.UNKNOWN),
        ("Psychiatric disorder", ("F90.0",), Tri.UNKNOWN),
        ("Psychiatric disorder", ("F10.20",), Tri.UNKNOWN),
        ("Psychiatric disorder", ("F51.01",), Tri.UNKNOWN),
        ("Psychiatric disorder", ("F48.2",), Tri.FALSE),  # pseudobulbar affect is a neurological sign
        ("History of psychiatric illness", ("Z86.59",), Tri.UNKNOWN),  # which disorder it was, unsaid
        ("History of mental illness", ("F99",), Tri.TRUE),
        # major depressive disorder is F32 single episodes and F33 recurrent, not 'depression, unspecified'
        ("Major depressive disorder", ("F33.1",), Tri.TRUE),
        ("Major depressive disorder", ("F32.9",), Tri.TRUE),
        ("Major depressive disorder", ("F32.A",), Tri.FALSE),
        ("Major depressive disorder", ("F31.4",), Tri.FALSE),  # bipolar, depressed: not MDD
        # examples inside a closed class add nothing it does not decide; one on its edge stays undecided
        ("Psychiatric disorders such as schizophrenia or anxiety disorder", (), Tri.FALSE),
        ("Psychiatric disorders such as schizophrenia or anxiety disorder", ("F20.0",), Tri.TRUE),
        ("Psychiatric disorders such as schizophrenia or dementia", ("F03.90",), Tri.TRUE),  # named: it counts
    ],
)
def test_psychiatric_disorder_is_closed_with_its_edges_read_both_ways(
    text: str, codes: tuple[str, ...], expected: Tri
) -> None:
    assert _truth(text, *codes, onset=date(2025, 6, 1)) is expected


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        # diabetes: any type and pre-existing diabetes in pregnancy decide; gestational is its edge
        ("Diabetes", (), Tri.FALSE),
        ("Diabetes", ("E11.9",), Tri.TRUE),
        ("Diabetes mellitus", ("E10.65",), Tri.TRUE),
        ("Diabetes", ("O24.119",), Tri.TRUE),  # pre-existing type 2 diabetes in pregnancy
        ("Diabetes", ("O24.410",), Tri.UNKNOWN),  # gestational
        ("Diabetes", ("O24.919",), Tri.UNKNOWN),  # in pregnancy, which kind unsaid
        ("Diabetes", ("R73.03",), Tri.FALSE),  # prediabetes is not diabetes
        ("Diabetes", ("E23.2",), Tri.FALSE),  # diabetes insipidus is another disease
        ("Gestational diabetes", ("O24.410",), Tri.TRUE),
        ("History of GDM", ("Z86.32",), Tri.TRUE),
        ("Gestational diabetes", ("E11.9",), Tri.FALSE),
        # "before" / "during" another condition: when, which is not compared, so a record leaves it open
        ("Diabetes before pregnancy or GDM", (), Tri.FALSE),
        ("Diabetes before pregnancy or GDM", ("E11.9",), Tri.UNKNOWN),
        ("Diabetes before pregnancy or GDM", ("O24.410",), Tri.TRUE),
    ],
)
def test_diabetes_is_closed_with_gestational_diabetes_on_its_edge(
    text: str, codes: tuple[str, ...], expected: Tri
) -> None:
    assert _truth(text, *codes, onset=date(2025, 6, 1)) is expected


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        # Crohn's disease and ulcerative colitis are kinds of IBD, never each other
        ("Crohn's disease", ("K51.90",), Tri.FALSE),
        ("Crohn's disease", ("K50.90",), Tri.TRUE),
        ("Ulcerative colitis", ("K50.90",), Tri.FALSE),
        ("Ulcerative colitis", ("K51.20",), Tri.TRUE),
        ("Inflammatory bowel disease", ("K51.20",), Tri.TRUE),
        ("Inflammatory bowel disease", ("K52.3",), Tri.TRUE),
        ("Inflammatory bowel disease", (), Tri.FALSE),
        # an unqualified psychiatric exclusion may mean now or ever: a resolved episode alone decides nothing
        ("Psychiatric disorder", ("F32.9",), Tri.TRUE),
        # substance abuse: coded use without abuse or dependence is its edge, as for drug abuse
        ("Substance abuse", ("F14.90",), Tri.UNKNOWN),
    ],
)
def test_kinds_of_a_group_are_not_each_other(text: str, codes: tuple[str, ...], expected: Tri) -> None:
    assert _truth(text, *codes, onset=date(2025, 6, 1)) is expected


def test_a_resolved_psychiatric_episode_leaves_an_unqualified_exclusion_open() -> None:
    record = ConditionRecord(system="icd10cm", code="F32.9", onset=date(2019, 1, 1), abatement=date(2020, 1, 1))
    patient = Patient(id="p", birth_date=date(1970, 1, 1), sex="female", conditions=(record,))
    ctx = Context(patient, AS_OF, VOCAB)
    assert evaluate(parse_criterion("Psychiatric disorder", "exclusion"), ctx).truth is Tri.UNKNOWN
    assert evaluate(parse_criterion("Current psychiatric disorder", "exclusion"), ctx).truth is Tri.FALSE


# ---- a lifelong condition: its event's history code leaves 'now' open (evaluator and SQL) ----------------------
LIFELONG = [
    ("Coronary artery disease", "exclusion", ("I25.2",), Tri.UNKNOWN),  # an old MI: coronary disease, still there?
    ("Coronary artery disease", "exclusion", ("Z95.5",), Tri.TRUE),  # a coronary stent: revascularised disease
    ("Coronary artery disease", "exclusion", (), Tri.FALSE),
    ("History of coronary artery disease", "exclusion", ("I25.2",), Tri.TRUE),
    ("Myocardial infarction", "exclusion", ("I25.2",), Tri.FALSE),  # an old MI is no MI now
    ("Coronary artery disease within 6 months", "exclusion", ("I25.2",), Tri.UNKNOWN),
]


@pytest.mark.parametrize(("text", "kind", "codes", "expected"), LIFELONG, ids=[f"{r[0][:28]}-{r[2]}" for r in LIFELONG])
def test_a_lifelong_condition_is_not_over_with_its_event(
    text: str, kind: str, codes: tuple[str, ...], expected: Tri
) -> None:
    assert _truth(text, *codes, kind=kind, onset=date(2025, 6, 1)) is expected


def test_sql_agrees_on_lifelong_history_codes() -> None:
    from eligibility.trial import Criterion, Trial

    from .test_batch_differential import AS_OF as BATCH_AS_OF
    from .test_batch_differential import check_agreement

    tables: dict[str, list[dict[str, object]]] = {
        "patients": [], "observations": [], "conditions": [], "medications": [], "procedures": []
    }  # fmt: skip
    for i, code in enumerate(["I25.2", "Z95.5", "I25.10", None]):
        pid = f"p{i}"
        tables["patients"].append({"patient_id": pid, "birth_date": date(1960, 1, 1), "sex": "male"})
        if code is not None:
            tables["conditions"].append(
                {"patient_id": pid, "system": "icd10cm", "code": code, "concept": None,
                 "onset": BATCH_AS_OF.replace(year=BATCH_AS_OF.year - 1), "abatement": None, "status": "active"}
            )  # fmt: skip
    rules = [parse_criterion(t, k) for t, k, _, _ in LIFELONG]
    criteria = tuple(
        Criterion(id=f"C{i}", kind=k, text=t, rule=r)  # type: ignore[arg-type]
        for i, ((t, k, _, _), r) in enumerate(zip(LIFELONG, rules, strict=True))
    )
    check_agreement(tables, [Trial(id="LIFE", criteria=criteria)], open_world=False)
