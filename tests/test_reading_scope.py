"""Who a criterion is about (eligibility/parse/scope.py): another person, a sub-population, a strict age bound.

Every sentence is hand-written. Each pattern has its table and its near misses, which must still read;
verdict tables check the point of each rule on patients (a man is not failed by a rule for women of
child-bearing potential, a patient aged exactly N is unknown under "> N years").
"""

from __future__ import annotations

from datetime import date

import pytest

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion, population_rule, tokenize
from eligibility.patient import ConditionRecord, Observation, Patient

from .test_parse import U, norm

VOCAB = default_vocabulary()
AS_OF = date(2026, 3, 1)


def _leaves(rule: n.Node) -> list[n.Node]:
    return [x for x in n.walk(rule) if not n.children(x)]


def _participant_leaves(rule: n.Node) -> list[n.Node]:
    """Leaves that read something of the participant (not Unparsed)."""
    return [x for x in _leaves(rule) if not isinstance(x, n.Unparsed | n.Measurement)]


# ---- another person ------------------------------------------------------------------------------

ANOTHER_PERSON = [
    ("Has a son aged 4 to 16 years", "inclusion"),
    ("Having a child aged 2-10 years who attends school", "inclusion"),
    ("Women with children younger than 5 years", "inclusion"),
    ("Their infant is older than 6 months", "inclusion"),
    ("Spouse is pregnant", "exclusion"),
    ("Sexual partner with HIV infection", "exclusion"),
    ("Mother with heart failure or pregnancy", "exclusion"),
    ("Brother or sister with heart failure", "exclusion"),
    ("Heart failure or HIV infection in a first-degree relative", "exclusion"),
    ("Family history of heart failure or HIV infection", "exclusion"),
    ("Donor with hepatitis B or HIV infection", "exclusion"),
    ("Donor (HIV positive)", "exclusion"),
    ("Caregiver aged 21 years or older", "inclusion"),
    ("Household member with tuberculosis", "exclusion"),
    ("Fetus with heart failure", "exclusion"),
    ("Parent aged >= 18 years", "inclusion"),
    ("Guardian with platelets >= 100 x 10^9/L", "inclusion"),
    ("If the partner is pregnant, no heart failure", "inclusion"),
]


@pytest.mark.parametrize(("text", "kind"), ANOTHER_PERSON)
def test_another_persons_attributes_are_never_the_participants(text: str, kind: str) -> None:
    rule = parse_criterion(text, kind, VOCAB)
    read = [x for x in _participant_leaves(rule) if not isinstance(n.strip_spans(x), n.Unparsed)]
    if isinstance(rule, n.Implies):  # a conditional: the unread condition guards the rest
        assert _participant_leaves(rule.condition) == []
        return
    assert read == [], f"{text!r} read {read}"


def test_a_conditional_exclusion_on_another_person_needs_the_unread_condition() -> None:
    """ "If A, B" in an exclusion excludes those with A and B (never everyone without A)."""
    rule = norm(parse_criterion("If the partner is pregnant, heart failure", "exclusion", VOCAB))
    assert isinstance(rule, n.And) and isinstance(rule.items[0], n.Unparsed)
    assert rule.items[1] == n.Condition(concept="heart_failure")
    women = norm(parse_criterion("If female, pregnancy", "exclusion", VOCAB))
    assert women == n.And(items=(n.Sex(sexes=("female",)), n.Condition(concept="pregnancy")))


PARTICIPANT_NEAR_MISSES = [
    # a child word without a cue names the participants themselves
    ("Children aged 6-12 years", "inclusion", n.Age(op="between", value=6.0, value2=12.0)),
    ("Child-Pugh score of 5 to 9 points", "inclusion", None),
    # another person later in the list leaves the items before it alone only when it starts a new subject
    (
        "Pregnancy or heart failure",
        "exclusion",
        n.Or(items=(n.Condition(concept="pregnancy"), n.Condition(concept="heart_failure"))),
    ),
    ("Women aged 18 years or older", "inclusion", n.And(items=(n.Sex(sexes=("female",)), n.Age(op=">=", value=18.0)))),
    ("Nursing mothers", "exclusion", n.Condition(concept="lactation")),
]


