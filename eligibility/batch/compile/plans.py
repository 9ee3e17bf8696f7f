"""What the batch compiler produces: per-criterion columns, a compiled trial, a shared plan of several trials;
and the Profile of the data it reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

import sqlglot.expressions as exp

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
