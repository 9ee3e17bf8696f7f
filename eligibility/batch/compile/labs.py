"""Lab leaves: the most recent value per (concept, window) by arg_max, converted to the rule's unit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import sqlglot.expressions as exp

from ... import nodes as n
from .base import _CompilerBase, _Leaf
from .sql import (
    _and,
    _as,
    _case,
    _cmp,
    _col,
    _date,
    _days_between,
    _is_null,
    _not_null,
    _null_bool,
    _null_double,
    _str,
)


class _LabLeaves(_CompilerBase):
    def _lab_pick(self, keys: Sequence[int], start: date, needed: str, cols: tuple[str, ...]) -> str:
        """CTE of each patient's most recent observation with these keys, a non-NULL ``needed`` column
        and ``effective`` in start..as_of (the newest date; on a tie the first row of the file).

        A GROUP BY with ``arg_max`` (Spark: ``max_by``) over the key ``effective`` in days * 2^40 - rn,
        which orders exactly as (effective DESC, rn ASC) -- rn is the row's unique 0-based position --
        instead of a window sort; the picked row travels as one struct, so all its columns come from
        the same row (only the columns ``cols`` the criterion reads: a narrower struct is cheaper to
        carry). One CTE per (keys, window, needed, cols), shared by every criterion that reads it.
        """
        found = self._picks.get((tuple(keys), start, needed, cols))
        if found is not None:
            return found
        name = f"lab{len(self._picks)}"
        self._picks[(tuple(keys), start, needed, cols)] = name
        o = "o"
        row = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(c), expression=_col(c, o)) for c in cols])
        order = exp.Sub(
            this=exp.Mul(
                this=_days_between(_date(date(1970, 1, 1)), _col("effective", o)),
                expression=exp.Literal.number(1 << 40),
            ),
            expression=_col("rn", o),
        )
        grouped = (
            exp.select(_col("patient_id", o), _as(exp.ArgMax(this=row, expression=order), "r"), copy=False)
            .from_(exp.to_table("observations").as_(o), copy=False)
            .where(
                _and(
                    self._records("observations", o, keys),
                    _not_null(_col(needed, o)),
                    exp.GTE(this=_col("effective", o), expression=_date(start)),
                    exp.LTE(this=_col("effective", o), expression=_date(self.as_of)),
                ),
                copy=False,
            )
            .group_by(_col("patient_id", o), copy=False)
        )
        g = "g"
        fields = [_as(exp.Dot(this=_col("r", g), expression=exp.to_identifier(c)), c) for c in cols]
        self._add(
            name,
            exp.select(_col("patient_id", g), *fields, copy=False).from_(grouped.subquery(g, copy=False), copy=False),
        )
        return name

    def _lab(self, r: n.Lab | n.LabResult, name: str) -> _Leaf:
        keys = self.rkeys("observations", r.concept)
        if not keys:
            return _Leaf(None, _null_bool())
        lookback = r.lookback_days if r.lookback_days is not None else self.lookback
        start = self.as_of - timedelta(days=lookback)
        # The leaf reads the pick CTE directly in the criteria query, where the patient's sex and age
        # (for the reference ranges of ULN / LLN multiples) are already at hand: no join to the
        # patients per lab. No row is NULL here as it is for a lab without a value in the window.
        if isinstance(r, n.LabResult):
            p = self._lab_pick(keys, start, "result", ("result",))
            return _Leaf(p, _null_bool(), truth=exp.EQ(this=_col("result", p), expression=_str(r.result)))
        if r.relative is None:
            p = self._lab_pick(keys, start, "value", ("value", "unit"))
        else:
            p = self._lab_pick(
                keys, start, "value", ("value", "unit", "ref_high" if r.relative == "ULN" else "ref_low")
            )
        units = self.units(keys)
        concept = self.vocab.concepts.get(r.concept)
        value = _col("value", p)
        unit = _col("unit", p)
        if r.relative is None:
            target = r.unit or (concept.unit if concept else None)
            molar = concept.molar_mass if concept else None
            if target is None:
                conv: exp.Expression = _case([(_is_null(unit), value)], _null_double())
            else:
                affine = concept.affine if concept else ()
                conv = self.convert_case(value, unit, units, target, molar, affine, None)
        else:
            conv = self._relative(r, p, value, unit, units, concept)
        return _Leaf(p, _null_bool(), has_value=True, truth=_cmp(conv, r.op, r.value, r.value2), value=conv)
