"""Rule AST -> one SQL query per trial, with exactly the Python evaluator's semantics.

Why a compiler and not a second evaluator: the SQL is built from the same AST, leaf by leaf, and
the parts where the evaluator consults Python data -- which codes stand for which concept, unit
conversion factors, default reference ranges -- are *computed by the evaluator's own functions*
for the few distinct values present in the registry and written into the query as constants
(``rkey IN (...)``, ``CASE unit WHEN ...``). So concept resolution and Pint stay in one place and
an improvement there reaches batch screening without touching this file.

Three-valued logic is SQL NULL: ``AND``/``OR``/``NOT`` are already Kleene in SQL, unknown is NULL,
``Implies`` is ``NOT a OR b``, ``Ambiguous`` is true when every reading is true, false when every
reading is false, else NULL; ``Unparsed`` is NULL. Every leaf reads a CTE with one row per patient
that has matching records; a patient without a row gets the leaf's "no record" truth (closed world
false, open world NULL, labs NULL, stable dose true). For speed, leaves share CTEs where that is
exact: one pivot per record table (``conds``, ``meds``, ``procs``: one scan and one GROUP BY
patient_id, each leaf's aggregates over its own rows only), and one ``arg_max`` pick per lab
(concept, window) instead of a window sort; the leaves needing more (end events, tests, runs of
consecutive days) keep their own CTE (``patient_id, t, v``). Each CTE is joined once.

The query is built with sqlglot expressions (never by pasting SQL text), so that it can be
generated for DuckDB and transpiled to Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Protocol, cast

import sqlglot.expressions as exp

from .. import nodes as n
from ..api import criterion_status
from ..concepts import Vocabulary, default_vocabulary
from ..errors import UnitError
from ..evaluate import DEFAULT_LOOKBACK_DAYS, Context, normalise_system, window_start
from ..logic import Tri
from ..patient import Patient
from ..trial import Trial
from ..units import Affine, Conversion, conversion
from .patients_sql import coverage_column, deceased, observed_only, pat_cte
from .registry import raw_code_filter

Dialect = Literal["duckdb", "spark"]


class Profile(Protocol):
    """What the compiler needs to know about the data: the few distinct values it turns into constants."""

    def descriptors(self, table: str) -> list[tuple[int, Any]]: ...

    def sex_ages(self, as_of: date) -> list[tuple[str | None, int | None]]: ...

    def units(self, rkeys: Sequence[int]) -> list[str | None]: ...


@dataclass(frozen=True)
class CriterionPlan:
    """One criterion's columns in the result: ``status_<id>`` and, for numeric criteria, ``value_<id>``."""

    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    status_column: str
    value_column: str | None
    not_compiled: tuple[str, ...] = ()


@dataclass
class CompiledTrial:
    """The plan for one trial: a query giving one row per patient (patient_id, trial, verdict, statuses, values)."""

    trial_id: str
    as_of: date
    open_world: bool
    criteria: list[CriterionPlan]
    # The trial's rows from the shared table (``SharedPlan.table``): what a many-trial run reads.
    projection: exp.Query
    # The shared query and its table name: with the projection, the standalone query.
    shared: exp.Query
    table: str
    notes: list[str] = field(default_factory=list)

    @property
    def query(self) -> exp.Query:
        """The trial alone: the shared query as a CTE named like its table, then the projection."""
        standalone = self.projection.copy()
        with_ = standalone.args["with_"]
        cte = exp.CTE(this=self.shared.copy(), alias=exp.TableAlias(this=exp.to_identifier(self.table)))
        with_.set("expressions", [cte, *with_.expressions])
        return standalone

    def sql(self, dialect: Dialect = "duckdb", pretty: bool = False) -> str:
        return self.query.sql(dialect=dialect, pretty=pretty)


@dataclass
class SharedPlan:
    """Several trials compiled together: one query computes, once per patient, every distinct leaf of
    every trial (``lt<i>`` truth, ``lv<i>`` value) beside the patient columns; each trial's result is
    then a projection of that table (``CompiledTrial.projection``). Why: a registry screened against a
    library reads its records once, and a leaf two trials share (a platelet count in 30 days, "no
    pregnancy") is computed once, not once per trial."""

    table: str
    query: exp.Query
    trials: list[CompiledTrial]

    def sql(self, dialect: Dialect = "duckdb", pretty: bool = False) -> str:
        return self.query.sql(dialect=dialect, pretty=pretty)