@pytest.mark.parametrize(("text", "kind", "expected"), PARTICIPANT_NEAR_MISSES)
def test_near_misses_still_read_the_participant(text: str, kind: str, expected: n.Node | None) -> None:
    rule = parse_criterion(text, kind, VOCAB)
    assert all(t.type != "PERSON" for t in tokenize(text, VOCAB)) or expected is None
    if expected is None:
        assert all(t.type != "PERSON" for t in tokenize(text, VOCAB))
        return
    got = norm(rule)
    if isinstance(got, n.And) and isinstance(expected, n.Age):  # "Children": the noun stays unread beside the age
        assert norm(expected) in got.items
        return
    assert got == norm(expected)


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("has a child aged 3", True),
        ("with two children under 5", True),
        ("whose baby was born early", True),
        ("children aged 3", False),
        ("infants under 6 months of age", False),
        ("Child-Pugh class B", False),
    ],
)
def test_a_child_word_is_another_person_only_after_a_cue(text: str, person: bool) -> None:
    assert any(t.type == "PERSON" for t in tokenize(text, VOCAB)) is person


# ---- sub-populations -----------------------------------------------------------------------------

FEMALE = n.Sex(sexes=("female",))
MALE = n.Sex(sexes=("male",))
PLATELETS_75 = n.Lab(concept="platelets", op=">=", value=75.0, unit="10^9/L")
NEG_TEST = n.LabResult(concept="pregnancy_test", result="negative", lookback_days=7)  # its own look-back

POPULATIONS = [
    ("Cohort 2: platelet count >= 75 x 10^9/L", "inclusion", n.Implies(condition=U("Cohort 2"), then=PLATELETS_75)),
    (
        "Cohort 2: platelet count < 75 x 10^9/L",
        "exclusion",
        n.And(items=(U("Cohort 2"), n.Lab(concept="platelets", op="<", value=75.0, unit="10^9/L"))),
    ),
    (
        "Platelet count >= 75 x 10^9/L (for the expansion cohort)",
        "inclusion",
        n.Implies(condition=U("for the expansion cohort"), then=PLATELETS_75),
    ),
    (
        "Platelet count >= 75 x 10^9/L (arm B only)",
        "inclusion",
        n.Implies(condition=U("arm B only"), then=PLATELETS_75),
    ),
    (
        "Male subjects: aged 20 to 50 years",
        "inclusion",
        n.Implies(condition=MALE, then=n.Age(op="between", value=20.0, value2=50.0)),
    ),
    ("For female participants, a negative pregnancy test", "inclusion", n.Implies(condition=FEMALE, then=NEG_TEST)),
    ("Females must have a negative pregnancy test", "inclusion", n.Implies(condition=FEMALE, then=NEG_TEST)),
    (
        "Healthy controls: no heart failure",
        "inclusion",
        n.Implies(condition=U("Healthy controls"), then=n.Not(item=n.Condition(concept="heart_failure"))),
    ),
    (
        "Teenage volunteers: aged 13 to 19 years",
        "inclusion",
        n.Implies(condition=U("Teenage volunteers"), then=n.Age(op="between", value=13.0, value2=19.0)),
    ),
    (
        "Women of reproductive potential must have a negative pregnancy test",
        "inclusion",
        n.Implies(condition=n.And(items=(FEMALE, U("Women of reproductive potential"))), then=NEG_TEST),
    ),
    (
        "WCBP must have a negative pregnancy test",
        "inclusion",
        n.Implies(condition=n.And(items=(FEMALE, U("WCBP"))), then=NEG_TEST),
    ),
]


@pytest.mark.parametrize(("text", "kind", "expected"), POPULATIONS)
def test_a_criterion_scoped_to_a_group_is_conditional_on_membership(text: str, kind: str, expected: n.Node) -> None:
    assert norm(parse_criterion(text, kind, VOCAB)) == norm(expected)


