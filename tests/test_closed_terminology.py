"""Closed world for a condition read through ICD-10-CM, only where the tabular list earns it (issue 11, part 1).

A terminology-derived concept is open world unless its codes hold the whole subtree of what the phrase names and
no code elsewhere has a title or inclusion term naming it (``terminology.closed_extent``). Records the reading
cannot see through (SNOMED CT with a display naming no ICD-10-CM code, a system the engine does not read) make
absence unknown again.
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
from eligibility.terminology import _NOT_AN_INSTANCE, _name_words, default_terminology, words

AS_OF = date(2026, 11, 1)


def _concept(text: str, kind: str = "exclusion") -> str:
    rule = parse_criterion(text, kind)
    found = [x.concept for x in n.walk(rule) if isinstance(x, n.Condition)]
    assert len(found) == 1, rule
    return found[0]


def _ctx(*conditions: ConditionRecord) -> Context:
    patient = Patient(id="t", birth_date=date(2000, 1, 1), sex="male", conditions=conditions)
    return Context(patient, AS_OF, default_vocabulary())


@pytest.mark.parametrize(
    ("text", "closed"),
    [
        ("Gout", False),  # M10 gout: M1A chronic gout names it outside M10
        ("Celiac disease", True),  # K90.0 and descendants: nothing else names it
        ("coeliac disease", True),  # British spelling, same code
        ("Cystic fibrosis", True),  # E84; Z14.1 carrier and P09.4 neonatal screening are no cystic fibrosis
        ("Psoriasis", False),  # L40.5 arthropathic psoriasis does not name every child: pruned
        ("Sarcoidosis", False),  # D86.8 "of other sites" does not name every child: pruned
        ("Asthma", False),  # J82.83 eosinophilic asthma lies outside J45
    ],
)
def test_closed_world_is_earned_by_the_whole_subtree(text: str, closed: bool) -> None:
    concept = _concept(text)
    vocab = default_vocabulary()
    assert concept.startswith("icd10cm:")
    assert vocab.complete(concept) is closed
    verdict = evaluate(parse_criterion(text, "exclusion"), _ctx())
    if closed:
        assert verdict.truth is Tri.FALSE  # the condition is absent: no record, and absence counts
        assert "absence counts" in verdict.reason and "ICD-10-CM" in verdict.reason
    else:
        assert verdict.truth is Tri.UNKNOWN
        assert "not reviewed as complete" in verdict.reason


def test_a_closed_inclusion_fails_without_a_record_and_passes_with_a_child_code() -> None:
    rule = parse_criterion("Cystic fibrosis", "inclusion")
    assert evaluate(rule, _ctx()).truth is Tri.FALSE
    child = ConditionRecord(system="icd10cm", code="E84.11", text="Meconium ileus in cystic fibrosis")
    assert evaluate(rule, _ctx(child)).truth is Tri.TRUE


@pytest.mark.parametrize(
    ("record", "truth"),
    [
        # a SNOMED CT record whose display names another ICD-10-CM code is seen: it is not celiac disease
        (ConditionRecord(system="snomed", code="999000401", text="Asthma (disorder)"), Tri.FALSE),
        # one whose display names nothing could be celiac disease under another name
        (ConditionRecord(system="snomed", code="999000402", text="Gluten enteropathy of childhood (disorder)"),
         Tri.UNKNOWN),
        # a system the engine does not read
        (ConditionRecord(system="http://example.org/local", code="X1", text="GE-7"), Tri.UNKNOWN),
        # a SNOMED CT display of the condition itself matches by text and decides
        (ConditionRecord(system="snomed", code="999000403", text="Celiac disease (disorder)"), Tri.TRUE),
    ],
)  # fmt: skip
def test_records_the_reading_cannot_see_through_make_absence_unknown(record: ConditionRecord, truth: Tri) -> None:
    verdict = evaluate(parse_criterion("Celiac disease", "exclusion"), _ctx(record))
    assert verdict.truth is truth, verdict.reason
    if truth is Tri.UNKNOWN:
        assert str(record.code) in verdict.reason and "absence is not proof" in verdict.reason


def test_every_closed_concept_holds_every_code_naming_it_in_the_tabular_list() -> None:
    """The mechanical check, redone against simple-icd-10-cm itself rather than the shipped index."""
    icd = pytest.importorskip("simple_icd_10_cm")
    vocab = default_vocabulary()
    terms = default_terminology()
    for text in ("Celiac disease", "Cystic fibrosis"):
        concept = vocab[_concept(text)]
        assert concept.extent == "complete" and concept.extent_source
        held = concept.codes["icd10cm"]
        for root in held:
            name = _name_words(terms.title(root))
            for code in icd.get_all_codes(with_dots=True):
                desc = frozenset(words(icd.get_description(code)))
                if "-" in code or not name <= desc or desc & _NOT_AN_INSTANCE:
                    continue
                assert any(code.startswith(h) for h in held), (text, code, icd.get_description(code))


@pytest.mark.parametrize(
    ("codes", "expected"),
    [((), Tri.FALSE), (("B18.2",), Tri.TRUE), (("B19.20",), Tri.UNKNOWN), (("B17.10",), Tri.FALSE)],
)
def test_an_unspecified_counterpart_is_the_edge_of_a_chronic_condition(codes: tuple[str, ...], expected: Tri) -> None:
    """'Chronic viral hepatitis' (B18) keeps closed world, but B19 'unspecified viral hepatitis' may be chronic: a
    record of it alone is unknown (audit seed 16); an acute hepatitis (B17) is not chronic."""
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2020, 1, 1)) for c in codes)
    verdict = evaluate(parse_criterion("Chronic viral hepatitis", "exclusion"), _ctx(*records))
    assert verdict.truth is expected


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        ("Mantle cell lymphoma", (), Tri.FALSE),
        ("Mantle cell lymphoma", ("C83.10",), Tri.TRUE),
        ("Mantle cell lymphoma", ("C83.90",), Tri.UNKNOWN),  # a diffuse lymphoma of unstated kind
        ("Mantle cell lymphoma", ("C83.30",), Tri.FALSE),  # diffuse large B-cell lymphoma is another kind
        ("Obstructive sleep apnoea", (), Tri.UNKNOWN),  # P28.32 names it outside G47.33: open world
        ("Obstructive sleep apnoea", ("G47.33",), Tri.TRUE),
        ("Burkitt lymphoma", ("C83.90",), Tri.UNKNOWN),  # a diffuse lymphoma of unstated kind
        ("Burkitt lymphoma", ("C83.30",), Tri.FALSE),  # diffuse large B-cell is another kind
        ("Burkitt lymphoma", ("C91.A0",), Tri.TRUE),  # the leukaemic form (WHO), filed apart by ICD-10-CM
    ],
)
def test_an_unspecified_sibling_is_the_edge_of_a_specific_condition(
    text: str, codes: tuple[str, ...], expected: Tri
) -> None:
    """A code's parent's 'unspecified' child may be that code's kind: a record of it alone is unknown, while no
    record is still 'absent' and a sibling of another named kind still decides (audit seed 17)."""
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2020, 1, 1)) for c in codes)
    verdict = evaluate(parse_criterion(text, "exclusion"), _ctx(*records))
    assert verdict.truth is expected


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (("K70.0",), Tri.UNKNOWN),  # alcoholic fatty liver is a fatty liver: left out, and liver disease is open
        (("K74.60",), Tri.TRUE),  # cirrhosis is another liver disease
        (("K76.0", "K74.60"), Tri.TRUE),
    ],
)
def test_an_exception_leaves_out_every_code_naming_it(codes: tuple[str, ...], expected: Tri) -> None:
    """'Other than fatty liver' leaves out K70.0 'Alcoholic fatty liver' as well as K76.0 (seed-17 re-judge)."""
    records = tuple(ConditionRecord(system="icd10cm", code=c, onset=date(2020, 1, 1)) for c in codes)
    rule = parse_criterion("History of liver disease other than fatty liver", "exclusion")
    assert evaluate(rule, _ctx(*records)).truth is expected


@pytest.mark.parametrize(("code", "expected"), [("H40.11", Tri.TRUE), ("H40.06", Tri.UNKNOWN), ("H40.01", Tri.UNKNOWN)])
def test_a_child_without_the_condition_or_only_suspecting_it_is_not_it(code: str, expected: Tri) -> None:
    """H40.06 'Primary angle closure without glaucoma damage' and H40.0 'Glaucoma suspect' are no glaucoma
    (audit seed 19): a record of one alone leaves the open-world reading unknown."""
    rule = parse_criterion("History of glaucoma", "exclusion")
    record = ConditionRecord(system="icd10cm", code=code, onset=date(2020, 1, 1))
    assert evaluate(rule, _ctx(record)).truth is expected
