"""The loaded registry (DuckDB tables, rejects, notes) and what the compiler asks of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import sqlglot.expressions as exp

from ...errors import InputError
from ...patient import (
    ConditionRecord,
    MedicationRecord,
    Observation,
    ObservationPeriod,
    Patient,
    ProcedureRecord,
)


@dataclass(frozen=True)
class Reject:
    """One problem with one input row; ``kept`` says whether the row stayed (with the value as NULL)."""

    file: str
    line: int
    column: str | None
    value: str | None
    reason: str
    kept: bool


@dataclass
class Registry:
    """A registry staged in a DuckDB connection, with its load report."""

    con: duckdb.DuckDBPyConnection
    source: str
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Optional staged tables this registry has (patients_sql.EXTRA_TABLES: OMOP observation periods, deaths).
    extras: frozenset[str] = frozenset()
    # Record tables read in place (a view over the Parquet file, see view_file) -> whether the view's
    # raw_code column is the file's own text column (so a filter on it reaches the Parquet scan).
    in_place: dict[str, bool] = field(default_factory=dict)

    def reject_count(self) -> int:
        row = self.con.execute("SELECT COUNT(*) FROM rejects").fetchone()
        return int(row[0]) if row else 0

    def rejects(self, limit: int | None = None) -> list[Reject]:
        sql = "SELECT file, line, col, val, reason, kept FROM rejects ORDER BY file, line, col"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self.con.execute(sql).fetchall()
        return [
            Reject(str(f), int(ln), None if c is None else str(c), v, str(r), bool(k)) for f, ln, c, v, r, k in rows
        ]

    def reject_summary(self) -> list[tuple[str, str, int]]:
        """(file, reason, rows) for the load report."""
        rows = self.con.execute(
            "SELECT file, reason, COUNT(*) FROM rejects GROUP BY file, reason ORDER BY file, reason"
        ).fetchall()
        return [(str(f), str(r), int(n)) for f, r, n in rows]

    def patient_count(self) -> int:
        row = self.con.execute("SELECT COUNT(*) FROM patients").fetchone()
        return int(row[0]) if row else 0

    def descriptors(self, table: str) -> list[tuple[int, Any]]:
        """(rkey, record) for every distinct (system, code, concept, text) of a record table.

        The record is a real patient record of the table's type, so that the evaluator's own
        ``Context.matching`` / ``concepts_of`` decide which concepts it stands for.
        """
        cls = _RECORD_CLASS[table]
        rows = self.con.execute(f"SELECT rkey, system, code, concept, text FROM keys_{table} ORDER BY rkey").fetchall()
        return [(int(k), cls(system=s, code=c, concept=cpt, text=t)) for k, s, c, cpt, t in rows]

    def sex_ages(self, as_of: date) -> list[tuple[str | None, int | None]]:
        return as_of_ages(self.con, as_of)

    def units(self, rkeys: Sequence[int]) -> list[str | None]:
        return observation_units(self.con, rkeys, self.prefilter("observations", rkeys))

    def prefilter(self, table: str, rkeys: Sequence[int]) -> list[str | None] | None:
        """The raw ``code`` values of the rows with these keys, for a table read in place; else None.

        Why: a view computes each row's descriptor key (a hash of four text columns) on every scan,
        which costs more than the rest of a lab pick; ``raw_code IN (...)`` is a superset filter the
        Parquet reader applies first, so the hash is computed for the few rows left. Exact: every
        row with one of the keys has one of these raw codes (``rawkeys_<table>`` holds them all).
        """
        if not self.in_place.get(table) or not rkeys:
            return None
        keys = ", ".join(str(int(k)) for k in rkeys)
        rows = self.con.execute(f"SELECT DISTINCT raw_code FROM rawkeys_{table} WHERE rkey IN ({keys})").fetchall()
        return [r[0] for r in rows]

    def patient(self, patient_id: str) -> Patient:
        """Rebuild one patient as the native model, from exactly the staged rows the SQL screened."""
        row = self.con.execute("SELECT birth_date, sex FROM patients WHERE patient_id = ?", [patient_id]).fetchone()
        if row is None:
            raise InputError(f"no patient '{patient_id}' in the registry", self.source)
        birth, sex = row

        def records(table: str, cols: Sequence[str]) -> list[dict[str, Any]]:
            select = ", ".join(f"t.{c}" for c in cols)
            sql = (
                f"SELECT k.system, k.code, k.concept, k.text, {select} FROM {table} t "
                f"JOIN keys_{table} k ON t.rkey = k.rkey WHERE t.patient_id = ? ORDER BY t.rn"
            )
            names = ["system", "code", "concept", "text", *cols]
            return [dict(zip(names, r, strict=True)) for r in self.con.execute(sql, [patient_id]).fetchall()]

        src = self.source
        obs = [
            Observation(source=src, **r)
            for r in records("observations", ["value", "unit", "result", "effective", "ref_low", "ref_high"])
        ]
        conds = [ConditionRecord(source=src, **r) for r in records("conditions", ["onset", "abatement", "status"])]
        meds = [
            MedicationRecord(source=src, start=r.pop("start_date"), end=r.pop("end_date"), **r)
            for r in records("medications", ["start_date", "end_date"])
        ]
        procs = [
            ProcedureRecord(source=src, date=r.pop("performed"), **r) for r in records("procedures", ["performed"])
        ]
        return Patient(
            id=patient_id,
            birth_date=birth,
            sex=sex,
            observations=tuple(obs),
            conditions=tuple(conds),
            medications=tuple(meds),
            procedures=tuple(procs),
            **self._extra_facts(patient_id),
        )

    def _extra_facts(self, patient_id: str) -> dict[str, Any]:
        """Observation periods and death of one patient, when the registry states them (OMOP)."""
        facts: dict[str, Any] = {}
        if "observation_periods" in self.extras:
            rows = self.con.execute(
                "SELECT start_date, end_date FROM observation_periods WHERE patient_id = ? "
                "ORDER BY start_date, end_date",
                [patient_id],
            ).fetchall()
            facts["observation_periods"] = tuple(ObservationPeriod(start=a, end=b) for a, b in rows)
        if "deaths" in self.extras:
            row = self.con.execute("SELECT death_date FROM deaths WHERE patient_id = ?", [patient_id]).fetchone()
            facts["death_date"] = row[0] if row else None
        return facts


_RECORD_CLASS: dict[str, type[Any]] = {
    "observations": Observation,
    "conditions": ConditionRecord,
    "medications": MedicationRecord,
    "procedures": ProcedureRecord,
}


def as_of_ages(con: duckdb.DuckDBPyConnection, as_of: date) -> list[tuple[str | None, int | None]]:
    """Distinct (sex, completed years at as_of) in the registry, for the reference-range table."""
    y, md = as_of.year, as_of.month * 100 + as_of.day
    rows = con.execute(
        f"""SELECT DISTINCT sex, CASE WHEN birth_date IS NULL OR birth_date > DATE '{as_of.isoformat()}' THEN NULL ELSE
                {y} - year(birth_date) - CASE WHEN {md} < month(birth_date) * 100 + day(birth_date) THEN 1 ELSE 0 END
            END FROM patients"""
    ).fetchall()
    return [(s, None if a is None else int(a)) for s, a in rows]


def observation_units(
    con: duckdb.DuckDBPyConnection, rkeys: Sequence[int], raw_codes: Sequence[str | None] | None = None
) -> list[str | None]:
    """Distinct units of the observations with these descriptor keys (None included when present).

    ``raw_codes``: Registry.prefilter's superset filter for a table read in place.
    """
    if not rkeys:
        return []
    keys = ", ".join(str(int(k)) for k in rkeys)
    where = f"rkey IN ({keys})"
    if raw_codes is not None:
        where = f"{raw_code_filter(raw_codes).sql('duckdb')} AND {where}"
    rows = con.execute(f"SELECT DISTINCT unit FROM observations WHERE {where}").fetchall()
    return [r[0] for r in rows]


#: Up to this many raw codes, the prefilter is an OR of equalities (see raw_code_filter).
OR_CODES = 32


def raw_code_filter(raw_codes: Sequence[str | None], column: exp.Expression | None = None) -> exp.Expression:
    """The raw code is one of these (NULL included when listed); ``false`` for none."""
    col = column if column is not None else exp.column("raw_code")
    codes = sorted(c for c in raw_codes if c is not None)
    parts: list[exp.Expression] = []
    # Equalities joined by OR, not IN: DuckDB turns an IN list of more than a few constants into a join
    # above the Parquet scan, so every row of the file is decoded and hashed before it is dropped; an OR
    # of equalities on one column stays a filter inside the scan (one merged lab scan: 20M rows decoded
    # at 1M patients instead of the 5.4M it keeps).
    # A long list stays IN (a join is then cheaper than testing every equality of a row).
    if len(codes) > OR_CODES:
        parts.append(exp.In(this=col.copy(), expressions=[exp.Literal.string(c) for c in codes]))
    else:
        parts.extend(exp.EQ(this=col.copy(), expression=exp.Literal.string(c)) for c in codes)
    if any(c is None for c in raw_codes):
        parts.append(exp.Is(this=col.copy(), expression=exp.null()))
    if not parts:
        return exp.false()
    return exp.paren(exp.or_(*parts)) if len(parts) > 1 else parts[0]
