"""Kleene three-valued logic: the algebra of Tri, and the evaluator's And/Or/Not/Implies/Ambiguous
agreeing with that algebra on trees whose leaf truths are controlled by a hand-made patient."""

from __future__ import annotations

from datetime import date
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri, all_of, any_of
from eligibility.patient import Patient

T, F, U = Tri.TRUE, Tri.FALSE, Tri.UNKNOWN
tri = st.sampled_from([T, F, U])
FAST = settings(max_examples=150, deadline=None)

# Kleene logic is min/max/reversal on the order FALSE < UNKNOWN < TRUE: an independent oracle.
_RANK = {F: 0, U: 1, T: 2}
_BY_RANK = {v: k for k, v in _RANK.items()}


def k_and(a: Tri, b: Tri) -> Tri:
    return _BY_RANK[min(_RANK[a], _RANK[b])]


def k_or(a: Tri, b: Tri) -> Tri:
    return _BY_RANK[max(_RANK[a], _RANK[b])]


def k_not(a: Tri) -> Tri:
    return _BY_RANK[2 - _RANK[a]]


# ---- truth tables ---------------------------------------------------------------------------

@pytest.mark.parametrize("a", [T, F, U])
@pytest.mark.parametrize("b", [T, F, U])
def test_truth_tables_match_min_max_oracle(a: Tri, b: Tri) -> None:
    assert a & b is k_and(a, b)
    assert a | b is k_or(a, b)
    assert ~a is k_not(a)


def test_unknown_absorption_and_propagation() -> None:
    assert F & U is F and U & F is F
    assert T | U is T and U | T is T
    assert T & U is U and U & T is U
    assert F | U is U and U | F is U
    assert ~U is U
    assert U & U is U and U | U is U


def test_of_and_to_bool_round_trip() -> None:
    for value in (True, False, None):
        assert Tri.of(value).to_bool() is value
    assert Tri.of(None) is U and Tri.of(True) is T and Tri.of(False) is F


# ---- algebraic laws -------------------------------------------------------------------------

@FAST
@given(tri, tri)
def test_commutativity(a: Tri, b: Tri) -> None:
    assert a & b is b & a
    assert a | b is b | a


@FAST
@given(tri, tri, tri)
def test_associativity(a: Tri, b: Tri, c: Tri) -> None:
    assert (a & b) & c is a & (b & c)
    assert (a | b) | c is a | (b | c)


@FAST
@given(tri, tri, tri)
def test_distributivity(a: Tri, b: Tri, c: Tri) -> None:
    assert a & (b | c) is (a & b) | (a & c)
    assert a | (b & c) is (a | b) & (a | c)


@FAST
@given(tri, tri)
def test_de_morgan(a: Tri, b: Tri) -> None:
    assert ~(a & b) is (~a | ~b)
    assert ~(a | b) is (~a & ~b)


@FAST
@given(tri)
def test_double_negation_identity_idempotence_annihilation(a: Tri) -> None:
    assert ~~a is a
    assert a & T is a and a | F is a
    assert a & a is a and a | a is a
    assert a & F is F and a | T is T
    assert F & U is F and T | U is T


@FAST
@given(tri)
def test_excluded_middle_fails_only_for_unknown(a: Tri) -> None:
    # Kleene logic is not Boolean: a | ~a is unknown exactly when a is unknown.
    assert (a | ~a) is (U if a is U else T)
    assert (a & ~a) is (U if a is U else F)


@FAST
@given(st.lists(tri, max_size=8))
def test_all_of_any_of_are_folds(values: list[Tri]) -> None:
    assert all_of(values) is reduce(lambda x, y: x & y, values, T)
    assert any_of(values) is reduce(lambda x, y: x | y, values, F)
    assert all_of(iter(values)) is all_of(values)  # any iterable, consumed once


@FAST
@given(st.lists(tri, min_size=1, max_size=8))
def test_all_of_any_of_are_min_max_and_dual(values: list[Tri]) -> None:
    assert all_of(values) is _BY_RANK[min(_RANK[v] for v in values)]
    assert any_of(values) is _BY_RANK[max(_RANK[v] for v in values)]
    assert ~all_of(values) is any_of(~v for v in values)


def test_empty_folds() -> None:
    assert all_of([]) is T
    assert any_of([]) is F


# ---- evaluate() agrees with the algebra ---------------------------------------------------------

AS_OF = date(2026, 1, 15)
# female, 46 years old on AS_OF
PATIENT = Patient(id="logic", birth_date=date(1980, 1, 1), sex="female")
VOCAB = default_vocabulary()

