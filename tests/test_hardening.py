"""Issue 15: bad text, bad files and hostile sizes give a clear message or an unknown, never a traceback."""

from __future__ import annotations

import pytest

from eligibility import nodes as n
from eligibility.errors import ParseError, UnitError
from eligibility.parse import MAX_CRITERION_CHARS, parse_criterion, read_criterion
from eligibility.units import canonical_unit

# --- item 16: units -----------------------------------------------------------------------------

UNIT_ERRORS = [
    ("g/L٣", "cannot read unit 'g/L٣': 'L٣' is not a unit name"),
    ("g/dL400", "cannot read unit 'g/dL400': 'dL400': a power above 4 is not a clinical unit"),
    ("g/L²²²²", "cannot read unit 'g/L²²²²': 'L^2222': a power above 4 is not a clinical unit"),
    ("10^400/L", "cannot read unit '10^400/L': 10^400 is beyond any clinical count"),
    ("１０^9/L", "cannot read unit '１０^9/L': '１０^9' is not a unit name"),
]


@pytest.mark.parametrize(("text", "message"), UNIT_ERRORS)
def test_hostile_units_are_unit_errors(text: str, message: str) -> None:
    with pytest.raises(UnitError) as info:
        canonical_unit(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "canonical"), [("mm³", "mm³"), ("kg/m²", "kg/m²"), ("10¹²/L", "10^12/L")])
def test_ordinary_powers_still_read(text: str, canonical: str) -> None:
    assert canonical_unit(text) == canonical


# --- item 16: letters whose case folding is not one-to-one ----------------------------------------

FOLDED = [
    # (criterion with an odd letter, the same criterion in plain ASCII): both read alike
    ("Total choleſterol < 200 mg/dL", "Total cholesterol < 200 mg/dL"),
    ("Hemoglobin leſs than 9 g/dL", "Hemoglobin less than 9 g/dL"),
    ("Platelets not exceedıng 400 x 10^9/L", "Platelets not exceeding 400 x 10^9/L"),
    ("Age at moſt 75 years", "Age at most 75 years"),
    ("HEMOGLOBİN < 9 g/dL", "HEMOGLOBIN < 9 g/dL"),
]


@pytest.mark.parametrize(("odd", "plain"), FOLDED)
def test_case_fold_twins_read_like_ascii(odd: str, plain: str) -> None:
    def shape(rule: n.Node) -> str:
        return type(rule).__name__ + str(sorted(rule.model_dump(exclude={"span", "text"}).keys()))

    assert shape(parse_criterion(odd)) == shape(parse_criterion(plain))


# --- items 16 and 18: nesting and length bounds ---------------------------------------------------

TOO_BIG = [
    ("(" * 200 + "age > 18 years" + ")" * 200, "too deeply nested to read (200 levels of brackets; the limit is 12)"),
    ("[" * 13 + "age > 18 years" + "]" * 13, "too deeply nested to read (13 levels of brackets; the limit is 12)"),
    (
        "Hemoglobin >= 9 g/dL; " * 5000,
        "too long to read as one criterion (110,000 characters; the limit is 5,000): split it into separate items",
    ),
]


@pytest.mark.parametrize(("text", "reason"), TOO_BIG)
def test_huge_or_deep_criteria_are_unknown_with_a_reason(text: str, reason: str) -> None:
    rule = parse_criterion(text, "inclusion")
    assert isinstance(rule, n.Unparsed)
    assert rule.reason == reason
    with pytest.raises(ParseError) as info:
        read_criterion(text)
    assert str(info.value) == f"cannot read rule: {reason}"


def test_criterion_at_the_length_limit_is_still_read() -> None:
    text = ("age >= 18 years and " * 400)[: MAX_CRITERION_CHARS - 20] + " age >= 18 years"
    assert len(text) <= MAX_CRITERION_CHARS
    assert not isinstance(parse_criterion(text), n.Unparsed) or "too long" not in parse_criterion(text).reason
