"""Conditions read through ICD-10-CM (eligibility/terminology.py, parse/terms.py).

Every sentence here is written for these tests (no registry text is copied). The index is the
shipped package data; its generator (benchmarks/build_icd10cm_index.py) is checked against
simple-icd-10-cm when that is installed.
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
from eligibility.terminology import default_terminology, normalise

AS_OF = date(2026, 6, 1)


@pytest.mark.parametrize(
    ("phrase", "codes"),
    [
        ("Celiac disease", ("K90.0",)),
        ("coeliac diseases", ("K90.0",)),  # British spelling, plural
        ("Crohn disease", ("K50",)),  # possessive dropped; the bracketed synonym is not needed
        ("regional enteritis", ("K50",)),  # a bracketed synonym of a whole title
        ("diabetes mellitus type II", ("E11",)),  # word order, Roman numeral
        ("graft versus host disorder", ("D89.81",)),  # hyphens, disease / disorder
        ("GVHD", ("D89.81",)),  # abbreviation (data file)
        ("COPD", ("J44",)),  # "Other chronic obstructive pulmonary disease" proves COPD
        ("Tuberculosis", ("A15-A19",)),  # a block
        ("sarcoidosis", ("D86",)),
        ("epilepsy", ("G40.80", "G40.9")),  # "Other epilepsy" and "Epilepsy, unspecified": one condition
        ("peripheral vascular disease", ("I73",)),
    ],
)
def test_a_condition_phrase_names_icd10cm_codes(phrase: str, codes: tuple[str, ...]) -> None:
    match = default_terminology().lookup(phrase)
    assert match is not None and not match.ambiguous
    assert match.codes == codes
    assert match.source.startswith(f"ICD-10-CM {codes[0]} ") and match.source.endswith(", and descendants")


@pytest.mark.parametrize(
    "phrase",
    [
        "celiac",  # never a partial title
        "other malignancy",  # "other" is relative to the trial's disease, not ICD's residual codes
        "no sarcoidosis",
        "family history of epilepsy",
        "gvhd",  # abbreviations are case-sensitive
        "intermittent claudication",  # an inclusion term: its code (I73.9) is broader, a record does not prove it
        "Hodgkin",
    ],
)
def test_phrases_that_name_no_code(phrase: str) -> None:
    assert default_terminology().lookup(phrase) is None


def test_words_in_another_order_or_spelling_normalise_alike() -> None:
    assert normalise("Oesophageal varices") == normalise("esophageal varices")
    assert normalise("tumour of the kidney") == normalise("Kidney tumors")
    assert normalise("Anaemia in pregnancy") == normalise("anemia in pregnancies")
    assert normalise("non-Hodgkin lymphoma") != normalise("Hodgkin lymphoma")


def test_a_phrase_with_readings_in_unrelated_blocks_is_ambiguous() -> None:
    match = default_terminology().lookup("Pain")
    assert match is not None and match.ambiguous
    rule = parse_criterion("Pain", "exclusion")
    assert isinstance(rule, n.Unparsed) and "ambiguous condition name" in rule.reason


def _ctx(*conditions: ConditionRecord) -> Context:
    patient = Patient(id="t", birth_date=date(1970, 1, 1), sex="female", conditions=conditions)
    return Context(patient, AS_OF, default_vocabulary())


def _condition(rule: n.Node) -> n.Condition:
    found = [x for x in n.walk(rule) if isinstance(x, n.Condition)]
    assert len(found) == 1, rule
    return found[0]


SARCOID = ConditionRecord(system="icd10cm", code="D86.0", text="Sarcoidosis of lung", onset=date(2020, 3, 1))


@pytest.mark.parametrize("kind", ["inclusion", "exclusion"])
@pytest.mark.parametrize("text", ["Sarcoidosis", "History of sarcoidosis", "Diagnosis of sarcoidosis"])
def test_a_bare_condition_reads_in_both_sections(kind: str, text: str) -> None:
    rule = parse_criterion(text, kind)
    cond = _condition(rule)
    assert cond.concept == "icd10cm:D86"
    assert evaluate(rule, _ctx(SARCOID)).truth is Tri.TRUE  # a descendant code decides
    absent = evaluate(rule, _ctx())
    assert absent.truth is Tri.UNKNOWN  # open world: no record is not proof
    assert "ICD-10-CM D86 Sarcoidosis, and the descendants that name it" in absent.reason


def test_known_adds_nothing_a_record_does_not_say() -> None:
    """A coded record is a known diagnosis, and no record is no known one: "known" reads as the condition."""
    rule = parse_criterion("Known sarcoidosis", "exclusion")
    assert _condition(rule).concept == "icd10cm:D86"
    assert not any(isinstance(x, n.Unparsed) for x in n.walk(rule))
    assert evaluate(rule, _ctx(SARCOID)).truth is Tri.TRUE


def test_a_curated_concept_keeps_precedence() -> None:
    rule = parse_criterion("Heart failure", "exclusion")
    assert not _condition(rule).concept.startswith("icd10cm:")


@pytest.mark.parametrize("text", ["Non-Hodgkin lymphoma", "non Hodgkin lymphoma", "pre-eclampsia-like illness"])
def test_a_title_inside_a_longer_word_is_never_read(text: str) -> None:
    rule = parse_criterion(text, "inclusion")
    assert not any(isinstance(x, n.Condition) and x.concept.startswith("icd10cm:") for x in n.walk(rule))


def test_leftover_words_keep_the_clause_unread() -> None:
    rule = parse_criterion("Sarcoidosis-associated uveitis flares", "exclusion")
    assert not any(isinstance(x, n.Condition) for x in n.walk(rule))


@pytest.mark.parametrize(
    ("display", "matched"),
    [
        ("Celiac disease (disorder)", True),  # a title
        ("Nontropical sprue (disorder)", True),  # an inclusion term of K90.0: the record is a K90.0
        ("No celiac disease", False),  # negated text is never matched
        ("Celiac disease suspected", False),
    ],
)
def test_a_snomed_record_matches_by_text_through_icd10cm(display: str, matched: bool) -> None:
    rule = parse_criterion("Celiac disease", "inclusion")
    record = ConditionRecord(system="http://snomed.info/sct", code="999000111", text=display, onset=date(2021, 5, 2))
    verdict = evaluate(rule, _ctx(record))
    if matched:
        assert verdict.truth is Tri.TRUE
        assert "(matched by text)" in verdict.reason
        assert [e.matched_by for e in verdict.evidence] == ["text"]
    else:
        assert verdict.truth is Tri.UNKNOWN
        assert any("matched no concept by code or by text" in note and "999000111" in note for note in verdict.notes)


def test_text_matching_serves_curated_concepts_too() -> None:
    rule = parse_criterion("Type 2 diabetes mellitus", "exclusion")
    record = ConditionRecord(system="snomed", code="999000222", text="Type 2 diabetes mellitus (disorder)")
    assert evaluate(rule, _ctx(record)).truth is Tri.TRUE


def test_an_unmatched_snomed_record_is_named_in_the_notes() -> None:
    rule = parse_criterion("Sarcoidosis", "exclusion")
    record = ConditionRecord(system="snomed", code="999000333", text="Full-time employment (finding)")
    verdict = evaluate(rule, _ctx(record))
    assert verdict.truth is Tri.UNKNOWN
    assert any("999000333" in note and "Full-time employment" in note for note in verdict.notes)


def test_the_shipped_index_matches_its_generator() -> None:
    icd = pytest.importorskip("simple_icd_10_cm")
    terms = default_terminology()
    for code in ("K90.0", "D86", "I73.9", "A15-A19"):
        assert code in terms.codes
        assert terms.title(code).split(" (")[0] in icd.get_description(code)


@pytest.mark.parametrize(
    ("phrase", "code", "member"),
    [
        ("rheumatoid arthritis", "M06.9", True),
        ("rheumatoid arthritis", "M06.1", False),  # adult-onset Still's disease sits under M06 "Other RA"
        ("rheumatoid arthritis", "M06.4", False),  # inflammatory polyarthropathy, likewise
        ("metabolic disorders", "E86.0", False),  # dehydration sits in the block E70-E88
        ("asthma", "J45.909", True),
        ("asthma", "J45.990", False),  # exercise-induced bronchospasm sits under J45.99 "Other asthma"
    ],
)
def test_a_derived_concept_takes_only_descendants_whose_titles_name_it(phrase: str, code: str, member: bool) -> None:
    """A record of a child that names something else must never prove the phrase (a false 'has it')."""

    vocab = default_vocabulary()
    rule = parse_criterion(phrase, "exclusion")
    (cond,) = [x for x in n.walk(rule) if isinstance(x, n.Condition)]
    assert (cond.concept in vocab.concepts_for_code("icd10cm", code)) is member
