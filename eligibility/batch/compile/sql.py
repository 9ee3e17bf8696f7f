"""Small sqlglot expression helpers of the batch compiler (typed, never SQL text)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import ClassVar, cast

import sqlglot.expressions as exp
from sqlglot.dialects.spark import Spark

from ...logic import Tri
from ...units import Conversion


def _as(e: exp.Expression, name: str, quoted: bool = False) -> exp.Expression:
    """``e AS name`` (sqlglot types ``alias_`` loosely; this keeps the plan's types exact)."""
    return cast(exp.Expression, exp.alias_(e, name, quoted=quoted, copy=False))


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _num(value: float) -> exp.Expression:
    """A numeric constant; non-integers are parsed from their shortest repr, so they are the same double."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return exp.Literal.number(int(value))
    return exp.cast(exp.Literal.string(repr(float(value))), exp.DataType.build("DOUBLE"), copy=False)


def _str(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _date(day: date) -> exp.Expression:
    return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"), copy=False)


def _null_bool() -> exp.Expression:
    return exp.cast(exp.null(), exp.DataType.build("BOOLEAN"), copy=False)


def _applied(value: exp.Expression, how: Conversion) -> exp.Expression:
    """``Conversion.apply`` in SQL, operation for operation: value * scale [+ offset] [rounded half-up]."""
    out: exp.Expression = exp.Mul(this=value, expression=_num(how.scale))
    if how.offset != 0.0:
        out = exp.Add(this=out, expression=_num(how.offset))
    if how.decimals is not None:
        power = exp.Literal.number(10**how.decimals)
        shifted = exp.Add(this=exp.Mul(this=_p(out), expression=power), expression=exp.Literal.number(0.5))
        out = exp.Div(this=exp.Floor(this=shifted), expression=power.copy())
    return out


def _null_double() -> exp.Expression:
    return exp.cast(exp.null(), exp.DataType.build("DOUBLE"), copy=False)


def _tri(value: Tri) -> exp.Expression:
    if value is Tri.UNKNOWN:
        return _null_bool()
    return exp.true() if value is Tri.TRUE else exp.false()


def _p(e: exp.Expression) -> exp.Expression:
    return e if isinstance(e, exp.Column | exp.Literal | exp.Boolean | exp.Paren | exp.Cast) else exp.paren(e)


def _and(*items: exp.Expression) -> exp.Expression:
    if not items:
        return exp.true()
    out = _p(items[0])
    for item in items[1:]:
        out = exp.And(this=out, expression=_p(item))
    return out


def _or(*items: exp.Expression) -> exp.Expression:
    if not items:
        return exp.false()
    out = _p(items[0])
    for item in items[1:]:
        out = exp.Or(this=out, expression=_p(item))
    return out


def _not(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=_p(e))


def _is_null(e: exp.Expression) -> exp.Expression:
    return exp.Is(this=e, expression=exp.null())


def _not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=e, expression=exp.null()))


def _case(
    whens: Sequence[tuple[exp.Expression, exp.Expression]], default: exp.Expression | None = None
) -> exp.Expression:
    case = exp.Case()
    for cond, value in whens:
        case = case.when(cond, value)
    if default is not None:
        case = case.else_(default)
    return case


def _in(e: exp.Expression, values: Sequence[int]) -> exp.Expression:
    return exp.In(this=e, expressions=[exp.Literal.number(int(v)) for v in values])


def _days_between(start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """end - start in days."""
    return exp.DateDiff(this=end, expression=start, unit=exp.var("DAY"))


def _cmp(value: exp.Expression, op: str, t: float, t2: float | None = None, rounded: bool = True) -> exp.Expression:
    """evaluate._compare: both sides rounded to 9 decimals first (conversion noise), bounds inclusive."""
    v: exp.Expression = exp.Round(this=value, decimals=exp.Literal.number(9)) if rounded else value
    lo = _num(round(t, 9))
    if op == "<":
        return exp.LT(this=v, expression=lo)
    if op == "<=":
        return exp.LTE(this=v, expression=lo)
    if op == ">":
        return exp.GT(this=v, expression=lo)
    if op == ">=":
        return exp.GTE(this=v, expression=lo)
    if op == "=":
        return exp.EQ(this=v, expression=lo)
    if op == "between":
        hi = _num(round(t2 if t2 is not None else t, 9))
        return _and(exp.LTE(this=lo, expression=v), exp.LTE(this=v, expression=hi))
    raise ValueError(op)


def _tri_max(truth: exp.Expression) -> exp.Expression:
    """Kleene OR as an aggregate: MAX over 2 (true), 1 (unknown), 0 (false)."""
    return exp.Max(
        this=_case([(truth, exp.Literal.number(2)), (_is_null(truth), exp.Literal.number(1))], exp.Literal.number(0))
    )


def _flag_max(cond: exp.Expression) -> exp.Expression:
    """1 when some row satisfies cond (a NULL cond counts as not satisfied), else 0."""
    return exp.Max(this=_case([(cond, exp.Literal.number(1))], exp.Literal.number(0)))


class ArgMaxNull(exp.Expression, exp.AggFunc):
    """``arg_max_null(value, key)``: the value at the row of the greatest key, rows with a NULL key skipped
    and a NULL value kept (DuckDB's ``arg_max`` would skip a row whose value is NULL). Spark's ``max_by``
    reads the same way (it skips only NULL keys)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}
    _sql_names: ClassVar[list[str]] = ["ARG_MAX_NULL"]


Spark.Generator.TRANSFORMS[ArgMaxNull] = lambda self, e: self.func("MAX_BY", e.this, e.expression)
