"""Phrasings of common criteria read soundly (issue 11): own sentences, not corpus text."""

from __future__ import annotations

import pytest

from eligibility import nodes as n
from eligibility.parse import parse_criterion
from eligibility.units import canonical_unit, convert


def _leaves(rule: n.Node) -> list[n.Node]:
    return [x for x in n.walk(rule) if not n.children(x)]


@pytest.mark.parametrize(
    ("text", "concept", "unit"),
    [
        ("Body weight above 250 pounds", "weight", "lb"),
        ("weight > 120 lbs.", "weight", "lb"),
        ("Estimated GFR under 45 mL/min/1.73 m2", "egfr", "mL/min/1.73m²"),
        ("Calculated creatinine clearance of at least 40 mL/min", "creatinine_clearance", "mL/min"),
        ("BP systolic above 150 mmHg", "systolic_bp", "mmHg"),
    ],
)
def test_lab_names_and_units(text: str, concept: str, unit: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert isinstance(rule, n.Lab), rule
    assert (rule.concept, rule.unit) == (concept, unit)


def test_pounds_convert_to_kilograms() -> None:
    assert canonical_unit("[lb_av]") == "lb"
    assert convert(220, "lb", "kg") == pytest.approx(99.79, abs=0.01)


def test_performance_status_spelled_out() -> None:
    rule = parse_criterion("Eastern Cooperative Oncology Group performance status (ECOG) of 0-2", "inclusion")
    assert isinstance(rule, n.Lab) and (rule.concept, rule.op, rule.value, rule.value2) == ("ecog", "between", 0, 2)


@pytest.mark.parametrize(
    ("text", "ops", "unit"),
    [
        ("Diastolic blood pressure < 50 or > 100 mmHg", ("<", ">"), "mmHg"),
        ("serum sodium < 130 mmol/L or > 150 mmol/L", ("<", ">"), "mmol/L"),
    ],
)
def test_two_thresholds_on_one_measure(text: str, ops: tuple[str, str], unit: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert isinstance(rule, n.Or)
    assert tuple(x.op for x in rule.items if isinstance(x, n.Lab)) == ops
    assert all(isinstance(x, n.Lab) and x.unit == unit for x in rule.items)


def test_or_between_two_measures_is_still_a_list() -> None:
    rule = parse_criterion("SBP > 160 mmHg or DBP > 95 mmHg", "exclusion")
    assert {x.concept for x in _leaves(rule) if isinstance(x, n.Lab)} == {"systolic_bp", "diastolic_bp"}


@pytest.mark.parametrize(
    ("kind", "node"),
    [("inclusion", n.And), ("exclusion", n.Or)],
)
def test_thresholds_after_semicolons(kind: str, node: type) -> None:
    rule = parse_criterion("HDL < 35 mg/dL; total cholesterol > 250 mg/dL", kind)
    assert isinstance(rule, node) and all(isinstance(x, n.Lab) for x in rule.items)


@pytest.mark.parametrize(
    ("text", "concepts"),
    [
        ("Alcohol or drug abuse", {"alcohol_addiction", "drug_addiction"}),
        ("drug and/or alcohol abuse in the last 12 months", {"alcohol_addiction", "drug_addiction"}),
        ("Substance abuse or dependence", {"substance_use_disorder", "substance_dependence"}),
        ("heart or kidney disease", {"heart_disease", "renal_disease"}),
    ],
)
def test_shared_head_or_modifier(text: str, concepts: set[str]) -> None:
    rule = _narrow(parse_criterion(text, "exclusion"))
    assert {x.concept for x in _leaves(rule) if isinstance(x, n.Condition)} == concepts


def _narrow(rule: n.Node) -> n.Node:
    """The reading without its borderline senses (parse/borderline.py: 'drug abuse' with and without a coded
    'drug use, unspecified'): the narrow reading is the first of each such Ambiguous."""
    if isinstance(rule, n.Ambiguous) and "takes in" in rule.reason:
        return _narrow(rule.readings[0])
    return n.rebuild(rule, _narrow)


@pytest.mark.parametrize(
    "text",
    [
        "breast or colon surgery",  # the pair does not read as one concept each: unread
        "eye or ear implants",
    ],
)
def test_shared_head_needs_a_concept_for_each_word(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert not any(isinstance(x, n.Condition | n.Procedure) and x.span == (0, 5) for x in n.walk(rule))


def test_current_or_prior_is_any_time() -> None:
    rule = _narrow(parse_criterion("Current or prior alcohol abuse", "exclusion"))
    assert isinstance(rule, n.Condition) and rule.timing == "history"


def test_parenthesised_exception_of_a_class() -> None:
    rule = parse_criterion("Ongoing treatment with anticoagulants (except antiplatelet drugs)", "exclusion")
    assert isinstance(rule, n.Medication) and rule.excluding == ("antiplatelet_drugs",)


def test_skin_cancer_as_an_exception() -> None:
    rule = parse_criterion("Any malignancy in the past 3 years (other than skin cancer)", "exclusion")
    found = [x for x in n.walk(rule) if isinstance(x, n.Condition)]
    assert found and all(x.excluding == ("skin_cancer",) for x in found)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("NYHA class II or III", 2, 3),
        ("NYHA functional class II-IV", 2, 4),
        ("ECOG performance status 1 or 2", 1, 2),
    ],
)
def test_score_values(text: str, low: float, high: float) -> None:
    rule = parse_criterion(text, "exclusion")
    assert isinstance(rule, n.Lab) and (rule.op, rule.value, rule.value2) == ("between", low, high)


def test_two_score_values_that_are_not_neighbours_stay_unread() -> None:
    assert isinstance(parse_criterion("ECOG 1 or 3", "inclusion"), n.Unparsed)


def test_a_condition_and_its_grade_are_both_required() -> None:
    rule = parse_criterion("Heart failure of NYHA class III or IV", "exclusion")
    assert isinstance(rule, n.And)
    assert [type(x) for x in rule.items] == [n.Condition, n.Lab]


@pytest.mark.parametrize(
    ("text", "op", "value", "unit"),
    [
        ("Infants aged 3-18 months", "between", 3, "months"),
        ("Adults aged 21 years or older", ">=", 21, "years"),
        ("Men 40 years of age or older at screening", ">=", 40, "years"),
    ],
)
def test_age_group_words_and_the_age_at_screening(text: str, op: str, value: float, unit: str) -> None:
    rule = parse_criterion(text, "inclusion")
    ages = [x for x in n.walk(rule) if isinstance(x, n.Age)]
    assert len(ages) == 1 and (ages[0].op, ages[0].value, ages[0].unit) == (op, value, unit)
    assert not any(isinstance(x, n.Unparsed) for x in n.walk(rule))


def test_a_child_of_the_participant_is_not_an_age_group() -> None:
    rule = parse_criterion("Has children aged 2-5 years", "inclusion")
    assert not any(isinstance(x, n.Age) for x in n.walk(rule))


def _conditions(rule: n.Node) -> set[tuple[str, str]]:
    return {(x.concept, x.timing) for x in n.walk(rule) if isinstance(x, n.Condition)}


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        # a plural class noun after a condition name is the same condition, listed
        ("inflammatory bowel diseases", "inflammatory_bowel_disease"),
        ("congenital heart defects", "congenital_heart_disease"),
        ("Congenital cardiac malformations,", "congenital_heart_disease"),
        ("peptic ulcers", "peptic_ulcer"),
        # bare list items ending in a comma
        ("ichthyosis,", "ichthyosis"),
        ("Ichthyosis vulgaris", "ichthyosis"),
        ("Menopause", "menopause"),
    ],
)
def test_bare_list_items_and_plural_condition_names(text: str, concept: str) -> None:
    rule = _narrow(parse_criterion(text, "exclusion"))
    assert {c for c, _ in _conditions(rule)} == {concept}, rule