POPULATION_NEAR_MISSES = [
    # a topic label is not a group; the plain subject "Patients" is everyone
    ("Adequate marrow function: platelet count >= 75 x 10^9/L", "inclusion", PLATELETS_75),
    ("Patients must have a platelet count >= 75 x 10^9/L", "inclusion", PLATELETS_75),
    # a sex with no modal or colon is part of the criterion, not a scope
    (
        "Women with a positive pregnancy test",
        "exclusion",
        n.And(items=(FEMALE, n.LabResult(concept="pregnancy_test", result="positive", lookback_days=7))),
    ),
    ("Men aged 40 years or older", "inclusion", n.And(items=(MALE, n.Age(op=">=", value=40.0)))),
    # a trailing group after alternatives may scope the last one only: not read as a scope of the whole
    ("Platelet count >= 75 x 10^9/L or heart failure (for cohort B)", "inclusion", None),
    # a sentence or a second label before the colon is not one label
    ("Heart failure. Cohort B: platelet count >= 75 x 10^9/L", "inclusion", None),
]


@pytest.mark.parametrize(("text", "kind", "expected"), POPULATION_NEAR_MISSES)
def test_labels_that_name_no_group_change_nothing(text: str, kind: str, expected: n.Node | None) -> None:
    rule = parse_criterion(text, kind, VOCAB)
    if expected is None:
        assert not any(isinstance(x, n.Implies) for x in n.walk(rule))
        return
    assert norm(rule) == norm(expected)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Cohort B:", U("Cohort B")),
        ("Male participants", MALE),
        ("For women of child-bearing potential", n.And(items=(FEMALE, U("For women of child-bearing potential")))),
        ("Patients aged 12 to 17 years", n.Age(op="between", value=12.0, value2=17.0)),
        ("Healthy volunteers", U("Healthy volunteers")),
        ("Patients", None),
        ("Laboratory values", None),
        ("Hematology:", None),
    ],
)
def test_population_rule_contract(label: str, expected: n.Node | None) -> None:
    got = population_rule(label, VOCAB)
    assert (None if got is None else norm(got)) == (None if expected is None else norm(expected))


def _patient(sex: str, age: int, **kw: object) -> Patient:
    birth = date(AS_OF.year - age, AS_OF.month, AS_OF.day)
    return Patient(id="p", sex=sex, birth_date=birth, **kw)  # type: ignore[arg-type]


def _patient_months(sex: str, months: int) -> Patient:
    year, month = divmod(AS_OF.year * 12 + AS_OF.month - 1 - months, 12)
    return Patient(id="p", sex=sex, birth_date=date(year, month + 1, AS_OF.day))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind", "patient", "expected"),
    [
        ("WOCBP must have a negative pregnancy test", "inclusion", _patient("male", 40), Tri.TRUE),
        ("WOCBP must have a negative pregnancy test", "inclusion", _patient("female", 30), Tri.UNKNOWN),
        (
            "Cohort 2: platelet count >= 75 x 10^9/L",
            "inclusion",
            _patient(
                "female",
                50,
                observations=(Observation(concept="platelets", value=50.0, unit="10^9/L", effective=AS_OF),),
            ),
            Tri.UNKNOWN,
        ),
        (
            "Cohort 2: platelet count >= 75 x 10^9/L",
            "inclusion",
            _patient(
                "female",
                50,
                observations=(Observation(concept="platelets", value=150.0, unit="10^9/L", effective=AS_OF),),
            ),
            Tri.TRUE,
        ),
        ("Male subjects: aged 20 to 50 years", "inclusion", _patient("female", 70), Tri.TRUE),
        ("Male subjects: aged 20 to 50 years", "inclusion", _patient("male", 70), Tri.FALSE),
        (
            "Cohort 2: heart failure",
            "exclusion",
            _patient("male", 60, conditions=(ConditionRecord(concept="heart_failure", status="active"),)),
            Tri.UNKNOWN,
        ),
        # a label going on after its comma ("..., or who ..."): a 60-year-old may still be in the group
        (
            "For patients aged 70 or older, or who are unfit for surgery, platelet count >= 100 x 10^9/L",
            "inclusion",
            _patient(
                "female",
                60,
                observations=(Observation(concept="platelets", value=50.0, unit="10^9/L", effective=AS_OF),),
            ),
            Tri.UNKNOWN,
        ),
        ("For men aged 70 or older, and those on dialysis, age at most 85 years", "inclusion",
         _patient("female", 90), Tri.UNKNOWN),
    ],
)
def test_members_only_are_held_to_a_groups_criterion(text: str, kind: str, patient: Patient, expected: Tri) -> None:
    rule = parse_criterion(text, kind, VOCAB)
    assert evaluate(rule, Context(patient, AS_OF, VOCAB)).truth is expected


