"""A status word hyphenated to what it is about ("HIV-positive", "HBsAg-negative") reads as the spaced form.

Own sentences. The hyphen must be glued on both sides and the status word must end the word: a spaced dash or
a longer compound is not joined, so it stays unread rather than guessed.
"""

from __future__ import annotations

import pytest

from eligibility import nodes as n
from eligibility.parse import parse_criterion


def _leaves(text: str) -> list[tuple[str, str, str]]:
    rule = parse_criterion(text, "exclusion")
    return [(type(x).__name__, str(getattr(x, "concept", "")), str(getattr(x, "result", ""))) for x in n.walk(rule)]


@pytest.mark.parametrize(
    ("hyphenated", "spaced"),
    [
        ("Patients who are HIV-positive", "Patients who are HIV positive"),
        ("HBsAg-negative", "HBsAg negative"),
        ("HCV antibody-positive", "HCV antibody positive"),
        ("HIV-seropositive or HBsAg-positive", "HIV seropositive or HBsAg positive"),
    ],
)
def test_hyphenated_status_reads_as_spaced(hyphenated: str, spaced: str) -> None:
    assert _leaves(hyphenated) == _leaves(spaced)
    assert not any(kind == "Unparsed" for kind, _, _ in _leaves(hyphenated))


@pytest.mark.parametrize("text", ["HIV-positive-like illness", "HIV - positive partner"])
def test_other_dashes_are_not_joined(text: str) -> None:
    rule = parse_criterion(text, "exclusion")
    assert any(isinstance(x, n.Unparsed) for x in n.walk(rule)), rule
