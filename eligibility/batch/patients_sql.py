"""The per-patient CTE of a compiled trial (``pat``): age, sex and, when the registry states them,
observation-period coverage and death -- and the closed-world mask that coverage drives.

Why its own module: these are the facts about the patient every leaf may read, kept apart from the
leaf compiler (:mod:`.compile`); the rules are the evaluator's (``evaluate.completed_years``,
``evaluate.observed``, ``api.screen``'s deceased rule), written once here in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import cast

import sqlglot.expressions as exp

EXTRA_TABLES = ("observation_periods", "deaths")
"""Optional staged tables: ``observation_periods(patient_id, start_date, end_date)`` (a patient's
coverage; a registry with the table is closed world only inside it) and ``deaths(patient_id, death_date)``
(one row per patient)."""


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _lit(n: int) -> exp.Expression:
    return exp.Literal.number(n)


def _date(day: date) -> exp.Expression:
    return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"), copy=False)


def _as(e: exp.Expression, name: str) -> exp.Expression:
    return cast(exp.Expression, exp.alias_(e, name, copy=False))


def _when(cond: exp.Expression, then: exp.Expression, default: exp.Expression | None = None) -> exp.Expression:
    case = exp.Case().when(cond, then)
    return case.else_(default) if default is not None else case


def coverage_column(index: int) -> str:
    return f"cov_{index}"


def pat_cte(as_of: date, coverage: Mapping[date, int], extras: frozenset[str]) -> exp.Select:
    """patients + age in completed years and months at as_of (evaluate.completed_years/_months; unknown
    when the birth date is unknown or after as_of), ``cov_<i>`` (true when one observation period covers
    start_i..as_of) for each window start the trial needs, and ``death_date``."""
    b = _col("birth_date", "p")
    md = as_of.month * 100 + as_of.day
    born_later = exp.GT(
        this=exp.Add(
            this=exp.Mul(this=exp.Month(this=b.copy()), expression=_lit(100)), expression=exp.Day(this=b.copy())
        ),
        expression=_lit(md),
    )
    years = exp.Sub(
        this=exp.Sub(this=_lit(as_of.year), expression=exp.Year(this=b.copy())),
        expression=_when(born_later, _lit(1), _lit(0)),
    )
    months = exp.Sub(
        this=exp.Add(
            this=exp.Mul(
                this=exp.paren(exp.Sub(this=_lit(as_of.year), expression=exp.Year(this=b.copy()))),
                expression=_lit(12),
            ),
            expression=exp.Sub(this=_lit(as_of.month), expression=exp.Month(this=b.copy())),
        ),
        expression=_when(exp.GT(this=exp.Day(this=b.copy()), expression=_lit(as_of.day)), _lit(1), _lit(0)),
    )
    unknown = exp.Or(
        this=exp.Is(this=b.copy(), expression=exp.null()), expression=exp.GT(this=b.copy(), expression=_date(as_of))
    )
    cols: list[exp.Expression] = [
        _col("patient_id", "p"),
        _col("sex", "p"),
        _as(_when(unknown, exp.null(), years), "age_y"),
        _as(_when(unknown.copy(), exp.null(), months), "age_m"),
    ]
    query = exp.select(*cols, copy=False).from_(exp.to_table("patients").as_("p"), copy=False)
    if coverage and "observation_periods" in extras:
        o = "o"
        flags = []
        for start, i in sorted(coverage.items(), key=lambda kv: kv[1]):
            inside = exp.And(
                this=exp.LTE(this=_col("start_date", o), expression=_date(start)),
                expression=exp.GTE(this=_col("end_date", o), expression=_date(as_of)),
            )
            flags.append(_as(exp.Max(this=_when(inside, _lit(1), _lit(0))), coverage_column(i)))
        periods = (
            exp.select(_col("patient_id", o), *flags, copy=False)
            .from_(exp.to_table("observation_periods").as_(o), copy=False)
            .group_by(_col("patient_id", o), copy=False)
        )
        query = query.join(
            periods.subquery("op", copy=False),
            on=exp.EQ(this=_col("patient_id", "op"), expression=_col("patient_id", "p")),
            join_type="LEFT",
            copy=False,
        )
        for i in sorted(coverage.values()):
            covered = exp.EQ(
                this=exp.Coalesce(this=_col(coverage_column(i), "op"), expressions=[_lit(0)]), expression=_lit(1)
            )
            query = query.select(_as(covered, coverage_column(i)), copy=False)
    if "deaths" in extras:
        query = query.join(
            exp.to_table("deaths").as_("d"),
            on=exp.EQ(this=_col("patient_id", "d"), expression=_col("patient_id", "p")),
            join_type="LEFT",
            copy=False,
        ).select(_col("death_date", "d"), copy=False)
    return query


def observed_only(truth: exp.Expression, covered: exp.Expression, absence_is: bool = False) -> exp.Expression:
    """evaluate._closed's observation-period rule on a leaf's Kleene value: outside coverage, a value
    that rests on absence (false; for a stable dose, true = "no change recorded") becomes unknown."""
    keep = exp.Not(this=exp.paren(truth.copy())) if absence_is else truth.copy()
    kept = exp.false() if absence_is else exp.true()
    return exp.Case().when(covered, truth).when(keep, kept).else_(exp.cast(exp.null(), exp.DataType.build("BOOLEAN")))


def deceased(as_of: date, death: exp.Expression) -> exp.Expression:
    """api.screen: a patient who died on or before as_of is never eligible."""
    return exp.And(
        this=exp.Not(this=exp.Is(this=death.copy(), expression=exp.null())),
        expression=exp.LTE(this=death.copy(), expression=_date(as_of)),
    )