# ---- strict age bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "boundary"),
    [
        ("Age > 21 years", 21),
        ("Older than 21 years", 21),
        ("Over 21 years of age", 21),
        ("Aged more than 21 years", 21),
        ("Age > 6 months", 6),
    ],
)
def test_a_patient_aged_exactly_n_is_unknown_under_a_strict_bound(text: str, boundary: int) -> None:
    rule = parse_criterion(text, "inclusion", VOCAB)
    assert isinstance(rule, n.Ambiguous)
    months = "months" in text
    for age, expected in ((boundary, Tri.UNKNOWN), (boundary + 1, Tri.TRUE), (boundary - 1, Tri.FALSE)):
        patient = _patient_months("female", age) if months else _patient("female", age)
        assert evaluate(rule, Context(patient, AS_OF, VOCAB)).truth is expected, age


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a strict upper bound is exact: aged N in completed years is never under N
        ("Age under 18 years", n.Age(op="<", value=18.0)),
        ("Younger than 18 years", n.Age(op="<", value=18.0)),
        ("Age less than 70 years", n.Age(op="<", value=70.0)),
        ("Age < 6 months", n.Age(op="<", value=6.0, unit="months")),
        # inclusive wording is untouched
        ("Aged 21 years or older", n.Age(op=">=", value=21.0)),
        ("Age >= 21 years", n.Age(op=">=", value=21.0)),
        ("Age 21 to 70 years", n.Age(op="between", value=21.0, value2=70.0)),
        # labs are not ages
        ("Platelet count > 75 x 10^9/L", n.Lab(concept="platelets", op=">", value=75.0, unit="10^9/L")),
    ],
)
def test_exact_and_inclusive_age_bounds_keep_one_reading(text: str, expected: n.Node) -> None:
    assert norm(parse_criterion(text, "inclusion", VOCAB)) == norm(expected)


def test_a_boundary_patient_is_unknown_inside_a_list_too() -> None:
    rule = parse_criterion("Men or women over 21 years of age", "inclusion", VOCAB)
    assert evaluate(rule, Context(_patient("male", 21), AS_OF, VOCAB)).truth is Tri.UNKNOWN
    assert evaluate(rule, Context(_patient("male", 22), AS_OF, VOCAB)).truth is Tri.TRUE


def test_a_parenthesis_on_who_may_take_part_restricts_rather_than_scopes() -> None:
    """ "Men and women (women postmenopausal)": not 'if a postmenopausal woman, then man or woman' (always met)."""
    from eligibility.render import render

    assert render(parse_criterion("Men and women (women postmenopausal)", "inclusion")).startswith("{")


def test_an_unread_label_that_may_be_a_requirement_keeps_both_readings() -> None:
    """ "Alert adult patients: age 18 or older": "alert" may be required, so an adult does not simply pass."""
    rule = parse_criterion("Alert adult patients: age >= 18 years", "inclusion")
    assert isinstance(rule, n.Ambiguous)
    assert isinstance(parse_criterion("Arm C: age >= 18 years", "inclusion"), n.Implies)


