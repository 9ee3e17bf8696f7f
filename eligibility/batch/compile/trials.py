"""Trials -> a shared plan: the criteria of each trial as columns over the shared leaf table, its projection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlglot.expressions as exp

from ... import nodes as n
from ...api import criterion_status
from ...concepts import Vocabulary, default_vocabulary
from ...evaluate import DEFAULT_LOOKBACK_DAYS
from ...logic import Tri
from ...trial import Trial
from ..patients_sql import deceased, pat_cte
from .compiler import _Compiler
from .plans import CompiledTrial, CriterionPlan, Profile, SharedPlan
from .sql import (
    _and,
    _as,
    _case,
    _col,
    _date,
    _not,
    _or,
    _str,
)


def _lab_concepts(r: n.Node) -> set[str]:
    """Concepts of the numeric lab leaves in a rule (for one units scan per trial)."""
    if isinstance(r, n.Lab):
        return {r.concept}
    found: set[str] = set()
    for value in r.__dict__.values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, n.Node):
                found |= _lab_concepts(item)
    return found


def status_column(criterion_id: str) -> str:
    return f"status_{criterion_id}"


def value_column(criterion_id: str) -> str:
    return f"value_{criterion_id}"


def _status(kind: str, truth: exp.Expression) -> exp.Expression:
    """api.criterion_status in SQL: inclusion pass = true; exclusion pass = false; NULL = unknown."""
    on_true, on_false = criterion_status(kind, Tri.TRUE), criterion_status(kind, Tri.FALSE)
    return _case([(truth, _str(on_true)), (_not(truth), _str(on_false))], _str("unknown"))


def compile_trial(
    trial: Trial,
    profile: Profile,
    as_of: date,
    open_world: bool = False,
    vocabulary: Vocabulary | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> CompiledTrial:
    """The trial as one query over the staged registry tables (see :mod:`.registry`)."""
    return compile_trials([trial], profile, as_of, open_world, vocabulary, lookback_days).trials[0]


def compile_trials(
    trials: Sequence[Trial],
    profile: Profile,
    as_of: date,
    open_world: bool = False,
    vocabulary: Vocabulary | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    table: str = "shared",
) -> SharedPlan:
    """Trials compiled together (see :class:`SharedPlan`); each trial can also be run alone (``.query``)."""
    comp = _Compiler(profile, as_of, vocabulary or default_vocabulary(), open_world, lookback_days)
    for trial in trials:
        for c in trial.criteria:
            comp.lab_concepts |= _lab_concepts(c.rule)
    bodies = [(trial, *_criteria(comp, trial)) for trial in trials]
    comp.finish()
    cols: list[exp.Expression] = [exp.Column(this=exp.Star(), table=exp.to_identifier("pat"))]
    for t, truth, v, value in comp.shared.values():
        cols.append(_as(truth, t))
        if v is not None and value is not None:
            cols.append(_as(value, v))
    shared = exp.select(*cols, copy=False).from_(exp.to_table("pat"), copy=False)
    for name in dict.fromkeys(leaf.cte for leaf in comp.leaves.values() if leaf.cte is not None):
        shared = shared.join(
            exp.to_table(name),
            on=exp.EQ(this=_col("patient_id", name), expression=_col("patient_id", "pat")),
            join_type="LEFT",
            copy=False,
        )
    shared = shared.with_("pat", as_=pat_cte(as_of, comp.coverage, comp.extras), copy=False)
    for name, q in comp.ctes:
        shared = shared.with_(name, as_=q, copy=False)
    compiled = []
    for trial, plans, crit_cols in bodies:
        projection = _projection(trial, comp, plans, crit_cols, table)
        notes = [f"{p.id}: {x}" for p in plans for x in p.not_compiled]
        notes += [f"{trial.id}: {u.describe()}" for u in trial.unscreened]
        compiled.append(CompiledTrial(trial.id, as_of, open_world, plans, projection, shared, table, notes))
    return SharedPlan(table, shared, compiled)


def _criteria(comp: _Compiler, trial: Trial) -> tuple[list[CriterionPlan], list[exp.Expression]]:
    """The trial's criteria as (plans, ``t<i>`` / ``v<i>`` columns over the shared table ``pat``)."""
    plans: list[CriterionPlan] = []
    crit_cols: list[exp.Expression] = [_col("patient_id", "pat")]
    if "deaths" in comp.extras:
        crit_cols.append(_col("death_date", "pat"))
    for i, c in enumerate(trial.criteria):
        before = len(comp.not_compiled)
        truth, value = comp.node(c.rule)
        crit_cols.append(_as(truth, f"t{i}"))
        if value is not None:
            crit_cols.append(_as(value, f"v{i}"))
        plans.append(
            CriterionPlan(
                id=c.id,
                kind=c.kind,
                text=c.text,
                status_column=status_column(c.id),
                value_column=value_column(c.id) if value is not None else None,
                not_compiled=tuple(comp.not_compiled[before:]),
            )
        )
    return plans, crit_cols


