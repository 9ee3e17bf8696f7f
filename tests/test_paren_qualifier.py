"""A qualifier in parentheses after a mention reads like one before it (issue 11, part 5). Own sentences.

"Crohn's disease (active)" is "active Crohn's disease": the mention ANDed with an unevaluated part, so a
patient without the disease is decided and one with it stays unknown. After a list the qualifier may belong
to the last item or to every item; both readings are kept.
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

AS_OF = date(2026, 11, 1)


def _truth(text: str, *codes: str) -> Tri:
    conditions = tuple(ConditionRecord(system="icd10cm", code=c, text=c, onset=date(2026, 5, 1)) for c in codes)
    patient = Patient(id="t", birth_date=date(1980, 1, 1), sex="male", conditions=conditions)
    return evaluate(parse_criterion(text, "exclusion"), Context(patient, AS_OF, default_vocabulary())).truth


@pytest.mark.parametrize(
    ("after", "before"),
    [
        ("Crohn's disease (active)", "active Crohn's disease"),
        ("hepatitis B (symptomatic)", "symptomatic hepatitis B"),
        ("heart failure (uncontrolled)", "uncontrolled heart failure"),
    ],
)
def test_parenthesised_qualifier_reads_as_a_prefix(after: str, before: str) -> None:
    a, b = parse_criterion(after, "exclusion"), parse_criterion(before, "exclusion")
    assert n.strip_spans(a) == n.strip_spans(b)


def test_after_a_list_both_scopes_are_kept() -> None:
    rule = parse_criterion("HIV infection or hepatitis C (with a detectable viral load)", "exclusion")
    assert isinstance(rule, n.Ambiguous)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((), Tri.FALSE),  # neither infection on record: not excluded whatever the qualifier means
        (("B18.2",), Tri.UNKNOWN),  # hepatitis C on record: the viral load decides, and it is not read
        (("B20",), Tri.UNKNOWN),  # HIV: the qualifier may belong to it too
    ],
)
def test_list_with_a_trailing_qualifier(codes: tuple[str, ...], expected: Tri) -> None:
    assert _truth("HIV infection or hepatitis C (with a detectable viral load)", *codes) is expected


@pytest.mark.parametrize("text", ["(active)", "active (severe)", "ECOG 0-1 (severe)"])
def test_a_qualifier_without_a_mention_before_it_is_not_read_as_one(text: str) -> None:
    assert isinstance(parse_criterion(text, "exclusion"), n.Unparsed)


# ---- a relative clause or a diagnostic standard after a mention: an unread part, never another item ----------
RELATIVE = [
    # (text, kind, codes on record, expected)
    ("Active cancer which would require concomitant chemotherapy", "exclusion", (), "F"),
    ("Active cancer which would require concomitant chemotherapy", "exclusion", ("C50.911",), "U"),
    ("Heart failure that needs hospital care", "inclusion", (), "F"),
    ("Heart failure that needs hospital care", "inclusion", ("I50.9",), "U"),
    ("Alcohol abuse within 2 years (DSM-IV criteria)", "exclusion", (), "F"),
    ("Alcohol abuse within 2 years (DSM-IV criteria)", "exclusion", ("F10.10",), "U"),
    ("Alcohol abuse (DSM-5 criteria)", "exclusion", ("F10.10",), "U"),
]


@pytest.mark.parametrize(("text", "kind", "codes", "expected"), RELATIVE, ids=[f"{r[0][:30]}-{r[2]}" for r in RELATIVE])
def test_a_relative_clause_or_standard_narrows_the_mention(
    text: str, kind: str, codes: tuple[str, ...], expected: str
) -> None:
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2025, 6, 1)) for c in codes)
    who = Patient(id="p", birth_date=date(1970, 1, 1), sex="female", conditions=records)
    got = evaluate(parse_criterion(text, kind), Context(who, date(2026, 3, 1), default_vocabulary())).truth
    assert got.name[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Heart failure that requires treatment, or active infection",  # a separator: the clause may end early
        "Diabetes which is controlled or hypertension",
    ],
)
def test_a_relative_clause_never_swallows_another_item(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert not any(isinstance(x, n.Unparsed) and x.text.lower().startswith(("that", "which")) for x in n.walk(rule))