@pytest.mark.parametrize(
    "text",
    [
        "congenital heartss",  # not a plural the rule makes
        "ichthyosiform rash",  # a longer word is never the condition
        "inflammatory bowels",  # only a class noun ('disease', 'defect', ...) takes a plural
    ],
)
def test_near_misses_of_plural_condition_names(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert not {c for c, _ in _conditions(rule)} & {
        "congenital_heart_disease",
        "ichthyosis",
        "inflammatory_bowel_disease",
    }


def test_a_bare_congenital_heart_exclusion_keeps_the_corrected_defect_reading() -> None:
    """Z87.74 (a corrected defect) may or may not be meant: an exclusion keeps both readings."""
    rule = parse_criterion("Congenital heart disease", "exclusion")
    assert isinstance(rule, n.Ambiguous)
    assert {c for c in _conditions(rule) if c[0] == "congenital_heart_disease"} == {
        ("congenital_heart_disease", "current"),
        ("congenital_heart_disease", "history"),
    }


@pytest.mark.parametrize(("sex", "truth"), [("male", "false"), ("female", "unknown")])
def test_menopause_decides_only_for_a_man(sex: str, truth: str) -> None:
    """A woman past menopause often has no code saying so: absence is unknown for her, never 'not menopausal'."""
    from datetime import date

    from eligibility.concepts import default_vocabulary
    from eligibility.evaluate import Context, evaluate
    from eligibility.patient import Patient

    patient = Patient(id="t", birth_date=date(1970, 1, 1), sex=sex)
    verdict = evaluate(
        parse_criterion("Menopause", "exclusion"), Context(patient, date(2026, 11, 1), default_vocabulary())
    )
    assert verdict.truth.value == truth


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("Stroke within the past year", 1, "years"),
        ("stroke within the last month", 1, "months"),
        ("Stroke < 6 months ago", 6, "months"),
        ("stroke less than 8 weeks ago", 8, "weeks"),
        ("use of metformin during the 4 weeks before enrolment", 4, "weeks"),
        ("use of metformin during 2 weeks before study entry", 2, "weeks"),
        ("treatment with metformin over the three months prior to enrolment", 3, "months"),
        ("metformin in the preceding 6 months", 6, "months"),
    ],
)
def test_time_windows(text: str, amount: float, unit: str) -> None:
    rule = _narrow(parse_criterion(text, "exclusion"))
    assert isinstance(rule, (n.Condition, n.Medication)), rule
    assert rule.within is not None and (rule.within.amount, rule.within.unit) == (amount, unit)


