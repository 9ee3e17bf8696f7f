"""The compiler: a rule node -> (truth, value) expressions, each distinct leaf built once."""

from __future__ import annotations

import sqlglot.expressions as exp

from ... import nodes as n
from ..patients_sql import observed_only
from .allergies import _AllergyLeaves
from .base import _Leaf
from .drugs import _DrugLeaves
from .labs import _LabLeaves
from .sql import (
    _and,
    _case,
    _cmp,
    _col,
    _is_null,
    _not,
    _not_null,
    _null_bool,
    _or,
    _p,
    _str,
)


class _Compiler(_LabLeaves, _AllergyLeaves, _DrugLeaves):
    def shared_leaf(self, r: n.Node) -> tuple[exp.Expression, exp.Expression | None]:
        """The leaf as columns of the shared table (``pat.lt<i>``, ``pat.lv<i>``), computed once for all trials."""
        key = n.strip_spans(r).model_dump_json()
        found = self.shared.get(key)
        if found is None:
            truth, value = self.leaf(r)
            i = len(self.shared)
            found = self.shared[key] = (f"lt{i}", truth, f"lv{i}" if value is not None else None, value)
        t, _, v, _ = found
        return _col(t, "pat"), (_col(v, "pat") if v is not None else None)

    # -- leaves ---------------------------------------------------------------------------------

    def leaf(self, r: n.Node) -> tuple[exp.Expression, exp.Expression | None]:
        key = n.strip_spans(r).model_dump_json()
        found = self.leaves.get(key)
        if found is None:
            found = self.leaves[key] = self._build_leaf(r, f"l{len(self.leaves)}")
        truth: exp.Expression
        value: exp.Expression | None = None
        if found.cte is None:
            truth = found.default
        elif found.truth is not None:
            truth, value = found.truth, found.value
        else:
            t = _col("t", found.cte)
            if isinstance(found.default, exp.Cast) and isinstance(found.default.this, exp.Null):
                truth = t
            else:
                truth = _case([(_is_null(_col("patient_id", found.cte)), found.default)], t)
            if found.has_value:
                value = _col("v", found.cte)
        leaf_types = n.Condition | n.Medication | n.Procedure | n.StableDose | n.Allergy
        covered = self.covered(r) if isinstance(r, leaf_types) else None
        if covered is not None and not found.observed:
            truth = observed_only(truth, covered, absence_is=isinstance(r, n.StableDose))
        if isinstance(r, n.Condition):
            truth = self._sex_guard(r, truth)
        return truth, value

    def _build_leaf(self, r: n.Node, name: str) -> _Leaf:
        if isinstance(r, n.Lab | n.LabResult):
            return self._lab(r, name)
        if isinstance(r, n.Allergy):
            return self._allergy(r, name)
        if isinstance(r, n.Condition):
            return self._condition(r, name, self._absence(r.concept, "conditions"))
        if isinstance(r, n.Medication):
            return self._medication(r, name, self._absence(r.concept, "medications"))
        if isinstance(r, n.StableDose):
            return self._stable(r, name)
        if isinstance(r, n.Procedure):
            return self._procedure(r, name, self._absence(r.concept, "procedures"))
        raise TypeError(type(r).__name__)

    # -- the tree -------------------------------------------------------------------------------

    def node(self, r: n.Node) -> tuple[exp.Expression, exp.Expression | None]:
        """(truth, value of the first numeric leaf) of a rule node."""
        if isinstance(r, n.Age):
            v = _col("age_y" if r.unit == "years" else "age_m", "pat")
            return _cmp(v, r.op, r.value, r.value2, rounded=False), exp.cast(v, "DOUBLE", copy=False)
        if isinstance(r, n.Sex):
            sex = _col("sex", "pat")
            known = _and(_not_null(sex), exp.Not(this=exp.In(this=sex, expressions=[_str("unknown"), _str("other")])))
            member = exp.In(this=sex, expressions=[_str(s) for s in r.sexes]) if r.sexes else exp.false()
            return _case([(known, member)], _null_bool()), None
        if isinstance(r, n.Lab | n.LabResult | n.Condition | n.Medication | n.StableDose | n.Procedure | n.Allergy):
            return self.shared_leaf(r)
        if isinstance(r, n.And | n.Or):
            parts = [self.node(i) for i in r.items]
            truth = (_and if isinstance(r, n.And) else _or)(*(t for t, _ in parts))
            return truth, next((v for _, v in parts if v is not None), None)
        if isinstance(r, n.Not):
            inner, inner_value = self.node(r.item)
            return _not(inner), inner_value
        if isinstance(r, n.Implies):
            (ct, cv), (tt, tv) = self.node(r.condition), self.node(r.then)
            return _or(_not(ct), tt), cv if cv is not None else tv
        if isinstance(r, n.Ambiguous):
            parts = [self.node(i) for i in r.readings]
            value = next((v for _, v in parts if v is not None), None)
            if not parts:
                return _null_bool(), value
            if len(parts) == 1:
                return parts[0][0], value
            all_true = _and(*(exp.Coalesce(this=_p(t), expressions=[exp.false()]) for t, _ in parts))
            all_false = _and(*(exp.Coalesce(this=_not(t), expressions=[exp.false()]) for t, _ in parts))
            return _case([(all_true, exp.true()), (all_false, exp.false())], _null_bool()), value
        if isinstance(r, n.Unparsed | n.Measurement):  # unknown in the evaluator too: no data can decide them
            return _null_bool(), None
        self.not_compiled.append(f"{type(r).__name__}: no SQL form; compiled as unknown (NULL)")
        return _null_bool(), None
