"""Medication, stable-dose and procedure leaves (flags over the meds / procs pivots, or their own CTE)."""

from __future__ import annotations

from datetime import timedelta

import sqlglot.expressions as exp

from ... import nodes as n
from ...evaluate import normalise_system
from .base import _CompilerBase, _Leaf
from .sql import (
    _and,
    _as,
    _case,
    _cmp,
    _col,
    _date,
    _days_between,
    _flag_max,
    _in,
    _is_null,
    _not_null,
    _null_bool,
    _or,
)


class _DrugLeaves(_CompilerBase):
    def _medication(self, r: n.Medication, name: str, closed: exp.Expression) -> _Leaf:
        keys = self.rkeys("medications", r.concept, r.excluding)
        if not keys:
            return _Leaf(None, closed)
        m = "m"
        as_of = _date(self.as_of)
        s = _col("start_date", m)
        e = exp.Least(this=exp.Coalesce(this=_col("end_date", m), expressions=[as_of]), expressions=[as_of])
        window_start = self._first_day(r.within) if r.within else None
        keep = [_not_null(s), exp.LTE(this=s, expression=as_of)]
        cs: exp.Expression = s
        if window_start is not None:
            keep.append(exp.GTE(this=e, expression=_date(window_start)))
            cs = exp.Greatest(this=s, expressions=[_date(window_start)])
        elif r.timing == "current" and r.consecutive_days is None:
            keep.append(exp.GTE(this=e, expression=as_of))
        clipped = _and(*keep)
        g = "g"
        undated = exp.EQ(this=_col("undated", g), expression=exp.Literal.number(1))
        if r.consecutive_days is None:
            truth = _case(
                [
                    (exp.EQ(this=_col("clipped", g), expression=exp.Literal.number(1)), exp.true()),
                    (undated, _null_bool()),
                ],
                closed,
            )
            return self._flags_leaf(
                name, "medications", m, keys, [("undated", _is_null(s)), ("clipped", clipped)], None, truth, closed
            )
        counts = self._grouped(
            name,
            "medications",
            m,
            keys,
            [
                _as(_flag_max(_is_null(s.copy())), "undated"),
                _as(_flag_max(clipped.copy()), "clipped"),
            ],
        )
        # Longest run of consecutive covered days (evaluate.longest_run): gaps and islands over the
        # clipped intervals sorted by (start, end); intervals ending before they start are skipped.
        iv = (
            exp.select(_col("patient_id", m), _as(cs, "cs"), _as(e, "ce"), copy=False)
            .from_(exp.to_table("medications").as_(m), copy=False)
            .where(_and(self._records("medications", m, keys), clipped), copy=False)
        )
        i = "i"
        order = exp.Order(expressions=[exp.Ordered(this=_col("cs", i)), exp.Ordered(this=_col("ce", i))])
        prev = exp.Window(
            this=exp.Max(this=_col("ce", i)),
            partition_by=[_col("patient_id", i)],
            order=order,
            spec=exp.WindowSpec(
                kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=exp.Literal.number(1), end_side="PRECEDING"
            ),
        )
        with_prev = (
            exp.select(_col("patient_id", i), _col("cs", i), _col("ce", i), _as(prev, "prev_end"), copy=False)
            .from_(iv.subquery(i, copy=False), copy=False)
            .where(exp.LTE(this=_col("cs", i), expression=_col("ce", i)), copy=False)
        )
        j = "j"
        new_island = _case(
            [
                (
                    _or(
                        _is_null(_col("prev_end", j)),
                        exp.GT(
                            this=_days_between(_col("prev_end", j), _col("cs", j)), expression=exp.Literal.number(1)
                        ),
                    ),
                    exp.Literal.number(1),
                )
            ],
            exp.Literal.number(0),
        )
        island = exp.Window(
            this=exp.Sum(this=new_island),
            partition_by=[_col("patient_id", j)],
            order=exp.Order(expressions=[exp.Ordered(this=_col("cs", j)), exp.Ordered(this=_col("ce", j))]),
            spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
        )
        islands = exp.select(_col("patient_id", j), _col("cs", j), _col("ce", j), _as(island, "isl"), copy=False).from_(
            with_prev.subquery(j, copy=False), copy=False
        )
        k = "k"
        lengths = (
            exp.select(
                _col("patient_id", k),
                _as(
                    exp.Add(
                        this=_days_between(exp.Min(this=_col("cs", k)), exp.Max(this=_col("ce", k))),
                        expression=exp.Literal.number(1),
                    ),
                    "len",
                ),
                copy=False,
            )
            .from_(islands.subquery(k, copy=False), copy=False)
            .group_by(_col("patient_id", k), _col("isl", k), copy=False)
        )
        q = "q"
        runs = (
            exp.select(_col("patient_id", q), _as(exp.Max(this=_col("len", q)), "run"), copy=False)
            .from_(lengths.subquery(q, copy=False), copy=False)
            .group_by(_col("patient_id", q), copy=False)
        )
        run = exp.Coalesce(this=_col("run", "r"), expressions=[exp.Literal.number(0)])
        ok = _cmp(run, r.consecutive_days.op, r.consecutive_days.duration.days, rounded=False)
        truth = _case([(ok, exp.true()), (undated, _null_bool())], closed)
        query = (
            exp.select(
                _col("patient_id", g), _as(truth, "t"), _as(exp.cast(run, "DOUBLE", copy=False), "v"), copy=False
            )
            .from_(counts.subquery(g, copy=False), copy=False)
            .join(
                runs.subquery("r", copy=False),
                on=exp.EQ(this=_col("patient_id", "r"), expression=_col("patient_id", g)),
                join_type="LEFT",
                copy=False,
            )
        )
        self._add(name, self._join_absence(query, _col("patient_id", g), closed))
        return _Leaf(name, closed)

    def _stable(self, r: n.StableDose, name: str) -> _Leaf:
        nothing = _null_bool() if self._open(r.concept) else exp.true()
        keys = self.rkeys("medications", r.concept)
        if not keys:
            return _Leaf(None, nothing)
        m = "m"
        as_of = _date(self.as_of)
        start = _date(self.as_of - timedelta(days=round(r.duration.days)))
        s, end = _col("start_date", m), _col("end_date", m)
        change = _and(
            _not_null(s),
            _or(
                _and(exp.GT(this=s, expression=start), exp.LTE(this=s, expression=as_of)),
                _and(_not_null(end), exp.GT(this=end, expression=start), exp.LT(this=end, expression=as_of)),
            ),
        )
        g = "g"
        truth = _case(
            [
                (exp.EQ(this=_col("changed", g), expression=exp.Literal.number(1)), exp.false()),
                (exp.EQ(this=_col("undated", g), expression=exp.Literal.number(1)), _null_bool()),
            ],
            nothing,
        )
        return self._flags_leaf(
            name, "medications", m, keys, [("changed", change), ("undated", _is_null(s))], None, truth, nothing
        )

    def _procedure(self, r: n.Procedure, name: str, closed: exp.Expression) -> _Leaf:
        keys = self.rkeys("procedures", r.concept, r.excluding)
        if not keys:
            return _Leaf(None, closed)
        pr = "pr"
        performed = _col("performed", pr)
        as_of = _date(self.as_of)
        in_past = _or(_is_null(performed), exp.LTE(this=performed, expression=as_of))
        flags: list[tuple[str, exp.Expression]] = [("undated", _is_null(performed))]
        g = "g"
        cases: list[tuple[exp.Expression, exp.Expression]] = []
        if r.within is not None:
            start = _date(self._first_day(r.within))
            # evaluate._procedure_verdict: a status code (Z94.0) dated in the window is not the procedure's date
            desc = dict(self._descriptors["procedures"])
            status = [k for k in keys if self.vocab.is_status_code(normalise_system(desc[k].system), desc[k].code)]
            done = [k for k in keys if k not in status]
            in_window = exp.GTE(this=performed, expression=start)
            if done:
                flags.append(("hit", _and(_in(_col("rkey", pr), done), in_window.copy()) if status else in_window))
                cases.append((exp.EQ(this=_col("hit", g), expression=exp.Literal.number(1)), exp.true()))
            if status:
                flags.append(("status", _and(_in(_col("rkey", pr), status), in_window.copy())))
                cases.append((exp.EQ(this=_col("status", g), expression=exp.Literal.number(1)), _null_bool()))
        if r.within is None:
            truth: exp.Expression = exp.true()
        else:
            truth = _case(
                [
                    *cases,
                    (exp.EQ(this=_col("undated", g), expression=exp.Literal.number(1)), _null_bool()),
                ],
                closed,
            )
        return self._flags_leaf(name, "procedures", pr, keys, flags, in_past, truth, closed)