def _projection(
    trial: Trial, comp: _Compiler, plans: list[CriterionPlan], crit_cols: list[exp.Expression], table: str
) -> exp.Select:
    """One trial's result rows from the shared table: statuses, verdict, values."""
    as_of, open_world = comp.as_of, comp.open_world
    crit = exp.select(*crit_cols, copy=False).from_(exp.to_table(table).as_("pat"), copy=False)
    status_cols: list[exp.Expression] = [_col("patient_id", "cr")]
    if "deaths" in comp.extras:
        status_cols.append(_col("death_date", "cr"))
    for i, (c, plan) in enumerate(zip(trial.criteria, plans, strict=True)):
        status_cols.append(_as(_status(c.kind, _col(f"t{i}", "cr")), f"s{i}", quoted=False))
        if plan.value_column is not None:
            status_cols.append(_as(_col(f"v{i}", "cr"), f"v{i}"))
    st = exp.select(*status_cols, copy=False).from_(exp.to_table("crit").as_("cr"), copy=False)
    statuses = [_col(f"s{i}", "st") for i in range(len(plans))]
    any_fail = _or(*(exp.EQ(this=s, expression=_str("fail")) for s in statuses))
    all_pass = _and(*(exp.EQ(this=s, expression=_str("pass")) for s in statuses))
    if trial.unscreened or not statuses:
        # Source text no criterion screens (or no criteria at all): never "eligible", as in api.screen.
        all_pass = exp.false()
    whens = [(any_fail, _str("ineligible")), (all_pass, _str("eligible"))]
    if "deaths" in comp.extras:
        whens.insert(0, (deceased(as_of, _col("death_date", "st")), _str("ineligible")))
    verdict = _case(whens, _str("needs-review"))
    unscreened = "; ".join(f"{u.id}: {u.reason}" for u in trial.unscreened)
    out: list[exp.Expression] = [
        _col("patient_id", "st"),
        _as(_str(trial.id), "trial"),
        _as(_date(as_of), "as_of"),
        _as(exp.true() if open_world else exp.false(), "open_world"),
        _as(verdict, "verdict"),
        _as(_str(unscreened) if unscreened else exp.cast(exp.null(), "text"), "unscreened"),
    ]
    if "deaths" in comp.extras:
        died = _case([(deceased(as_of, _col("death_date", "st")), _col("death_date", "st"))])
        out.append(_as(exp.cast(died, exp.DataType.build("DATE"), copy=False), "died"))
    for i, plan in enumerate(plans):
        out.append(_as(_col(f"s{i}", "st"), plan.status_column, quoted=True))
        if plan.value_column is not None:
            out.append(_as(_col(f"v{i}", "st"), plan.value_column, quoted=True))
    query: exp.Select = exp.select(*out, copy=False).from_(exp.to_table("st"), copy=False)
    return query.with_("crit", as_=crit, copy=False).with_("st", as_=st, copy=False)
