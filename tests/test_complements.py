"""A class condition completed by what it is about ("allergy ... to X") is never read as the whole class."""

from __future__ import annotations

import pytest

from eligibility import nodes as n
from eligibility.parse import parse_criterion


def _allergy_leaves(text: str, kind: str = "exclusion") -> list[n.Condition]:
    return [x for x in n.walk(parse_criterion(text, kind)) if isinstance(x, n.Condition) and x.concept == "allergy"]


@pytest.mark.parametrize(
    "text",
    [
        "Allergy or intolerance to morphine, ketamine or lidocaine",
        "Allergy or hypersensitivity against iodine contrast",
        "allergy, or known reaction, towards latex",
        "Allergies or intolerance to any of the study drugs",
    ],
)
def test_an_allergy_to_something_named_never_reads_as_any_allergy(text: str) -> None:
    assert _allergy_leaves(text) == []
    assert _allergy_leaves(text, "inclusion") == []


@pytest.mark.parametrize("text", ["History of allergy", "Severe allergy", "Allergy, asthma or eczema", "Allergies"])
def test_a_bare_allergy_still_reads_as_the_class(text: str) -> None:
    assert _allergy_leaves(text)