# ---- strict age bounds settled by the registry's structured ages ------------------------------------------------
@pytest.mark.parametrize(
    ("text", "minimum", "maximum", "expected_op"),
    [
        ("Inclusion Criteria:\n\n- Aged > 21 years\n", 21, None, ">="),  # the structured minimum admits 21
        ("Inclusion Criteria:\n\n- Aged > 21 years\n", 22, None, "ambiguous"),  # another value settles nothing
        ("Inclusion Criteria:\n\n- Aged > 21 years\n", None, None, "ambiguous"),
        ("Exclusion Criteria:\n\n- Older than 70 years\n", 18, 70, ">"),  # 70 admitted: only beyond excludes
        ("Exclusion Criteria:\n\n- Older than 70 years\n", 70, None, "ambiguous"),  # a minimum says nothing of it
    ],
)
def test_structured_ages_settle_a_strict_boundary_they_name(
    text: str, minimum: int | None, maximum: int | None, expected_op: str
) -> None:
    from eligibility.io.ctgov import AgeLimit, StudyRecord
    from eligibility.trial import trial_from_study

    def limit(v: int | None) -> AgeLimit | None:
        return None if v is None else AgeLimit(value=v, unit="years", text=f"{v} Years")

    study = StudyRecord(
        nct_id="NCT00000001", criteria_text=text, minimum_age=limit(minimum), maximum_age=limit(maximum)
    )
    (crit,) = [c for c in trial_from_study(study).criteria if c.source == "parsed"]
    if expected_op == "ambiguous":
        assert isinstance(crit.rule, n.Ambiguous) and crit.note is None
    else:
        assert isinstance(crit.rule, n.Age) and crit.rule.op == expected_op
        assert crit.note is not None and "structured" in crit.note


@pytest.mark.parametrize(
    "text", ["Gestational age between 26 and 34 weeks", "Corrected age under 12 months", "Bone age above 10 years"]
)
def test_an_age_that_is_not_the_participants_is_not_read_as_age(text: str) -> None:
    rule = parse_criterion(text, "inclusion")
    assert not any(isinstance(x, n.Age) for x in n.walk(rule)), rule


def test_postherpetic_neuralgia_is_not_an_active_infection() -> None:
    from eligibility.concepts import default_vocabulary

    vocab = default_vocabulary()
    assert "acute_infection" not in vocab.concepts_for_code("icd10cm", "B02.29")
    assert "acute_infection" in vocab.concepts_for_code("icd10cm", "B02.9")  # zoster without complication


COHORTS = "Cohort A: platelets >= 75 x 10^9/L. Cohort B: platelets >= 50 x 10^9/L."
BY_SEX = "Men: platelets >= 75 x 10^9/L. Women: platelets >= 50 x 10^9/L."


def _platelets(value: float, sex: str = "female") -> Patient:
    platelets = Observation(concept="platelets", value=value, unit="10^9/L", effective=AS_OF)
    return _patient(sex, 50, observations=(platelets,))


@pytest.mark.parametrize(
    ("text", "kind", "patient", "expected"),
    [
        # each group's threshold applies to that group only: 60 meets cohort B's, fails cohort A's
        (COHORTS, "inclusion", _platelets(60), Tri.UNKNOWN),
        (COHORTS.replace(". C", "; C"), "inclusion", _platelets(80), Tri.TRUE),
        # 40 fails both, yet which cohort the patient is in is unread: held to each only as a member, so unknown
        (COHORTS, "inclusion", _platelets(40), Tri.UNKNOWN),
        (BY_SEX, "inclusion", _platelets(60, "male"), Tri.FALSE),
        (BY_SEX, "inclusion", _platelets(60), Tri.TRUE),
        ("Arm 1: platelets < 75 x 10^9/L. Arm 2: platelets < 50 x 10^9/L.", "exclusion", _platelets(60), Tri.UNKNOWN),
        ("Arm 1: platelets < 75 x 10^9/L. Arm 2: platelets < 50 x 10^9/L.", "exclusion", _platelets(90), Tri.FALSE),
        # a second sentence for men: a man is not waved through by the women's label
        (
            "Women of child-bearing potential must have a negative pregnancy test. "
            "Men with partners of child-bearing potential must agree to use contraception.",
            "inclusion",
            _patient("male", 40),
            Tri.UNKNOWN,
        ),
        # an unlabelled sentence before a group's: who it applies to is open, so nothing is decided from it
        ("Platelets >= 75 x 10^9/L. Cohort B: platelets >= 50 x 10^9/L.", "inclusion", _platelets(60), Tri.UNKNOWN),
    ],
)
def test_sentences_for_different_groups_each_bind_their_own_group(
    text: str, kind: str, patient: Patient, expected: Tri
) -> None:
    rule = parse_criterion(text, kind, VOCAB)
    assert evaluate(rule, Context(patient, AS_OF, VOCAB)).truth is expected
