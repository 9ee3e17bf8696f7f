"""An "or" list ending in a time window with an item the vocabulary does not know (eligibility/parse/timedlist.py).

Every sentence is written for these tests. Each reading keeps both scopes of the window (the whole list, the
last item), so only what both agree on decides; near misses where something else may reach across the items
stay unread.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import Patient

VOCAB = default_vocabulary()
AS_OF = date(2026, 6, 1)


def _on_warfarin(start: str | None, end: str | None = None) -> Patient:
    meds = [] if start is None else [{"concept": "warfarin", "start": start, "end": end}]
    return Patient.model_validate({"id": "p", "birth_date": "1970-01-01", "sex": "female", "medications": meds})


def _value(text: str, patient: Patient, kind: str = "exclusion") -> Tri:
    return evaluate(parse_criterion(text, kind, VOCAB), Context(patient, AS_OF, VOCAB)).truth


READ = [
    "Use of warfarin or zorblatin within the last 3 months",
    "warfarin, zorblatin or quexamide in the past 3 months",
    "Treatment with warfarin or zorblatin drops during the 3 months before randomisation",
]


@pytest.mark.parametrize("text", READ)
def test_a_known_item_in_the_window_decides(text: str) -> None:
    rule = parse_criterion(text, "exclusion", VOCAB)
    assert isinstance(rule, n.Ambiguous)
    assert _value(text, _on_warfarin("2026-05-01")) is Tri.TRUE  # taken now, so in the window too: excluded
    assert _value(text, _on_warfarin(None)) is Tri.UNKNOWN  # the unknown item may hold
    # in the window but stopped: the window may be the last item's alone, and bare "warfarin" is current use
    assert _value(text, _on_warfarin("2026-05-01", "2026-05-10")) is Tri.UNKNOWN
    assert _value(text, _on_warfarin("2019-01-01", "2020-01-01")) is Tri.UNKNOWN


UNREAD = [
    "zorblatin or warfarin within 3 months",  # a known item after an unknown one may finish its phrase
    "history of warfarin or zorblatin within 3 months",  # a prefix over the list
    "warfarin or treated zorblatin within 3 months",  # a word that attaches
    "warfarin or zorblatin within 3 months (local criteria)",  # more after the window
    "warfarin and zorblatin within 3 months",  # not an "or" list
]


@pytest.mark.parametrize("text", UNREAD)
def test_no_list_reading_where_something_reaches_across(text: str) -> None:
    rule = parse_criterion(text, "exclusion", VOCAB)
    assert not (isinstance(rule, n.Ambiguous) and rule.reason.startswith("a modifier at one end"))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "warfarin",
                "zorblatin",
                "or",
                ",",
                "within",
                "3",
                "months",
                "prior to",
                "randomisation",
                "history of",
                "and",
                "in the last",
                "heart failure",
            ]
        ),
        min_size=1,
        max_size=9,
    )
)
def test_the_reader_never_raises(words: list[str]) -> None:
    for kind in ("inclusion", "exclusion"):
        parse_criterion(" ".join(words), kind, VOCAB)