# ---- small expression helpers ------------------------------------------------------------------


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


_ACTIVE = ("active", "recurrence", "relapse")
_PIVOTS = {"medications": "meds", "procedures": "procs"}  # CTEs of the flag leaves (_Compiler.finish)
_CONDITIONS = "conds"  # the CTE of the condition leaves decided by their own records (_Compiler.finish)


@dataclass
class _Leaf:
    cte: str | None
    default: exp.Expression
    has_value: bool = False
    # Set when the leaf is an expression over its CTE's columns (NULL when the patient has no row),
    # not the CTE's own ``t`` / ``v``.
    truth: exp.Expression | None = None
    value: exp.Expression | None = None
    # The observation-period rule is already applied inside the leaf's CTE (condition leaves read with tests).
    observed: bool = False


class _Compiler:
    def __init__(
        self,
        profile: Profile,
        as_of: date,
        vocab: Vocabulary,
        open_world: bool,
        lookback_days: int,
    ):
        self.profile = profile
        self.as_of = as_of
        self.vocab = vocab
        self.open_world = open_world
        self.lookback = lookback_days
        # Only ctx.matching / concepts_of are used (record -> concept); the patient is irrelevant.
        self.ctx = Context(Patient(id="batch-compiler"), as_of, vocab, open_world, lookback_days)
        self.ctes: list[tuple[str, exp.Query]] = []
        self.leaves: dict[str, _Leaf] = {}
        self._descriptors: dict[str, list[tuple[int, Any]]] = {}
        self._sex_ages: list[tuple[str | None, int | None]] | None = None
        self._units: list[str | None] | None = None
        self.lab_concepts: set[str] = set()
        self._flags: dict[
            str, tuple[str, list[tuple[str, list[int], exp.Expression | None, list[tuple[str, exp.Expression]]]]]
        ] = {}
        self._conditions: list[tuple[str, list[int], exp.Expression]] = []
        self._picks: dict[tuple[tuple[int, ...], date, str, tuple[str, ...]], str] = {}
        self.not_compiled: list[str] = []
        # Registries stating observation periods (OMOP): window start -> index of its pat.cov_<i> column.
        self.extras: frozenset[str] = frozenset(getattr(profile, "extras", frozenset()))
        self.coverage: dict[date, int] = {}
        # leaf -> (truth column, its expression, value column or None, its expression) of the shared table.
        self.shared: dict[str, tuple[str, exp.Expression, str | None, exp.Expression | None]] = {}

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

    def covered(self, r: n.Node) -> exp.Expression | None:
        """pat.cov_<i> for the criterion's window (evaluate.window_start), or None without observation periods."""
        if "observation_periods" not in self.extras:
            return None
        start = window_start(r, self.as_of)
        index = self.coverage.setdefault(start, len(self.coverage))
        return _col(coverage_column(index), "pat")

    # -- data-derived constants -----------------------------------------------------------------

    def rkeys(self, table: str, concept: str, excluding: tuple[str, ...] = ()) -> list[int]:
        """Descriptor keys of the records the evaluator's ``Context.matching`` accepts for this concept."""
        if table not in self._descriptors:
            self._descriptors[table] = self.profile.descriptors(table)
        desc = self._descriptors[table]
        chosen = {id(rec) for rec in self.ctx.matching([rec for _, rec in desc], concept, excluding)}
        return [k for k, rec in desc if id(rec) in chosen]

    def sex_ages(self) -> list[tuple[str | None, int | None]]:
        if self._sex_ages is None:
            self._sex_ages = self.profile.sex_ages(self.as_of)
        return self._sex_ages

    def units(self, keys: Sequence[int]) -> list[str | None]:
        """Distinct units of every lab of the trial, read in one scan (not one per lab).

        A superset of the units of ``keys``: a unit no row of these keys has adds a CASE branch
        that never matches, so the results are those of the exact list.
        """
        if self._units is None:
            every = set(keys)
            for concept in sorted(self.lab_concepts):
                every.update(self.rkeys("observations", concept))
            self._units = self.profile.units(sorted(every))
        return self._units

    def convert_case(
        self,
        value: exp.Expression,
        unit: exp.Expression,
        units: Sequence[str | None],
        target: str,
        molar: float | None,
        affine: tuple[Affine, ...],
        null_unit: exp.Expression | None,
    ) -> exp.Expression:
        """CASE unit WHEN ... THEN <value converted to target>; unconvertible units (and NULL) -> NULL.

        Each unit's conversion comes from ``units.conversion`` (the evaluator's function) and is
        written as the same operations ``Conversion.apply`` performs: a factor, or for an affine
        line (HbA1c IFCC -> NGSP, °F -> °C) ``value * scale + offset`` rounded half-up.
        """
        whens: list[tuple[exp.Expression, exp.Expression]] = []
        if null_unit is not None:
            whens.append((_is_null(unit), null_unit))
        for u in sorted(x for x in units if x is not None):
            try:
                how = conversion(u, target, molar, affine)
            except UnitError:
                continue
            whens.append((exp.EQ(this=unit, expression=_str(u)), _applied(value.copy(), how)))
        if not whens:
            return _null_double()
        return _case(whens, _null_double())

    def _records(self, table: str, alias: str, keys: Sequence[int]) -> exp.Expression:
        """The WHERE of a scan for the records with these descriptor keys.

        For a table read in place (a view that hashes each row's descriptor) the profile gives the
        rows' raw codes: ``raw_code IN (...)`` comes first so the Parquet reader drops the other rows
        before the hash (see Registry.prefilter; a superset, so the result is the same).
        """
        member = _in(_col("rkey", alias), keys)
        prefilter = getattr(self.profile, "prefilter", None)
        raw = prefilter(table, keys) if prefilter is not None and keys else None
        if raw is None:
            return member
        return _and(raw_code_filter(raw, _col("raw_code", alias)), member)

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
        covered = self.covered(r) if isinstance(r, n.Condition | n.Medication | n.Procedure | n.StableDose) else None
        if covered is not None and not found.observed:
            truth = observed_only(truth, covered, absence_is=isinstance(r, n.StableDose))
        if isinstance(r, n.Condition):
            truth = self._sex_guard(r, truth)
        return truth, value

    def _open(self, concept: str) -> bool:
        """evaluate._closed: absence is unknown in the open world and for a concept whose code set is
        not reviewed as complete (``Vocabulary.complete``)."""
        return self.open_world or not self.vocab.complete(concept)

    def _build_leaf(self, r: n.Node, name: str) -> _Leaf:
        if isinstance(r, n.Lab | n.LabResult):
            return self._lab(r, name)
        concept = r.concept if isinstance(r, n.Condition | n.Medication | n.Procedure | n.StableDose) else ""
        closed = _null_bool() if self._open(concept) else exp.false()
        if isinstance(r, n.Condition):
            return self._condition(r, name, closed)
        if isinstance(r, n.Medication):
            return self._medication(r, name, closed)
        if isinstance(r, n.StableDose):
            return self._stable(r, name)
        if isinstance(r, n.Procedure):
            return self._procedure(r, name, closed)
        raise TypeError(type(r).__name__)

    def _add(self, name: str, query: exp.Query) -> None:
        self.ctes.append((name, query))

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

    def finish(self) -> None:
        """CTEs shared by several leaves, known once every criterion is compiled."""
        for table, (alias, entries) in self._flags.items():
            # One scan and one GROUP BY patient_id per record table for all its flag leaves: each
            # flag only over the leaf's own rows (CASE WHEN <leaf's rows> ...; NULL without any).
            one, zero = exp.Literal.number(1), exp.Literal.number(0)
            every = sorted({k for _, keys, _, _ in entries for k in keys})
            cols: list[exp.Expression] = [_col("patient_id", alias)]
            for name, keys, where, flags in entries:
                mine = _in(_col("rkey", alias), keys)
                if where is not None:
                    mine = _and(mine, where)
                cols.append(_as(exp.Max(this=_case([(mine, one.copy())])), f"n_{name}"))
                for flag, cond in flags:
                    value = _case([(cond, one.copy())], zero.copy())
                    cols.append(_as(exp.Max(this=_case([(mine.copy(), value)])), f"{flag}_{name}"))
            self._add(
                _PIVOTS[table],
                exp.select(*cols, copy=False)
                .from_(exp.to_table(table).as_(alias), copy=False)
                .where(self._records(table, alias, every), copy=False)
                .group_by(_col("patient_id", alias), copy=False),
            )
        if not self._conditions:
            return
        # Condition leaves decided by their own records alone (no end events, no tests): one scan and
        # one GROUP BY patient_id for all of them, each leaf's evaluate._condition_result as a Kleene
        # MAX over its records only (NULL when the patient has none of them, i.e. its default).
        c, x = "c", "x"
        every = sorted({k for _, keys, _ in self._conditions for k in keys})
        recs = (
            exp.select(
                _col("patient_id", c),
                _col("rkey", c),
                _col("onset", c),
                _col("abatement", c),
                _col("status", c),
                _as(exp.cast(exp.null(), exp.DataType.build("DATE"), copy=False), "ended"),
                copy=False,
            )
            .from_(exp.to_table("conditions").as_(c), copy=False)
            .where(self._records("conditions", c, every), copy=False)
        )
        ccols: list[exp.Expression] = [_col("patient_id", x)]
        for name, keys, truth in self._conditions:
            code = _case(
                [(truth, exp.Literal.number(2)), (_is_null(truth.copy()), exp.Literal.number(1))],
                exp.Literal.number(0),
            )
            ccols.append(_as(exp.Max(this=_case([(_in(_col("rkey", x), keys), code)])), f"a_{name}"))
        self._add(
            _CONDITIONS,
            exp.select(*ccols, copy=False)
            .from_(recs.subquery(x, copy=False), copy=False)
            .group_by(_col("patient_id", x), copy=False),
        )

    def _relative(
        self,
        r: n.Lab,
        p: str,
        value: exp.Expression,
        unit: exp.Expression,
        units: Sequence[str | None],
        concept: Any,
    ) -> exp.Expression:
        """evaluate._relative: the result's own limit when > 0, else the vocabulary's range for sex and age."""
        own = _col("ref_high" if r.relative == "ULN" else "ref_low", p)
        whens: list[tuple[exp.Expression, exp.Expression]] = [
            (exp.GT(this=own, expression=exp.Literal.number(0)), exp.Div(this=value, expression=own))
        ]
        if concept is not None:
            groups: dict[tuple[float, str], dict[str | None, list[int | None]]] = {}
            for sex, age in self.sex_ages():
                rng = self.vocab.reference_range(r.concept, sex, age)
                bound = getattr(rng, "high" if r.relative == "ULN" else "low", None) if rng else None
                if rng is None or bound is None or bound <= 0:
                    continue
                groups.setdefault((bound, rng.unit), {}).setdefault(sex, []).append(age)
            sex_col, age_col = _col("sex", "pat"), _col("age_y", "pat")
            for (bound, rng_unit), by_sex in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
                conds = []
                for sex, ages in sorted(by_sex.items(), key=lambda kv: kv[0] or ""):
                    s_cond = _is_null(sex_col) if sex is None else exp.EQ(this=sex_col, expression=_str(sex))
                    known = sorted(a for a in ages if a is not None)
                    a_conds = [self._ages(age_col, sex, known)] if known else []
                    if any(a is None for a in ages):
                        a_conds.append(_is_null(age_col))
                    conds.append(_and(s_cond, _or(*a_conds)))
                converted = self.convert_case(
                    value, unit, units, rng_unit, concept.molar_mass, concept.affine, value.copy()
                )
                scaled = exp.Div(this=_p(converted), expression=_num(bound))
                whens.append((_or(*conds), scaled))
        return _case(whens, _null_double())

    def _ages(self, age_col: exp.Expression, sex: str | None, ages: list[int]) -> exp.Expression:
        """``age IN (ages)`` for patients of this sex, written as ranges: a run of ages that are consecutive
        among the registry's own ages of that sex (``sex_ages``, the same patients and formula as the
        query's) is ``age BETWEEN first AND last`` -- no patient of that sex has an age in between
        that is not in the run, so it is the same set, and cheaper than a long IN list."""
        present = sorted({a for sx, a in self.sex_ages() if sx == sex and a is not None})
        position = {a: i for i, a in enumerate(present)}
        runs: list[list[int]] = []
        for a in ages:
            if a in position and runs and runs[-1][-1] in position and position[runs[-1][-1]] + 1 == position[a]:
                runs[-1].append(a)
            else:
                runs.append([a])
        parts: list[exp.Expression] = []
        singles = [run[0] for run in runs if len(run) == 1]
        if singles:
            parts.append(_in(age_col.copy(), singles))
        for run in runs:
            if len(run) > 1:
                parts.append(
                    exp.Between(this=age_col.copy(), low=exp.Literal.number(run[0]), high=exp.Literal.number(run[-1]))
                )
        return _or(*parts)

    def _sex_guard(self, r: n.Condition, truth: exp.Expression) -> exp.Expression:
        concept = self.vocab.concepts.get(r.concept)
        if concept is None or concept.sex is None:
            return truth
        sex = _col("sex", "pat")
        other = _and(
            _not_null(sex),
            exp.Not(this=exp.In(this=sex, expressions=[_str("unknown"), _str("other")])),
            exp.NEQ(this=sex, expression=_str(concept.sex)),
        )
        return _case([(other, exp.false())], truth)

    def _grouped(
        self,
        name: str,
        table: str,
        alias: str,
        keys: Sequence[int],
        cols: Sequence[exp.Expression],
        extra_where: exp.Expression | None = None,
    ) -> exp.Select:
        where = self._records(table, alias, keys)
        if extra_where is not None:
            where = _and(where, extra_where)
        return (
            exp.select(_col("patient_id", alias), *cols, copy=False)
            .from_(exp.to_table(table).as_(alias), copy=False)
            .where(where, copy=False)
            .group_by(_col("patient_id", alias), copy=False)
        )

    def _flags_leaf(
        self,
        name: str,
        table: str,
        alias: str,
        keys: Sequence[int],
        flags: Sequence[tuple[str, exp.Expression]],
        where: exp.Expression | None,
        truth: exp.Expression,
        default: exp.Expression,
    ) -> _Leaf:
        """A leaf whose truth depends only on flags ``MAX(CASE WHEN cond THEN 1 ELSE 0 END)`` over the
        patient's rows of ``table`` with these keys (and ``where``): ``truth`` reads them as
        ``g.<flag>``. Its flags become columns of the table's shared pivot (see :meth:`finish`), with
        ``n_<leaf>`` = 1 when the patient has such a row; without one the leaf is ``default``."""
        self._flags.setdefault(table, (alias, []))[1].append((name, list(keys), where, list(flags)))
        cte = _PIVOTS[table]

        def to_pivot(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and node.table == "g":
                return _col(f"{node.name}_{name}", cte)
            return node

        present = _col(f"n_{name}", cte)
        return _Leaf(cte, default, truth=_case([(_is_null(present), default.copy())], truth.transform(to_pivot)))

    def _closed(self, found: exp.Expression) -> exp.Expression:
        """evaluate._closed on a Kleene value: false becomes NULL in the open world."""
        if not self.open_world:
            return found
        return _case([(exp.EQ(this=found, expression=exp.false()), _null_bool())], found)

    def _first_day(self, within: n.Duration) -> date:
        """evaluate._first_day: "within N" is the N days ending on as_of."""
        return self.as_of - timedelta(days=max(round(within.days), 1) - 1)

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

    def _history_case(
        self, r: n.Condition, keys: Sequence[int], rkey: exp.Expression, onset: exp.Expression
    ) -> list[tuple[exp.Expression, exp.Expression]]:
        """evaluate._history_truth for the records whose code is a personal-history code."""
        desc = dict(self._descriptors["conditions"])
        hist = [k for k in keys if self.vocab.is_history_code(normalise_system(desc[k].system), desc[k].code)]
        if not hist:
            return []
        truth: exp.Expression
        if r.within is not None:
            first = _date(self._first_day(r.within))
            before = _and(_not_null(onset.copy()), exp.LT(this=onset.copy(), expression=first))
            truth = _case([(before, exp.false())], _null_bool())
        elif r.timing == "current" or r.duration is not None:
            truth = exp.false()
        else:
            truth = exp.true()
        return [(_in(rkey.copy(), hist), truth)]

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
            self._add(
                name,
                exp.select(_col("patient_id", agg_name), _as(truth, "t"), copy=False).from_(
                    exp.to_table(agg_name), copy=False
                ),
            )
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
        self._add(name, query)
        return _Leaf(name, closed, observed=True)

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
        self._add(name, query)
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
        if r.within is not None:
            start = _date(self._first_day(r.within))
            flags.append(("hit", exp.GTE(this=performed, expression=start)))
        g = "g"
        if r.within is None:
            truth: exp.Expression = exp.true()
        else:
            truth = _case(
                [
                    (exp.EQ(this=_col("hit", g), expression=exp.Literal.number(1)), exp.true()),
                    (exp.EQ(this=_col("undated", g), expression=exp.Literal.number(1)), _null_bool()),
                ],
                closed,
            )
        return self._flags_leaf(name, "procedures", pr, keys, flags, in_past, truth, closed)

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
        if isinstance(r, n.Lab | n.LabResult | n.Condition | n.Medication | n.StableDose | n.Procedure):
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
