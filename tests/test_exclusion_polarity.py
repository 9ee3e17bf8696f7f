"""Exclusions worded as requirements ("No known HIV infection") keep both polarities, so never decide alone."""

from __future__ import annotations

from datetime import date

import pytest

from eligibility import nodes as n
from eligibility.api import screen
from eligibility.io.ctgov import StudyRecord
from eligibility.parse import parse_criterion
from eligibility.parse.polarity import negated_lead
from eligibility.patient import Patient
from eligibility.trial import trial_from_study

AS_OF = date(2026, 6, 1)


@pytest.mark.parametrize(
    "text",
    [
        "No known HIV infection",
        "No history of type 2 diabetes",
        "Without asthma",
        "Patients with no prior stroke",
        "Subjects who have no active hepatitis B",
        "Absence of heart failure",
        "Free of epilepsy",
    ],
)
def test_a_negated_exclusion_keeps_both_readings(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert isinstance(rule, n.Ambiguous), rule
    literal, meant = rule.readings
    assert isinstance(literal, n.Not)
    assert n.strip_spans(meant) == n.strip_spans(literal.item)


@pytest.mark.parametrize("text", ["No known HIV infection", "Without asthma", "Patients with no prior stroke"])
def test_the_same_words_in_an_inclusion_stay_literal(text: str) -> None:
    assert isinstance(parse_criterion(text, "inclusion"), n.Not)


@pytest.mark.parametrize(
    "text",
    [
        "HIV infection",  # no negation: the usual exclusion
        "History of stroke",
        "Nonsmokers",  # a word that starts with "no" is not the cue
        "Norovirus infection",
        "Not pregnant",  # "not" leads literal exclusions too ("Patients not on dialysis"): not this rule's cue
    ],
)
def test_near_misses_are_not_negated_leads(text: str) -> None:
    assert not negated_lead(text)


@pytest.mark.parametrize("text", ["- No known HIV infection", "2. No history of stroke", "b) Without asthma"])
def test_a_list_marker_before_the_cue_is_allowed(text: str) -> None:
    assert negated_lead(text)


def test_a_comparison_opening_with_no_is_not_touched() -> None:
    rule = parse_criterion("No more than 2 prior lines of therapy", "exclusion")
    assert not isinstance(rule, n.Ambiguous)


@pytest.mark.parametrize(
    "text",
    ["No history of stroke and no history of epilepsy", "No stroke, epilepsy or asthma", "Without asthma or COPD"],
)
def test_a_negated_list_never_excludes_a_patient_with_none_of_them(text: str) -> None:
    """Read literally (or with "no" on the first item only) a patient with none of them is excluded."""
    rule = parse_criterion(text, "exclusion")
    assert isinstance(rule, n.Ambiguous) and "worded as a requirement" in rule.reason
    literal, meant = rule.readings
    assert meant == (literal.item if isinstance(literal, n.Not) else n.Not(item=literal, span=literal.span))


def _patient(conditions: list[dict[str, str]]) -> Patient:
    return Patient.model_validate({"id": "p", "birth_date": "1980-01-01", "sex": "male", "conditions": conditions})


@pytest.mark.parametrize(
    "conditions",
    [
        [],  # no record: literally excluded, meant not excluded
        [{"system": "icd10cm", "code": "B20", "onset": "2020-01-01"}],  # HIV: literally fine, meant excluded
    ],
)
def test_neither_polarity_decides_a_screening(conditions: list[dict[str, str]]) -> None:
    text = "Inclusion Criteria:\n- Adults\nExclusion Criteria:\n- No history of HIV infection\n"
    trial = trial_from_study(StudyRecord(nct_id="NCT00000001", criteria_text=text))
    result = screen(trial, _patient(conditions), as_of=AS_OF)
    (e1,) = [c for c in result.criteria if c.id == "E1"]
    assert e1.status == "unknown"
    assert "worded as a requirement" in e1.explanation
    assert result.verdict != "ineligible"


# ---- exclusions worded with an obligation ("X must be ...") ----------------------------------------------------
MODAL = [
    "Serum lipase must be below 2 x ULN",
    "Haemoglobin should be at least 9 g/dL",
    "Patients must have a platelet count above 100 x 10^9/L",
    "Creatinine must not exceed 2 mg/dL",
    "Bilirubin needs to be at most 1.5 x ULN",
]


@pytest.mark.parametrize("text", MODAL)
def test_an_exclusion_worded_with_an_obligation_keeps_both_readings(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert isinstance(rule, n.Ambiguous) and "worded as a requirement" in rule.reason, rule
    literal, meant = rule.readings
    assert n.strip_spans(meant) == n.strip_spans(n.Not(item=literal))
    # as an inclusion the same words are the plain requirement
    assert not isinstance(parse_criterion(text, "inclusion"), n.Ambiguous)


def test_an_exclusion_worded_with_an_obligation_never_excludes_a_patient_who_meets_it() -> None:
    from eligibility.concepts import default_vocabulary
    from eligibility.evaluate import Context, evaluate
    from eligibility.logic import Tri
    from eligibility.patient import Observation

    rule = parse_criterion("Haemoglobin should be at least 9 g/dL", "exclusion")
    for value in (8.0, 9.0, 12.0):  # below, at and above the bound: both readings disagree, so unknown
        who = Patient(
            id="p", birth_date=date(1970, 1, 1), sex="female",
            observations=(Observation(concept="hemoglobin", value=value, unit="g/dL", effective=date(2026, 5, 1)),),
        )  # fmt: skip
        assert evaluate(rule, Context(who, AS_OF, default_vocabulary())).truth is Tri.UNKNOWN


@pytest.mark.parametrize("text", ["Haemoglobin below 9 g/dL", "Mustard gas exposure", "Platelets under 50 x 10^9/L"])
def test_exclusions_without_an_obligation_stay_literal(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert not (isinstance(rule, n.Ambiguous) and "worded as a requirement" in rule.reason), rule
