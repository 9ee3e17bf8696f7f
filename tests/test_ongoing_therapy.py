"""A continuing therapy named with no 'prior' ("on dialysis") means now, never "one session at any time"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from eligibility import nodes as n
from eligibility.concepts import VocabularyError, default_vocabulary, load_vocabulary_text
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import Patient, ProcedureRecord

AS_OF = date(2026, 6, 1)
VOCAB = default_vocabulary()
HAEMODIALYSIS = "302497006"


def _truth(text: str, *days_ago: int, kind: str = "exclusion") -> Tri:
    records = tuple(
        ProcedureRecord(system="snomed", code=HAEMODIALYSIS, date=AS_OF - timedelta(days=d)) for d in days_ago
    )
    patient = Patient(id="p", birth_date=date(1960, 1, 1), sex="male", procedures=records)
    return evaluate(parse_criterion(text, kind), Context(patient, AS_OF, VOCAB)).truth


@pytest.mark.parametrize(
    ("text", "days_ago", "expected"),
    [
        ("The patient is on dialysis", (2,), Tri.TRUE),
        ("The patient is on dialysis", (6,), Tri.TRUE),  # the window's first day: the 7 days ending today
        ("The patient is on dialysis", (7,), Tri.UNKNOWN),  # one session long ago: maybe an acute kidney injury
        ("The patient is on dialysis", (900,), Tri.UNKNOWN),
        ("The patient is on dialysis", (), Tri.UNKNOWN),  # open world: no record is not 'off dialysis'
        ("Currently receiving haemodialysis", (3,), Tri.TRUE),
        ("History of dialysis", (900,), Tri.TRUE),  # 'history of' means ever
        ("Prior haemodialysis", (900,), Tri.TRUE),
        ("Dialysis within the past 3 months", (60,), Tri.TRUE),  # the text's own window wins
    ],
)
def test_a_continuing_therapy_is_read_as_now(text: str, days_ago: tuple[int, ...], expected: Tri) -> None:
    assert _truth(text, *days_ago) is expected


def test_the_reading_shows_the_window() -> None:
    rule = parse_criterion("on dialysis", "exclusion")
    assert isinstance(rule, n.Procedure) and rule.within == n.Duration(amount=7, unit="days")


def test_a_continuing_therapy_must_be_open_world() -> None:
    text = (
        "concepts:\n  - {id: x, display: X, category: procedure, extent: complete, extent_source: s, ongoing_days: 7}\n"
    )
    with pytest.raises(VocabularyError, match="ongoing_days"):
        load_vocabulary_text(text, "t")