LEAVES: list[tuple[n.Node, Tri]] = [
    (n.Sex(sexes=("female",)), T),
    (n.Sex(sexes=("male",)), F),
    (n.Sex(sexes=("male", "female")), T),
    (n.Age(op=">=", value=18), T),
    (n.Age(op="<", value=18), F),
    (n.Age(op="between", value=40, value2=50), T),
    (n.Age(op="between", value=8, value2=45), F),
    (n.Unparsed(text="willing to comply", reason="test"), U),
]


def _leaf() -> st.SearchStrategy[tuple[n.Node, Tri]]:
    return st.sampled_from(LEAVES)


def _ambiguous_truth(truths: list[Tri]) -> Tri:
    return truths[0] if len(set(truths)) == 1 else U


def _extend(sub: st.SearchStrategy[tuple[n.Node, Tri]]) -> st.SearchStrategy[tuple[n.Node, Tri]]:
    many = st.lists(sub, min_size=1, max_size=4)
    return st.one_of(
        many.map(lambda xs: (n.And(items=tuple(x for x, _ in xs)), all_of(t for _, t in xs))),
        many.map(lambda xs: (n.Or(items=tuple(x for x, _ in xs)), any_of(t for _, t in xs))),
        sub.map(lambda x: (n.Not(item=x[0]), ~x[1])),
        st.tuples(sub, sub).map(lambda p: (n.Implies(condition=p[0][0], then=p[1][0]), ~p[0][1] | p[1][1])),
        st.lists(sub, min_size=2, max_size=3).map(
            lambda xs: (n.Ambiguous(readings=tuple(x for x, _ in xs), reason="test"),
                        _ambiguous_truth([t for _, t in xs]))),
    )


def trees(depth: int) -> st.SearchStrategy[tuple[n.Node, Tri]]:
    """(rule, expected truth) with at most ``depth`` levels of connectives above the leaves."""
    if depth == 0:
        return _leaf()
    smaller = trees(depth - 1)
    return st.one_of(smaller, _extend(smaller))


@pytest.mark.parametrize(("leaf", "truth"), LEAVES)
def test_leaves_have_the_truth_the_tests_assume(leaf: n.Node, truth: Tri) -> None:
    assert evaluate(leaf, Context(PATIENT, AS_OF, VOCAB)).truth is truth


@settings(max_examples=200, deadline=None)
@given(trees(3))
def test_evaluate_matches_kleene_algebra(case: tuple[n.Node, Tri]) -> None:
    rule, expected = case
    verdict = evaluate(rule, Context(PATIENT, AS_OF, VOCAB))
    assert verdict.truth is expected
    if verdict.truth is U:
        # principle: an unknown names the data (or the review) that would decide it
        assert verdict.missing, rule
    assert isinstance(verdict.reason, str) and verdict.reason


@FAST
@given(trees(2), trees(2))
def test_evaluate_de_morgan_on_trees(a: tuple[n.Node, Tri], b: tuple[n.Node, Tri]) -> None:
    ctx = Context(PATIENT, AS_OF, VOCAB)
    lhs = evaluate(n.Not(item=n.And(items=(a[0], b[0]))), ctx).truth
    rhs = evaluate(n.Or(items=(n.Not(item=a[0]), n.Not(item=b[0]))), ctx).truth
    assert lhs is rhs


@FAST
@given(trees(2))
def test_evaluate_double_negation_on_trees(a: tuple[n.Node, Tri]) -> None:
    ctx = Context(PATIENT, AS_OF, VOCAB)
    assert evaluate(n.Not(item=n.Not(item=a[0])), ctx).truth is evaluate(a[0], ctx).truth


def test_unknown_absorption_through_evaluate() -> None:
    ctx = Context(PATIENT, AS_OF, VOCAB)
    unknown = n.Unparsed(text="x", reason="test")
    false = n.Sex(sexes=("male",))
    true = n.Sex(sexes=("female",))
    v_and = evaluate(n.And(items=(false, unknown)), ctx)
    assert v_and.truth is F
    assert v_and.missing == ()  # a decided AND does not ask for the data it did not need
    v_or = evaluate(n.Or(items=(unknown, true)), ctx)
    assert v_or.truth is T
    assert v_or.missing == ()
    assert evaluate(n.Implies(condition=false, then=unknown), ctx).truth is T
    assert evaluate(n.Implies(condition=unknown, then=true), ctx).truth is T
    assert evaluate(n.Implies(condition=true, then=unknown), ctx).truth is U
