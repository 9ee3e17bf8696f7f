"""Condition names real criteria use bare, read with the extent their words have (hand-written sentences).

A record in the concept decides; a record outside it, or none, never gives a confident "has it"; the parts a
clinician may or may not mean (a former smoker's dependence in remission, a nodal secondary as "metastatic
disease") leave the answer unknown.
"""

from __future__ import annotations

from datetime import date

import pytest

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import ConditionRecord, Patient

VOCAB = default_vocabulary()
AS_OF = date(2026, 3, 1)


def excluded(text: str, *codes: str) -> Tri:
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2020, 6, 1)) for c in codes)
    patient = Patient(id="p", birth_date=date(1970, 5, 5), sex="male", conditions=records)
    return evaluate(parse_criterion(text, "exclusion"), Context(patient, AS_OF, VOCAB)).truth


CASES = [
    # text, record codes, expected
    ("Diabetes", ("E11.9",), Tri.TRUE),
    ("Patients with diabetes", ("E10.65",), Tri.TRUE),
    ("Diabetes", ("E23.2",), Tri.FALSE),  # diabetes insipidus is no diabetes mellitus (closed: diabetes_mellitus)
    ("Diabetes insipidus", ("E23.2",), Tri.TRUE),
    ("Acute kidney injury", ("N17.9",), Tri.TRUE),
    ("Acute kidney injury", ("S37.001A",), Tri.UNKNOWN),  # a traumatic kidney injury is not it
    ("AKI", ("N17.0",), Tri.TRUE),
    ("Metastatic disease", ("C78.7",), Tri.TRUE),  # liver secondaries
    ("Metastatic disease", ("C79.31",), Tri.TRUE),  # brain secondaries
    ("Metastatic disease", ("C77.3",), Tri.UNKNOWN),  # axillary nodes: regional spread to many
    ("Metastatic disease", ("C50.911",), Tri.UNKNOWN),  # a primary alone: metastases are often not coded
    ("Metastatic disease", (), Tri.UNKNOWN),
    ("Known brain metastases", ("C79.31",), Tri.TRUE),
    ("Known brain metastases", ("C78.7",), Tri.UNKNOWN),
    ("CNS metastases", ("C79.49",), Tri.TRUE),  # spinal cord
    ("Current smoker", ("F17.210",), Tri.TRUE),
    ("Current smoker", ("F17.211",), Tri.UNKNOWN),  # in remission: a former smoker, never a current one
    ("Smoker", ("F17.220",), Tri.UNKNOWN),  # chewing tobacco is no smoking
    ("Smoker", ("Z72.0",), Tri.UNKNOWN),  # tobacco use, form not given
    ("Smoker", (), Tri.UNKNOWN),
    ("Tracheostomy", ("Z93.0",), Tri.TRUE),
    ("Participants with a tracheostomy", ("J95.03",), Tri.TRUE),  # a complication shows there is one
    ("Tracheostomy", ("Z93.1",), Tri.UNKNOWN),  # a gastrostomy
]


@pytest.mark.parametrize(("text", "codes", "expected"), CASES)
def test_bare_condition_names(text: str, codes: tuple[str, ...], expected: Tri) -> None:
    assert excluded(text, *codes) is expected


@pytest.mark.parametrize(
    "text",
    [
        "Gestational diabetes",  # not diabetes mellitus (O24.4): read so or not at all
        "Diabetic foot",
        "Liver metastases only",
        "Non-smoker",
    ],
)
def test_near_phrases_are_not_read_as_the_bare_name(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    concepts = {x.concept for x in n.walk(rule) if isinstance(x, n.Condition)}
    assert not concepts & {"icd10cm:E08-E13", "metastatic_disease", "tobacco_smoking"}, concepts


# ---- haematology names: a disease, its course or subtype, its abbreviation restated -------------------------

LEUKAEMIA = [
    # text, kind, record codes, expected
    ("Leukemia", "exclusion", ("C91.10",), Tri.TRUE),  # CLL is a leukaemia
    ("Leukemia", "exclusion", ("C90.00",), Tri.FALSE),  # multiple myeloma is not (closed world: C91-C95, C90.1)
    ("Leukemia", "exclusion", ("C92.30",), Tri.UNKNOWN),  # myeloid sarcoma: leukaemia only with marrow disease
    ("History of leukaemia", "exclusion", ("Z85.6",), Tri.TRUE),
    ("Acute lymphoblastic leukemia (ALL)", "inclusion", ("C91.00",), Tri.TRUE),
    ("Acute lymphoblastic leukemia (ALL)", "inclusion", ("C92.00",), Tri.FALSE),  # AML is no ALL (C91.0 closed)
    ("Myelodysplastic syndrome (MDS)", "inclusion", ("D46.9",), Tri.TRUE),
    ("Patients diagnosed as acute myeloid leukemia", "inclusion", ("C92.00",), Tri.TRUE),
    ("Relapsed or refractory acute myeloid leukemia", "inclusion", ("C92.00",), Tri.UNKNOWN),  # relapse not coded
    ("Relapsed or refractory acute myeloid leukemia", "inclusion", ("C91.00",), Tri.FALSE),  # not AML at all
    ("Newly diagnosed AML", "inclusion", (), Tri.FALSE),
    ("B-cell acute lymphoblastic leukemia", "inclusion", ("C91.00",), Tri.UNKNOWN),  # C91.0 holds T-ALL too
    ("Chronic lymphocytic leukemia", "exclusion", ("C91.10",), Tri.TRUE),
    ("CML", "exclusion", ("C92.10",), Tri.TRUE),
    ("Acute leukemia", "exclusion", ("C91.10",), Tri.UNKNOWN),  # a leukaemia, 'acute' left to a coordinator
    ("Acute leukemia", "exclusion", (), Tri.FALSE),
]


@pytest.mark.parametrize(("text", "kind", "codes", "expected"), LEUKAEMIA)
def test_leukaemia_names(text: str, kind: str, codes: tuple[str, ...], expected: Tri) -> None:
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2025, 6, 1)) for c in codes)
    patient = Patient(id="p", birth_date=date(1970, 5, 5), sex="male", conditions=records)
    assert evaluate(parse_criterion(text, kind), Context(patient, AS_OF, VOCAB)).truth is expected


