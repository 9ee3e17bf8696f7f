"""The parse speed-ups find exactly what the plain forms find (property tests against the originals)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.io.textclean import clean, quick_clean
from eligibility.parse.lexer import _PhraseRegex

PHRASES = ["heart failure", "heart", "k", "Kelvin", "µg", "ſome", "ß", "a b c", "x-ray", "İl", "1.5", "mg/dL"]
TEXT = st.text(alphabet=st.sampled_from(list("heart failure kKKelvinµμgſsßİil 1.5 mg/dLx-ray\n\t;*&\\")), max_size=40)


@settings(max_examples=400, deadline=None)
@given(phrases=st.lists(st.sampled_from(PHRASES), min_size=1, max_size=8), text=TEXT, pos=st.integers(0, 45))
def test_phrase_regex_matches_as_the_whole_alternation(phrases: list[str], text: str, pos: int) -> None:
    fast = _PhraseRegex(phrases, re.IGNORECASE)
    whole = re.compile("|".join(fast.alternatives), re.IGNORECASE)
    got, want = fast.match(text, pos), whole.match(text, pos)
    assert (got and (got.start(), got.end())) == (want and (want.start(), want.end()))


@settings(max_examples=400, deadline=None)
@given(text=TEXT)
def test_quick_clean_equals_clean(text: str) -> None:
    assert quick_clean(text) == clean(text, [(0, len(text))])[0]