@pytest.mark.parametrize(
    "text",
    [
        "stroke more than 6 months ago",  # older than: no window
        "stroke > 6 months ago",
        "stroke 6 months ago",  # a point in time, not a window
        "metformin during pregnancy",  # 'during' without a duration
    ],
)
def test_near_misses_of_time_windows_stay_unread(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert not any(getattr(x, "within", None) is not None for x in n.walk(rule)), rule


def test_for_any_reason_adds_nothing() -> None:
    rule = parse_criterion("Is taking metformin for any reason", "exclusion")
    assert isinstance(rule, n.Medication) and rule.concept == "metformin" and rule.within is None


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Patient Health Questionnaire (PHQ9) score of 15 or more", "phq9"),
        ("Eastern Cooperative Oncology Group (ECOG) performance status 0-1", "ecog"),
    ],
)
def test_a_spelt_out_name_before_its_abbreviation_is_one_mention(text: str, concept: str) -> None:
    rule = parse_criterion(text, "inclusion")
    assert isinstance(rule, n.Lab) and rule.concept == concept, rule


def test_words_whose_initials_do_not_spell_the_abbreviation_stay_unknown() -> None:
    from eligibility.parse.lexer import tokenize

    tokens = tokenize("Modified Health Questionnaire (PHQ9) score above 5")
    assert [t.type for t in tokens][:2] == ["WORD", "WORD"]  # 'Modified Health Questionnaire' is not P-H-Q
