"""Fuzz: any criterion or unit string goes through the reader, the extractor and the unit layer
with either a result or one of the project's own errors -- never a KeyError, AssertionError,
OverflowError or RecursionError from deep inside (issue 15, item 16).

The alphabet leans on the characters that broke things before: non-ASCII decimal digits (which
``\\d`` and ``int()`` accept but pint does not), letters whose case folding is not one-to-one
('İ', 'ı', 'ſ', 'K' Kelvin, 'ß'), superscripts, micro signs, and the criteria language's own
operators and unit pieces, so that generated strings reach the unit and comparison readers.
Bounded (a few hundred examples per property, no deadline) so that CI time stays small.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eligibility.concepts import default_vocabulary
from eligibility.errors import EligibilityError
from eligibility.extract import criterion_records, extract_comparisons
from eligibility.io.criteria_text import split_criteria
from eligibility.parse import parse_criterion, read_criterion
from eligibility.parse.lexer import default_lexicon
from eligibility.units import canonical_unit, conversion_factor

_ODD = "İıſKßẞµμ٣۴५๓０１²³⁹⁻·×≥≤±‰°\u0301\u200b\ufeff\ud800"
_WORDS = (
    "age years months hemoglobin platelets creatinine ULN x ≥ <= > < = 10^9/L g/dL mg/dL µmol/L"
    " mL/min/1.73m² /µL % mm³ and or not ( ) within prior weeks of no history İ ı ſ ٣ ١٠ １２"
    " e400 400 1e308 * - 1. : ; ,"
)
_PIECES = [*_WORDS.split(" "), "Inclusion Criteria:", "Exclusion Criteria:", "\n"]
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Letters that IGNORECASE matching pairs with ASCII ones but lower() does not map to them.
_FOLDS = {"s": "ſ", "i": "ıİ", "k": "K", "S": "ſ", "I": "ıİ", "K": "K"}


def _lexicon_words() -> list[str]:
    lex = default_lexicon()
    vocab = default_vocabulary()
    words = [*lex.phrases, *lex.time_units, *lex.number_words, *lex.filler]
    for concept in vocab.concepts.values():
        words.extend((concept.display, *concept.synonyms))
    return sorted(set(words))


@st.composite
def _folded(draw: st.DrawFn) -> str:
    """A real lexicon phrase or concept name with some letters swapped for their odd case-fold twins."""
    word = draw(st.sampled_from(_lexicon_words()))
    out = []
    for ch in word:
        twins = _FOLDS.get(ch)
        out.append(draw(st.sampled_from(twins)) if twins and draw(st.booleans()) else ch)
    return "".join(out)


criteria = st.lists(
    st.one_of(
        _folded(), st.sampled_from(_PIECES), st.text(alphabet=st.sampled_from(_ODD + "0123456789 ./-^*aAsSiIkK"))
    ),
    max_size=14,
).map(" ".join)

units = st.one_of(
    st.text(alphabet=st.sampled_from(_ODD + "0123456789^*/.·-gGmMlLdDuUiIkKsSμ%x "), max_size=14),
    st.tuples(
        st.sampled_from(["g/dL", "g/L", "10^9/L", "mg/dL", "/µL", "mmol/L", "kg/m"]),
        st.text(_ODD + "0123456789^", max_size=5),
    ).map("".join),
)


@_SETTINGS
@given(criteria, st.sampled_from(["inclusion", "exclusion", "unspecified"]))
def test_free_text_reads_or_is_unknown(text: str, kind: str) -> None:
    parse_criterion(text, kind)  # never raises on text


@_SETTINGS
@given(criteria)
def test_rule_language_raises_only_parse_errors(text: str) -> None:
    with contextlib.suppress(EligibilityError):
        read_criterion(text)


@_SETTINGS
@given(criteria)
def test_extractor_and_splitter_never_crash(text: str) -> None:
    extract_comparisons(text)
    split_criteria(text)
    criterion_records("fuzz", "Inclusion Criteria:\n* " + text + "\nExclusion Criteria:\n* " + text[::-1])


@_SETTINGS
@given(units)
def test_units_read_or_raise_unit_error(text: str) -> None:
    try:
        canonical = canonical_unit(text)
    except EligibilityError:
        return
    with contextlib.suppress(EligibilityError):
        conversion_factor(canonical, canonical)