@pytest.mark.parametrize(
    "text",
    [
        "Acute myeloid leukemia (ALL)",  # letters that do not abbreviate the name: not one mention
        "Heart failure (AF)",
        "Hypertension (diabetes)",  # another condition in parentheses is no definition of the first
        "Liver disease (cirrhosis)",
        "Acute myeloid leukemia (all subtypes)",
    ],
)
def test_a_parenthesis_that_does_not_restate_the_name_is_not_dropped(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert [x for x in n.walk(rule) if isinstance(x, n.Unparsed)] or not [
        x for x in n.walk(rule) if isinstance(x, n.Condition)
    ], rule


SMOKING_AND_MORE = [
    # text, record codes, expected
    ("Smoking", ("F17.210",), Tri.TRUE),
    ("History of smoking", ("F17.211",), Tri.TRUE),  # a dependence in remission is a past one
    ("Current smoker", ("F17.211",), Tri.UNKNOWN),
    ("History of smoking", ("Z87.891",), Tri.UNKNOWN),  # nicotine dependence: smoked or chewed?
    ("Multiple pregnancy", ("O30.001",), Tri.TRUE),
    ("Multiple pregnancy", ("Z34.90",), Tri.UNKNOWN),  # a pregnancy: a singleton is seldom coded
    ("Type 1 or type 2 diabetes", ("E10.9",), Tri.TRUE),
    ("Type 1 or type 2 diabetes", ("E11.9",), Tri.TRUE),
    ("Type 1 or type 2 diabetes", ("O24.410",), Tri.FALSE),  # gestational diabetes is neither (both closed)
]


@pytest.mark.parametrize(("text", "codes", "expected"), SMOKING_AND_MORE)
def test_smoking_gestation_and_diabetes_kinds(text: str, codes: tuple[str, ...], expected: Tri) -> None:
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2025, 9, 1)) for c in codes)
    patient = Patient(id="p", birth_date=date(1990, 5, 5), sex="female", conditions=records)
    assert evaluate(parse_criterion(text, "exclusion"), Context(patient, AS_OF, VOCAB)).truth is expected


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Chemotherapy within the past 12-month period", 365),
        ("Major surgery within 4 weeks prior to the first dose of study drugs", 28),
        ("Chemotherapy in the last 6-month period", 182),
    ],
)
def test_hyphenated_windows_and_dose_anchors(text: str, days: int) -> None:
    rule = parse_criterion(text, "exclusion")
    windows = [x.within for x in n.walk(rule) if isinstance(x, n.Medication | n.Procedure | n.Condition) and x.within]
    assert windows and all(abs(w.days - days) <= 2 for w in windows), rule
    assert not [x for x in n.walk(rule) if isinstance(x, n.Unparsed)]


@pytest.mark.parametrize(
    ("text", "lactation"),
    [
        ("Pregnant or nursing", True),
        ("Women who are pregnant, nursing, or planning a pregnancy", True),
        ("Pregnant or nursing home residents", False),  # a nursing home, not breastfeeding
        ("Nursing home residents", False),
        ("Requires nursing care", False),
    ],
)
def test_nursing_is_breastfeeding_only_beside_pregnancy(text: str, lactation: bool) -> None:
    from eligibility.parse.lexer import tokenize

    assert any(t.type == "COND" and t.value == "lactation" for t in tokenize(text, VOCAB)) is lactation


def test_pregnant_or_nursing_excludes_a_breastfeeding_woman() -> None:
    rule = parse_criterion("Pregnant or nursing", "exclusion")
    nursing = ConditionRecord(system="icd10cm", code="Z39.1", onset=date(2026, 2, 1))
    patient = Patient(id="p", birth_date=date(1990, 5, 5), sex="female", conditions=(nursing,))
    assert evaluate(rule, Context(patient, AS_OF, VOCAB)).truth is Tri.TRUE
