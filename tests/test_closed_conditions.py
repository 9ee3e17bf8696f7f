"""Curated conditions reviewed as complete against the ICD-10-CM tabular list (issue 11, dev-cases breadth).

Stroke, hepatic failure, inflammatory bowel disease and tuberculosis (apart from a latent infection) say
"absent" when no record matches (immunodeficiency, once among them, is open world: drug-induced immunosuppression
often has no code), and decide at the edges
of their code sets: a code inside proves the condition, a code the review put outside does not, and a code
that cannot tell (Z86.73, a TIA or an infarction) never proves a stroke. The criteria are our own sentences.
"""

from __future__ import annotations

from datetime import date

import pytest

from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import ConditionRecord, Patient

AS_OF = date(2026, 11, 1)


def _truth(text: str, kind: str, *records: tuple[str, str, str]) -> Tri:
    conditions = tuple(
        ConditionRecord(system="icd10cm", code=code, text=label, onset=date.fromisoformat(onset))
        for code, label, onset in records
    )
    patient = Patient(id="t", birth_date=date(1970, 1, 1), sex="female", conditions=conditions)
    return evaluate(parse_criterion(text, kind), Context(patient, AS_OF, default_vocabulary())).truth


@pytest.mark.parametrize(
    ("text", "records", "expected"),
    [
        # no record: absence counts for a reviewed extent
        ("Hepatic failure", (), Tri.FALSE),
        ("history of stroke", (), Tri.FALSE),
        ("Crohn's disease or ulcerative colitis", (), Tri.FALSE),
        ("chronic inflammatory bowel diseases", (), Tri.FALSE),  # the qualifier cannot make a missing disease present
        ("active tuberculosis", (), Tri.FALSE),
        ("known immunodeficiency", (), Tri.UNKNOWN),  # open world: drug-induced or coded elsewhere (seeds 18-19)
        # a code inside the extent proves it
        ("Hepatic failure", (("K72.10", "Chronic hepatic failure without coma", "2025-03-01"),), Tri.TRUE),
        ("liver failure", (("K76.82", "Hepatic encephalopathy", "2026-02-01"),), Tri.TRUE),
        ("history of stroke", (("I69.351", "Hemiplegia following cerebral infarction", "2024-01-01"),), Tri.TRUE),
        ("history of stroke", (("I61.9", "Nontraumatic intracerebral hemorrhage", "2019-05-05"),), Tri.TRUE),
        ("inflammatory bowel disease", (("K52.3", "Indeterminate colitis", "2022-01-01"),), Tri.TRUE),
        ("immunodeficiency", (("D83.9", "Common variable immunodeficiency", "2010-01-01"),), Tri.TRUE),
        ("immunodeficiency", (("B20", "HIV disease", "2015-01-01"),), Tri.TRUE),
        ("immunodeficiency", (("D84.821", "Immunodeficiency due to drugs", "2026-09-01"),), Tri.TRUE),
        ("tuberculosis", (("A15.0", "Tuberculosis of lung", "2026-08-01"),), Tri.TRUE),
        ("latent tuberculosis", (("Z22.7", "Latent tuberculosis", "2026-08-01"),), Tri.TRUE),
        # a code the review put outside does not prove it
        ("history of stroke", (("S06.6X0A", "Traumatic subarachnoid hemorrhage", "2024-01-01"),), Tri.FALSE),
        ("history of stroke", (("G45.9", "Transient cerebral ischemic attack", "2024-01-01"),), Tri.FALSE),
        # Z86.73 is a history of a TIA or of an infarction: borderline, so it decides nothing
        (
            "history of stroke",
            (("Z86.73", "Personal history of TIA and cerebral infarction", "2024-01-01"),),
            Tri.UNKNOWN,
        ),
        ("tuberculosis", (("Z22.7", "Latent tuberculosis", "2026-08-01"),), Tri.FALSE),
        ("tuberculosis", (("R76.11", "Nonspecific reaction to tuberculin skin test", "2026-08-01"),), Tri.FALSE),
        ("immunodeficiency", (("D86.0", "Sarcoidosis of lung", "2020-01-01"),), Tri.UNKNOWN),
        ("immunodeficiency", (("Z20.6", "Contact with HIV", "2026-01-01"),), Tri.UNKNOWN),
        ("immunodeficiency", (("E70.330", "Chediak-Higashi syndrome", "2020-01-01"),), Tri.TRUE),
        (
            "inflammatory bowel disease",
            (("K52.9", "Noninfective gastroenteritis and colitis", "2026-01-01"),),
            Tri.FALSE,
        ),
    ],
)
def test_reviewed_condition_extents(text: str, records: tuple[tuple[str, str, str], ...], expected: Tri) -> None:
    assert _truth(text, "inclusion", *records) is expected


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ((), Tri.FALSE),  # no stroke: not excluded
        ((("I63.9", "Cerebral infarction, unspecified", "2026-09-01"),), Tri.TRUE),  # a stroke now
        # a stroke years ago: a bare "Stroke" may mean one now or any before, so it is unknown, never a pass
        ((("I63.9", "Cerebral infarction, unspecified", "2021-02-01"),), Tri.UNKNOWN),
    ],
)
def test_a_bare_stroke_exclusion_keeps_both_readings(records: tuple[tuple[str, str, str], ...], expected: Tri) -> None:
    truth = _truth("Stroke", "exclusion", *records)
    if expected is Tri.UNKNOWN:
        assert truth is not Tri.FALSE
    else:
        assert truth is expected


def test_sequelae_of_stroke_are_history_codes() -> None:
    vocab = default_vocabulary()
    assert vocab.is_history_code("icd10cm", "I69.354")
    assert vocab.is_history_code("icd10cm", "B90.9")
    assert not vocab.is_history_code("icd10cm", "I63.9")
