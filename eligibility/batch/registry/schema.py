"""The staged tables' schema (columns, kinds, targets) and the SQL string literal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot.expressions as exp

ColumnKind = Literal["id", "text", "date", "number", "measure", "sex", "result", "status"]

SEXES = ("male", "female", "other", "unknown")
RESULTS = ("positive", "negative")
STATUSES = ("active", "recurrence", "relapse", "inactive", "remission", "resolved", "unknown")


@dataclass(frozen=True)
class Column:
    """One column of a registry file: its name in the file, its kind, its name once staged."""

    name: str
    kind: ColumnKind
    staged: str = ""

    @property
    def target(self) -> str:
        return self.staged or self.name


_DESCRIPTOR = (Column("system", "text"), Column("code", "text"), Column("concept", "text"), Column("text", "text"))

SCHEMA: dict[str, tuple[Column, ...]] = {
    "patients": (Column("patient_id", "id"), Column("birth_date", "date"), Column("sex", "sex")),
    "observations": (
        Column("patient_id", "id"),
        *_DESCRIPTOR,
        Column("value", "measure"),  # a number at or above zero (patient.BELOW_ZERO)
        Column("unit", "text"),
        Column("result", "result"),
        Column("effective", "date"),
        Column("ref_low", "number"),
        Column("ref_high", "number"),
    ),
    "conditions": (
        Column("patient_id", "id"),
        *_DESCRIPTOR,
        Column("onset", "date"),
        Column("abatement", "date"),
        Column("status", "status"),
    ),
    "medications": (
        Column("patient_id", "id"),
        *_DESCRIPTOR,
        Column("start", "date", "start_date"),
        Column("end", "date", "end_date"),
    ),
    "procedures": (Column("patient_id", "id"), *_DESCRIPTOR, Column("performed", "date")),
}
RECORD_TABLES = ("observations", "conditions", "medications", "procedures")


def staged_columns(table: str) -> list[str]:
    """The columns every reader gives a staged table (a table read in place adds ``raw_code``)."""
    if table == "patients":
        return [c.target for c in SCHEMA[table]]
    rest = [c.target for c in SCHEMA[table] if c.name not in ("patient_id", "system", "code", "concept", "text")]
    return ["patient_id", "rn", "rkey", *rest]


OPTIONAL_COLUMNS = frozenset({"concept", "text"})

_SQL_TYPE = {"id": "VARCHAR", "text": "VARCHAR", "date": "DATE", "number": "DOUBLE", "measure": "DOUBLE"}
_SQL_TYPE.update({"sex": "VARCHAR", "result": "VARCHAR", "status": "VARCHAR"})


def lit(value: str) -> str:
    """A SQL string literal, quoted by sqlglot (file paths and names go into staging SQL this way)."""
    return exp.Literal.string(value).sql("duckdb")
