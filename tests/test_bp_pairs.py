"""Blood-pressure pairs ("160/100 mmHg"): read only where usage fixes the logic, then evaluated.

Sentences are written for these tests. Screening date fixed: 15 January 2026.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import Observation, Patient

from .test_parse import norm

AS_OF = date(2026, 1, 15)
VOCAB = default_vocabulary()


def sbp(op: n.Op, value: float) -> n.Lab:
    return n.Lab(concept="systolic_bp", op=op, value=value, unit="mmHg")


def dbp(op: n.Op, value: float) -> n.Lab:
    return n.Lab(concept="diastolic_bp", op=op, value=value, unit="mmHg")


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Blood pressure >= 160/100 mmHg", "exclusion", n.Or(items=(sbp(">=", 160), dbp(">=", 100)))),
        ("BP > 150/95", "exclusion", n.Or(items=(sbp(">", 150), dbp(">", 95)))),
        ("Blood pressure < 140/90 mmHg", "inclusion", n.And(items=(sbp("<", 140), dbp("<", 90)))),
        ("Systolic/diastolic blood pressure <= 130/80 mmHg", "inclusion",
         n.And(items=(sbp("<=", 130), dbp("<=", 80)))),
    ],
)  # fmt: skip
def test_pairs_read_where_usage_fixes_the_logic(text: str, kind: str, expected: n.Node) -> None:
    assert norm(parse_criterion(text, kind)) == norm(expected)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("BP > 140/90 mmHg", "inclusion"),  # hypertension as an inclusion: either or both?
        ("Blood pressure < 90/60 mmHg", "exclusion"),  # hypotension: either or both?
        ("Blood pressure > 160/100 mmHg on 2 occasions", "exclusion"),  # another number
        ("BP >= 160/100 mmHg or 140/90 mmHg with diabetes", "exclusion"),  # two pairs
        ("Platelets > 100/nL", "inclusion"),  # not a pair
        ("Ratio > 3/1", "exclusion"),  # not a blood pressure
    ],
)
def test_other_pairs_stay_unread(text: str, kind: str) -> None:
    rule = parse_criterion(text, kind)
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, n.Lab) and node.concept in ("systolic_bp", "diastolic_bp"):
            found.append(node.concept)
        for value in getattr(node, "__dict__", {}).values():
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, n.Node):
                    walk(item)

    walk(rule)
    assert found == []


def bp(systolic: float | None, diastolic: float | None) -> tuple[Observation, ...]:
    day = AS_OF - timedelta(days=3)
    out = []
    if systolic is not None:
        out.append(Observation(concept="systolic_bp", value=systolic, unit="mm[Hg]", effective=day))
    if diastolic is not None:
        out.append(Observation(concept="diastolic_bp", value=diastolic, unit="mm[Hg]", effective=day))
    return tuple(out)


@pytest.mark.parametrize(
    ("text", "kind", "record", "expected"),
    [
        # exclusion >= 160/100: either value excludes (the rule is true)
        ("Blood pressure >= 160/100 mmHg", "exclusion", bp(160, 80), Tri.TRUE),
        ("Blood pressure >= 160/100 mmHg", "exclusion", bp(130, 100), Tri.TRUE),
        ("Blood pressure >= 160/100 mmHg", "exclusion", bp(159, 99), Tri.FALSE),
        ("Blood pressure >= 160/100 mmHg", "exclusion", bp(159, None), Tri.UNKNOWN),
        ("Blood pressure >= 160/100 mmHg", "exclusion", bp(170, None), Tri.TRUE),
        # inclusion < 140/90: both must be below
        ("Blood pressure < 140/90 mmHg", "inclusion", bp(139, 89), Tri.TRUE),
        ("Blood pressure < 140/90 mmHg", "inclusion", bp(140, 80), Tri.FALSE),
        ("Blood pressure < 140/90 mmHg", "inclusion", bp(120, 90), Tri.FALSE),
        ("Blood pressure < 140/90 mmHg", "inclusion", bp(120, None), Tri.UNKNOWN),
    ],
)
def test_pair_verdicts(text: str, kind: str, record: tuple[Observation, ...], expected: Tri) -> None:
    patient = Patient(id="p", birth_date=date(1960, 1, 1), sex="female", observations=record)
    assert evaluate(parse_criterion(text, kind), Context(patient, AS_OF, VOCAB)).truth is expected
