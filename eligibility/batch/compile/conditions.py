"""Condition leaves: current / history / within a window, end events, tests that decide a condition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlglot.expressions as exp

from ... import nodes as n
from ...evaluate import normalise_system
from .base import _ACTIVE, _CONDITIONS, _CompilerBase, _Leaf
from .sql import (
    _and,
    _as,
    _case,
    _cmp,
    _col,
    _date,
    _days_between,
    _in,
    _is_null,
    _not_null,
    _null_bool,
    _num,
    _or,
    _p,
    _str,
    _tri_max,
)


class _ConditionLeaves(_CompilerBase):
    def _end_events(self, concept: Any) -> exp.Query | None:
        """evaluate._end_events: dated records that end the condition (patient_id, d)."""
        as_of = _date(self.as_of)
        parts: list[exp.Select] = []

        def events(table: str, keys: list[int], day: str, extra: exp.Expression | None = None) -> None:
            if not keys:
                return
            e = "e"
            conds = [
                self._records(table, e, keys),
                _not_null(_col(day, e)),
                exp.LTE(this=_col(day, e), expression=as_of),
            ]
            if extra is not None:
                conds.append(extra)
            parts.append(
                exp.select(_col("patient_id", e), _as(_col(day, e), "d"), copy=False)
                .from_(exp.to_table(table).as_(e), copy=False)
                .where(_and(*conds), copy=False)
            )

        for other in concept.ended_by:
            events("conditions", self.rkeys("conditions", other), "onset")
            events("procedures", self.rkeys("procedures", other), "performed")
        if concept.tests_current_days is not None:
            for test in concept.tests:
                negative = exp.EQ(this=_col("result", "e"), expression=_str("negative"))
                events("observations", self.rkeys("observations", test), "effective", negative)
        if not parts:
            return None
        query: exp.Query = parts[0]
        for part in parts[1:]:
            query = exp.union(query, part, distinct=False, copy=False)
        return query

    def _by_test(self, concept: Any, name: str) -> bool:
        """evaluate._current_by_tests as CTE <name>_bt(patient_id, b): 2 present, 0 absent, 1 unknown, no row = None."""
        as_of = _date(self.as_of)
        parts: list[exp.Select] = []
        for i, test in enumerate(concept.tests):
            keys = self.rkeys("observations", test)
            if not keys:
                continue
            o = "o"
            parts.append(
                exp.select(
                    _col("patient_id", o),
                    _col("effective", o),
                    _col("result", o),
                    _col("rn", o),
                    _as(exp.Literal.number(i), "ti"),
                    copy=False,
                )
                .from_(exp.to_table("observations").as_(o), copy=False)
                .where(
                    _and(
                        self._records("observations", o, keys),
                        _not_null(_col("result", o)),
                        _not_null(_col("effective", o)),
                        exp.LTE(this=_col("effective", o), expression=as_of),
                    ),
                    copy=False,
                )
            )
        if not parts:
            return False
        results: exp.Query = parts[0]
        for part in parts[1:]:
            results = exp.union(results, part, distinct=False, copy=False)
        t = "t"
        order = exp.Order(
            expressions=[
                exp.Ordered(this=_col("effective", t), desc=True),
                exp.Ordered(this=_col("ti", t)),
                exp.Ordered(this=_col("rn", t)),
            ]
        )
        newest = exp.select(
            _col("patient_id", t),
            _col("effective", t),
            _col("result", t),
            _as(exp.Window(this=exp.RowNumber(), partition_by=[_col("patient_id", t)], order=order), "k"),
            copy=False,
        ).from_(results.subquery(t, copy=False), copy=False)
        w = "w"
        age = _days_between(_col("effective", w), as_of)
        positive = exp.EQ(this=_col("result", w), expression=_str("positive"))
        old_positive: exp.Expression = positive.copy()
        if concept.max_duration_days is not None:
            old_positive = _and(old_positive, exp.LTE(this=age.copy(), expression=_num(concept.max_duration_days)))
        code = _case(
            [
                (
                    exp.LTE(this=age, expression=_num(concept.tests_current_days)),
                    _case([(positive, exp.Literal.number(2))], exp.Literal.number(0)),
                ),
                (old_positive, exp.Literal.number(1)),
            ],
            exp.cast(exp.null(), exp.DataType.build("INT"), copy=False),
        )
        self._add(
            f"{name}_bt",
            exp.select(_col("patient_id", w), _as(code, "b"), copy=False)
            .from_(newest.subquery(w, copy=False), copy=False)
            .where(exp.EQ(this=_col("k", w), expression=exp.Literal.number(1)), copy=False),
        )
        return True

    def _pivot_leaf(self, name: str, keys: list[int], record_truth: exp.Expression, closed: exp.Expression) -> _Leaf:
        """A leaf read from one column of the shared conditions pivot: the best record's truth (2 true, 1 unknown),
        else ``closed`` (what no deciding record means for the concept)."""
        self._conditions.append((name, keys, record_truth))
        a_all = _col(f"a_{name}", _CONDITIONS)
        truth = _case(
            [
                (exp.EQ(this=a_all, expression=exp.Literal.number(2)), exp.true()),
                (exp.EQ(this=a_all.copy(), expression=exp.Literal.number(1)), _null_bool()),
            ],
            closed,
        )
        return _Leaf(_CONDITIONS, closed, truth=truth)

    def _history_case(
        self, r: n.Condition, keys: Sequence[int], rkey: exp.Expression, onset: exp.Expression
    ) -> list[tuple[exp.Expression, exp.Expression]]:
        """evaluate._history_truth for the records whose code is a personal-history code."""
        desc = dict(self._descriptors["conditions"])
        hist = [k for k in keys if self.vocab.is_history_code(normalise_system(desc[k].system), desc[k].code)]
        # evaluate._remission_truth: a disorder in remission shows a history of it, and nothing about now
        remission = [
            k
            for k in keys
            if k not in hist and self.vocab.is_remission_code(normalise_system(desc[k].system), desc[k].code)
        ]
        cases: list[tuple[exp.Expression, exp.Expression]] = []
        if remission:
            plain_history = r.timing == "history" and r.within is None and r.duration is None
            cases.append((_in(rkey.copy(), remission), exp.true() if plain_history else _null_bool()))
        if not hist:
            return cases
        truth: exp.Expression
        if (r.timing == "current" or r.within is not None) and r.duration is None and self._lifelong(r.concept):
            truth = _null_bool()  # evaluate._condition_truth: a lifelong condition's history code leaves now open
        elif r.within is not None:
            first = _date(self._first_day(r.within))
            before = _and(_not_null(onset.copy()), exp.LT(this=onset.copy(), expression=first))
            truth = _case([(before, exp.false())], _null_bool())
        elif r.timing == "current" or r.duration is not None:
            truth = exp.false()
        else:
            truth = exp.true()
        return [*cases, (_in(rkey.copy(), hist), truth)]

    def _lifelong(self, concept_id: str) -> bool:
        concept = self.vocab.concepts.get(concept_id)
        return concept is not None and concept.lifelong

    def _condition(self, r: n.Condition, name: str, closed: exp.Expression) -> _Leaf:
        """evaluate._condition_verdict / _condition_truth / _condition_result."""
        concept = self.vocab.concepts.get(r.concept)
        keys = self.rkeys("conditions", r.concept, r.excluding)
        now = r.timing == "current" or r.within is not None or r.duration is not None
        tests = (
            concept is not None
            and concept.tests_current_days is not None
            and r.timing == "current"
            and r.within is None
            and r.duration is None
            and self._by_test(concept, name)
        )
        if not keys and not tests:
            return _Leaf(None, closed)
        as_of = _date(self.as_of)
        agg_name = f"{name}_rec"
        if keys:
            c = "c"
            events = self._end_events(concept) if concept is not None and now else None
            base_cols = [
                _col("patient_id", c),
                _col("rkey", c),
                _col("onset", c),
                _col("abatement", c),
                _col("status", c),
            ]
            recs = (
                exp.select(*base_cols, copy=False)
                .from_(exp.to_table("conditions").as_(c), copy=False)
                .where(self._records("conditions", c, keys), copy=False)
            )
            if events is not None:
                recs = (
                    recs.select(_as(exp.Min(this=_col("d", "ev")), "ended"), copy=False)
                    .join(
                        events.subquery("ev", copy=False),
                        on=_and(
                            exp.EQ(this=_col("patient_id", "ev"), expression=_col("patient_id", c)),
                            exp.GTE(this=_col("d", "ev"), expression=_col("onset", c)),
                        ),
                        join_type="LEFT",
                        copy=False,
                    )
                    .group_by(_col("rn", c), *[x.copy() for x in base_cols], copy=False)
                )
            else:
                recs = recs.select(
                    _as(exp.cast(exp.null(), exp.DataType.build("DATE"), copy=False), "ended"), copy=False
                )
            x = "x"
            onset, raw_ab, status, ended = _col("onset", x), _col("abatement", x), _col("status", x), _col("ended", x)

            def abatement() -> exp.Expression:
                later = _and(
                    _not_null(ended.copy()),
                    _or(_is_null(raw_ab.copy()), exp.LT(this=ended.copy(), expression=raw_ab.copy())),
                )
                return _case([(later, ended.copy())], raw_ab.copy())

            def is_active() -> exp.Expression:
                known = exp.In(this=status.copy(), expressions=[_str(s) for s in _ACTIVE])
                return _case([(exp.EQ(this=status.copy(), expression=_str("unknown")), _null_bool())], known)

            def implausible() -> exp.Expression:
                if concept is None or concept.max_duration_days is None:
                    return exp.false()
                return _and(
                    _is_null(raw_ab.copy()),
                    is_active(),
                    _or(
                        _is_null(onset.copy()),
                        exp.GT(
                            this=_days_between(onset.copy(), as_of.copy()), expression=_num(concept.max_duration_days)
                        ),
                    ),
                )

            def active_now() -> exp.Expression:
                return _case(
                    [
                        (_not_null(abatement()), exp.GT(this=abatement(), expression=as_of.copy())),
                        (implausible(), _null_bool()),
                    ],
                    is_active(),
                )

            acute = bool(concept and concept.acute)
            checks: list[exp.Expression] = []
            if r.within is not None:
                first = _date(self._first_day(r.within))
                if acute:
                    checks.append(
                        _case([(_is_null(onset.copy()), _null_bool())], exp.GTE(this=onset.copy(), expression=first))
                    )
                else:
                    checks.append(
                        _case(
                            [
                                (_not_null(abatement()), exp.GTE(this=abatement(), expression=first.copy())),
                                (exp.Coalesce(this=_p(active_now()), expressions=[exp.true()]), active_now()),
                                (
                                    _or(_is_null(onset.copy()), exp.LT(this=onset.copy(), expression=first.copy())),
                                    _null_bool(),
                                ),
                            ],
                            exp.true(),
                        )
                    )
            elif r.timing == "current":
                checks.append(active_now())
            if r.duration is not None:
                checks.append(active_now())
                days = _days_between(onset.copy(), as_of.copy())
                checks.append(
                    _case(
                        [(_is_null(onset.copy()), _null_bool())],
                        _cmp(days, r.duration.op, r.duration.duration.days, rounded=False),
                    )
                )
            record_truth = _case(
                [
                    (exp.GT(this=onset.copy(), expression=as_of.copy()), exp.false()),
                    *self._history_case(r, keys, _col("rkey", x), onset),
                ],
                _and(*checks),
            )
            if events is None and not tests:
                # Only the patient's own records decide: one column of the shared conditions pivot.
                return self._pivot_leaf(name, keys, record_truth, closed)
            agg = (
                exp.select(_col("patient_id", x), _as(_tri_max(record_truth), "a"), copy=False)
                .from_(recs.subquery(x, copy=False), copy=False)
                .group_by(_col("patient_id", x), copy=False)
            )
            self._add(agg_name, agg)
        a = _col("a", agg_name)
        if not tests:
            truth = _case(
                [
                    (exp.EQ(this=a, expression=exp.Literal.number(2)), exp.true()),
                    (exp.EQ(this=a.copy(), expression=exp.Literal.number(1)), _null_bool()),
                ],
                closed,
            )
            query = exp.select(_col("patient_id", agg_name), _as(truth, "t"), copy=False).from_(
                exp.to_table(agg_name), copy=False
            )
            self._add(name, self._join_absence(query, _col("patient_id", agg_name), closed))
            return _Leaf(name, closed)
        b = _col("b", f"{name}_bt")
        covered = self.covered(r)
        if covered is not None:  # the CTE is FROM pat: absence outside coverage is unknown here already
            closed = _case([(covered, closed)], _null_bool())
        a_or_0 = exp.Coalesce(this=a.copy() if keys else exp.Literal.number(0), expressions=[exp.Literal.number(0)])
        whens: list[tuple[exp.Expression, exp.Expression]] = []
        if keys:
            whens.append((exp.EQ(this=a.copy(), expression=exp.Literal.number(2)), exp.true()))
        whens += [
            (exp.EQ(this=b.copy(), expression=exp.Literal.number(2)), exp.true()),
            (
                _and(
                    exp.EQ(this=b.copy(), expression=exp.Literal.number(0)),
                    exp.EQ(this=a_or_0.copy(), expression=exp.Literal.number(0)),
                ),
                exp.false(),
            ),
            (
                _and(
                    exp.EQ(this=b.copy(), expression=exp.Literal.number(1)),
                    exp.NEQ(this=a_or_0.copy(), expression=exp.Literal.number(1)),
                ),
                _null_bool(),
            ),
        ]
        if keys:
            whens += [
                (_is_null(a.copy()), closed.copy()),
                (exp.EQ(this=a.copy(), expression=exp.Literal.number(1)), _null_bool()),
            ]
        query = exp.select(_col("patient_id", "pat"), _as(_case(whens, closed.copy()), "t"), copy=False).from_(
            exp.to_table("pat"), copy=False
        )
        on_b = exp.EQ(this=_col("patient_id", f"{name}_bt"), expression=_col("patient_id", "pat"))
        query = query.join(exp.to_table(f"{name}_bt"), on=on_b, join_type="LEFT", copy=False)
        if keys:
            on_a = exp.EQ(this=_col("patient_id", agg_name), expression=_col("patient_id", "pat"))
            query = query.join(exp.to_table(agg_name), on=on_a, join_type="LEFT", copy=False)
        self._add(name, self._join_absence(query, _col("patient_id", "pat"), closed))
        return _Leaf(name, closed, observed=True)
