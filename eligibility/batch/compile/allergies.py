"""Allergy leaves ("hypersensitivity to metformin"): evaluate_allergy.visit_allergy in SQL.

Each distinct condition descriptor is read in Python by the evaluator's own
:func:`eligibility.allergies.read_record` (substance and kind: yes / unknown / no), so both back ends sort
the same records the same way; only the record's status and dates (evaluate._condition_truth for a
``drug_allergy`` record of that timing) are SQL. The leaf is a column of the shared conditions pivot.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from ... import nodes as n
from ...allergies import CLOSED_BY, read_record
from ...logic import Tri
from .base import _ACTIVE, _Leaf
from .conditions import _ConditionLeaves
from .sql import _and, _case, _col, _date, _in, _not_null, _null_bool, _str


class _AllergyLeaves(_ConditionLeaves):
    def _allergy(self, r: n.Allergy, name: str) -> _Leaf:
        closed = self._absence(CLOSED_BY, "conditions")
        if "conditions" not in self._descriptors:
            self._descriptors["conditions"] = self.profile.descriptors("conditions")
        groups: dict[Tri, list[int]] = {Tri.TRUE: [], Tri.UNKNOWN: [], Tri.FALSE: []}
        for key, rec in self._descriptors["conditions"]:
            reading = read_record(self.vocab, rec, self.ctx.concepts_of(rec), r.concept, r.reaction)
            if reading is not None:
                groups[reading.truth].append(key)
        keys = sorted(k for ks in groups.values() for k in ks)
        if not keys:
            return _Leaf(None, closed)
        concept = self.vocab.concepts.get(CLOSED_BY)
        if concept is not None and (concept.ended_by or concept.tests or concept.max_duration_days is not None):
            raise NotImplementedError(f"{CLOSED_BY}: end events, tests or a longest duration are not compiled")
        x = "x"
        as_of = _date(self.as_of)
        onset, abatement, status = _col("onset", x), _col("abatement", x), _col("status", x)
        timing = n.Condition(concept=CLOSED_BY, timing=r.timing)
        if r.timing == "current":
            is_active = _case(
                [(exp.EQ(this=status.copy(), expression=_str("unknown")), _null_bool())],
                exp.In(this=status.copy(), expressions=[_str(s) for s in _ACTIVE]),
            )
            check = _case(
                [(_not_null(abatement.copy()), exp.GT(this=abatement.copy(), expression=as_of.copy()))], is_active
            )
        else:
            check = exp.true()
        when = _case(
            [
                (exp.GT(this=onset.copy(), expression=as_of.copy()), exp.false()),
                *self._history_case(timing, keys, _col("rkey", x), onset),
            ],
            check,
        )
        whens: list[tuple[exp.Expression, exp.Expression]] = []
        if groups[Tri.TRUE]:
            whens.append((_in(_col("rkey", x), groups[Tri.TRUE]), when))
        if groups[Tri.UNKNOWN]:
            whens.append((_in(_col("rkey", x), groups[Tri.UNKNOWN]), _and(when.copy(), _null_bool())))
        record_truth = _case(whens, exp.false()) if whens else exp.false()
        return self._pivot_leaf(name, keys, record_truth, closed)
