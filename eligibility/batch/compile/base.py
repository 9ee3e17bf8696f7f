"""The compiler's state and the parts every leaf uses: data-derived constants (descriptor keys, units,
sex/age pairs), record scans, the shared pivots (finish), relative reference ranges, flag leaves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlglot.expressions as exp

from ... import nodes as n
from ...concepts import Vocabulary
from ...errors import UnitError
from ...evaluate import Context, window_start
from ...patient import Patient
from ...units import Affine, conversion
from ..patients_sql import coverage_column
from ..registry import raw_code_filter
from .plans import Profile
from .sql import (
    _and,
    _applied,
    _as,
    _case,
    _col,
    _in,
    _is_null,
    _not_null,
    _null_bool,
    _null_double,
    _num,
    _or,
    _p,
    _str,
)

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


class _CompilerBase:
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
        # _absence: per unread_<table> / blind_conditions CTE, whether the registry has any such record.
        self._unread: dict[str, bool] = {}

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

    def _finish_labs(self) -> None:
        """The lab picks' CTE (compile.labs)."""

    def _absence(self, concept: str, table: str) -> exp.Expression:
        """What no deciding record means for a leaf (evaluate._closed): NULL in the open world and for a
        concept not reviewed as complete; else false, but NULL for a patient with a record the concept
        cannot see through -- coded in a system the engine does not read (``Context.is_unread``), or for
        a terminology-derived condition also SNOMED CT that maps to no ICD-10-CM title
        (``Context.is_blind_to_icd10cm``). Those records are found once per registry from its
        descriptors, so a registry without any costs nothing."""
        if self._open(concept):
            return _null_bool()
        blind = table == "conditions" and concept in self.vocab.derived
        cte = f"{'blind' if blind else 'unread'}_{table}"
        if cte not in self._unread:
            if table not in self._descriptors:
                self._descriptors[table] = self.profile.descriptors(table)
            test = self.ctx.is_blind_to_icd10cm if blind else self.ctx.is_unread
            keys = [k for k, rec in self._descriptors[table] if test(rec)]
            self._unread[cte] = bool(keys)
            if keys:
                u = "u"
                self._add(
                    cte,
                    exp.select(_col("patient_id", u), _as(exp.true(), "u"), copy=False)
                    .from_(exp.to_table(table).as_(u), copy=False)
                    .where(self._records(table, u, keys), copy=False)
                    .group_by(_col("patient_id", u), copy=False),
                )
                self.leaves[f"({cte})"] = _Leaf(cte, exp.false())  # (joined to the shared table like a leaf)
        if not self._unread[cte]:
            return exp.false()
        return _case([(_not_null(_col("u", cte)), _null_bool())], exp.false())

    def _join_absence(self, query: exp.Select, patient_id: exp.Column, *used: exp.Expression) -> exp.Select:
        """``query`` (a leaf's own CTE) with the ``unread_*`` / ``blind_*`` tables its expressions read
        (see :meth:`_absence`) joined on the patient."""
        wanted = {c.table for e in used for c in e.find_all(exp.Column) if self._unread.get(c.table)}
        for cte in sorted(wanted):
            on = exp.EQ(this=_col("patient_id", cte), expression=patient_id.copy())
            query = query.join(exp.to_table(cte), on=on, join_type="LEFT", copy=False)
        return query

    def _open(self, concept: str) -> bool:
        """evaluate._closed: absence is unknown in the open world and for a concept whose code set is
        not reviewed as complete (``Vocabulary.complete``)."""
        return self.open_world or not self.vocab.complete(concept)

    def _add(self, name: str, query: exp.Query) -> None:
        self.ctes.append((name, query))

    def finish(self) -> None:
        """CTEs shared by several leaves, known once every criterion is compiled."""
        self._finish_labs()
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
        own: exp.Expression,
        value: exp.Expression,
        unit: exp.Expression,
        units: Sequence[str | None],
        concept: Any,
    ) -> exp.Expression:
        """evaluate._relative: the result's own limit when > 0, else the vocabulary's range for sex and age."""
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
