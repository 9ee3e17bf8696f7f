"""A lab that shows the state on its day reads only recent results (parse/lookbacks.py), in both back ends."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from eligibility import nodes as n
from eligibility.concepts import VocabularyError, default_vocabulary, load_vocabulary_text
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import Observation, Patient

AS_OF = date(2026, 11, 1)


@pytest.mark.parametrize(
    ("text", "days_ago", "expected"),
    [
        ("A negative pregnancy test", 0, Tri.TRUE),
        ("A negative pregnancy test", 7, Tri.TRUE),  # the window's first day
        ("A negative pregnancy test", 8, Tri.UNKNOWN),  # too old to say 'not pregnant now' (audit seed 18)
        ("A negative pregnancy test", 80, Tri.UNKNOWN),
        ("Negative pregnancy test within 30 days", 20, Tri.TRUE),  # the text's own window wins
        ("HBsAg negative", 80, Tri.TRUE),  # other labs keep the default look-back
    ],
)
def test_a_pregnancy_test_counts_only_when_recent(text: str, days_ago: int, expected: Tri) -> None:
    rule = parse_criterion(text, "inclusion")
    concept = next(x.concept for x in n.walk(rule) if isinstance(x, n.LabResult))
    obs = Observation(concept=concept, result="negative", effective=AS_OF - timedelta(days=days_ago))
    patient = Patient(id="w", birth_date=date(1995, 1, 1), sex="female", observations=(obs,))
    assert evaluate(rule, Context(patient, AS_OF, default_vocabulary())).truth is expected


def test_a_lookback_must_be_positive() -> None:
    bad = "concepts:\n  - id: x\n    display: X\n    category: lab\n    lookback_days: 0\n"
    with pytest.raises(VocabularyError, match="lookback_days"):
        load_vocabulary_text(bad, "t.yaml")
