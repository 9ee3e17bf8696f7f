"""Long-format registries (Parquet or CSV tables in a folder) loaded straight into DuckDB.

Why DuckDB and not Python objects: a registry of a million patients has tens of millions of rows;
reading them row by row into pydantic models takes longer than screening them in SQL. Every file is
read with all columns as text and then converted with ``TRY_CAST``; a value that does not convert is
*reported* (file, line, column, value, reason) and becomes NULL, which the compiled rules treat as
unknown -- so a bad row can make a result unknown but never silently decide it, and never aborts
the run. Rows that cannot belong to anyone (no ``patient_id``, or a ``patient_id`` missing from the
patients table) or that name nothing (no code, concept or text) are reported and left out.

Staged tables (what :mod:`.compile` reads; ``rn`` is the row's position in its file, ``rkey`` the
id of its distinct (system, code, concept, text) descriptor in ``keys_<table>``)::

    patients(patient_id, birth_date DATE, sex)
    observations(patient_id, rn, rkey, value DOUBLE, unit, result, effective DATE, ref_low, ref_high)
    conditions(patient_id, rn, rkey, onset DATE, abatement DATE, status)
    medications(patient_id, rn, rkey, start_date DATE, end_date DATE)
    procedures(patient_id, rn, rkey, performed DATE)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import duckdb
import sqlglot.expressions as exp

from ..errors import InputError
from ..patient import ConditionRecord, MedicationRecord, Observation, Patient, ProcedureRecord

ColumnKind = Literal["id", "text", "date", "number", "sex", "result", "status"]

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
        Column("value", "number"),
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
OPTIONAL_COLUMNS = frozenset({"concept", "text"})

_SQL_TYPE = {"id": "VARCHAR", "text": "VARCHAR", "date": "DATE", "number": "DOUBLE"}
_SQL_TYPE.update({"sex": "VARCHAR", "result": "VARCHAR", "status": "VARCHAR"})


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
        return observation_units(self.con, rkeys)

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
        )


_RECORD_CLASS: dict[str, type[Any]] = {
    "observations": Observation,
    "conditions": ConditionRecord,
    "medications": MedicationRecord,
    "procedures": ProcedureRecord,
}


def lit(value: str) -> str:
    """A SQL string literal, quoted by sqlglot (file paths and names go into staging SQL this way)."""
    return exp.Literal.string(value).sql("duckdb")


def _find(directory: Path, table: str) -> Path | None:
    for suffix in (".parquet", ".csv", ".csv.gz"):
        candidate = directory / f"{table}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {lit(memory_limit)}")
    return con


def load_registry(
    directory: str | Path,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Registry:
    """Stage a registry folder (patients.parquet|csv required; other tables optional) into DuckDB."""
    path = Path(directory)
    if not path.is_dir():
        raise InputError("not a folder", str(path))
    if _find(path, "patients") is None:
        raise InputError("no patients.parquet or patients.csv in this folder", str(path))
    reg = Registry(con=con or connect(), source=str(path))
    _create_rejects(reg.con)
    for table in ("patients", *RECORD_TABLES):
        file = _find(path, table)
        if file is None:
            _empty(reg.con, table)
            reg.notes.append(f"no {table} file: the table is empty")
            continue
        reg.files[table] = str(file)
        _raw_from_file(reg, table, file)
        stage_raw(reg, table, file.name)
    return reg


def _create_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE rejects (file VARCHAR, line BIGINT, col VARCHAR, val VARCHAR, "
        "reason VARCHAR, kept BOOLEAN)"
    )


def _empty(con: duckdb.DuckDBPyConnection, table: str) -> None:
    cols = ", ".join(f"NULL::{_SQL_TYPE[c.kind]} AS {c.target}" for c in SCHEMA[table])
    con.execute(f"CREATE OR REPLACE TEMP TABLE clean_{table} AS SELECT 0::BIGINT AS rid, {cols} LIMIT 0")
    _finish(con, table)


def _raw_from_file(reg: Registry, table: str, file: Path) -> None:
    """raw_<table>(rid, <every schema column as VARCHAR>) and the line of each rid in line_<table>."""
    con = reg.con
    name = lit(str(file))
    is_csv = file.suffix != ".parquet"
    if is_csv:
        rej = f"csvrej_{table}"
        source = (
            f"read_csv({name}, header = true, all_varchar = true, store_rejects = true, "
            f"rejects_table = {lit(rej)}, rejects_scan = {lit('csvscan_' + table)})"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE src_{table} AS SELECT * FROM {source}")
        rid = "rowid"
    else:
        source = f"read_parquet({name}, file_row_number = true)"
        con.execute(f"CREATE OR REPLACE TEMP TABLE src_{table} AS SELECT * FROM {source}")
        rid = "file_row_number"
    present = {str(r[0]) for r in con.execute(f"DESCRIBE src_{table}").fetchall()}
    if "patient_id" not in present:
        raise InputError("no patient_id column", str(file))
    cols = []
    for c in SCHEMA[table]:
        if c.name in present:
            cols.append(f'NULLIF(TRIM(CAST("{c.name}" AS VARCHAR)), \'\') AS "{c.name}"')
        else:
            cols.append(f'NULL::VARCHAR AS "{c.name}"')
            if c.name not in OPTIONAL_COLUMNS:
                reg.notes.append(f"{file.name}: no column '{c.name}' (read as empty)")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE raw_{table} AS SELECT {rid}::BIGINT AS rid, {', '.join(cols)} FROM src_{table}"
    )
    con.execute(f"DROP TABLE src_{table}")
    if is_csv:
        # Good row k sits at physical line k + 2 (header on line 1) plus the lines DuckDB rejected
        # before it; a rejected line r (0-based rank i among rejected lines) has r - 2 - i good rows
        # before it.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE gap_{table} AS
                SELECT line::BIGINT - 2 - (ROW_NUMBER() OVER (ORDER BY line) - 1) AS good_before
                FROM {rej}"""
        )
        con.execute(
            f"""INSERT INTO rejects SELECT {lit(file.name)}, line, NULL,
                       csv_line, 'malformed line: ' || error_type || ' (' || error_message || ')', false
                FROM {rej}"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE line_{table} AS
                SELECT r.rid, r.rid + 2 + (SELECT COUNT(*) FROM gap_{table} g WHERE g.good_before <= r.rid) AS line
                FROM raw_{table} r"""
            if con.execute(f"SELECT COUNT(*) FROM {rej}").fetchone() != (0,)
            else f"CREATE OR REPLACE TEMP TABLE line_{table} AS SELECT rid, rid + 2 AS line FROM raw_{table}"
        )
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE line_{table} AS SELECT rid, rid + 1 AS line FROM raw_{table}")


def _typed(c: Column) -> tuple[str, str | None]:
    """(SQL giving the typed value of raw column c, reason text when a non-NULL raw value gives NULL)."""
    col = f'"{c.name}"'
    if c.kind == "date":
        return (
            f"COALESCE(TRY_CAST({col} AS DATE), TRY_CAST(TRY_CAST({col} AS TIMESTAMP) AS DATE))",
            "not a date (YYYY-MM-DD)",
        )
    if c.kind == "number":
        return (
            f"CASE WHEN isfinite(TRY_CAST({col} AS DOUBLE)) THEN TRY_CAST({col} AS DOUBLE) END",
            "not a finite number",
        )
    if c.kind in ("sex", "result", "status"):
        allowed = {"sex": SEXES, "result": RESULTS, "status": STATUSES}[c.kind]
        values = ", ".join(lit(v) for v in allowed)
        if c.kind == "status":  # blank: the native default; unreadable: NULL here, 'unknown' once reported
            return (
                f"CASE WHEN {col} IS NULL OR trim({col}) = '' THEN 'active' "
                f"WHEN lower({col}) IN ({values}) THEN lower({col}) END",
                f"not one of {', '.join(allowed)}",
            )
        return (
            f"CASE WHEN lower({col}) IN ({values}) THEN lower({col}) END",
            f"not one of {', '.join(allowed)}",
        )
    return col, None


def stage_raw(reg: Registry, table: str, file_label: str) -> None:
    """raw_<table> (all VARCHAR) + line_<table> -> the typed staged table, reporting every problem."""
    con = reg.con
    cols = SCHEMA[table]
    typed = []
    for c in cols:
        expr, reason = _typed(c)
        typed.append(f"{expr} AS {c.target}")
        if reason is not None:
            con.execute(
                f"""INSERT INTO rejects SELECT {lit(file_label)}, l.line, {lit(c.name)}, r."{c.name}",
                           {lit(reason)} || ' (kept as unknown)', true
                    FROM raw_{table} r JOIN line_{table} l USING (rid)
                    WHERE r."{c.name}" IS NOT NULL AND ({expr}) IS NULL"""
            )
    con.execute(f"CREATE OR REPLACE TEMP TABLE typed_{table} AS SELECT rid, {', '.join(typed)} FROM raw_{table}")

    def drop(where: str, reason: str, column: str, value: str) -> None:
        con.execute(
            f"""INSERT INTO rejects SELECT {lit(file_label)}, l.line, {lit(column)}, {value}, {lit(reason)}, false
                FROM typed_{table} t JOIN line_{table} l USING (rid) WHERE {where}"""
        )
        con.execute(f"DELETE FROM typed_{table} t WHERE {where}")

    drop("t.patient_id IS NULL", "missing patient_id (row left out)", "patient_id", "NULL")
    if table == "patients":
        drop(
            "t.rid NOT IN (SELECT MIN(rid) FROM typed_patients GROUP BY patient_id)",
            "duplicate patient_id (row left out; the first row is used)",
            "patient_id",
            "t.patient_id",
        )
    else:
        drop(
            "t.patient_id NOT IN (SELECT patient_id FROM patients)",
            "patient_id not in the patients table (row left out)",
            "patient_id",
            "t.patient_id",
        )
        drop(
            "t.code IS NULL AND t.concept IS NULL AND t.text IS NULL",
            "no code, concept or text: the row names nothing (row left out)",
            "code",
            "NULL",
        )
    if table == "conditions":
        # An unreadable status was reported above; it is unknown, never the 'active' default.
        con.execute("UPDATE typed_conditions SET status = 'unknown' WHERE status IS NULL")
    con.execute(f"ALTER TABLE typed_{table} RENAME TO clean_{table}")
    _finish(con, table)


def _finish(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """clean_<table> -> the staged table (+ descriptor keys for record tables)."""
    cols = SCHEMA[table]
    if table == "patients":
        con.execute("CREATE OR REPLACE TABLE patients AS SELECT patient_id, birth_date, sex FROM clean_patients")
        con.execute(f"DROP TABLE clean_{table}")
        return
    # rkey: a 63-bit hash of the descriptor (no join needed to assign it); a collision would merge two
    # descriptors, so it is checked rather than assumed away.
    key = "CAST(hash(system, code, concept, text) >> 1 AS BIGINT)"
    con.execute(
        f"CREATE OR REPLACE TABLE keys_{table} AS SELECT DISTINCT {key} AS rkey, system, code, concept, text "
        f"FROM clean_{table}"
    )
    row = con.execute(f"SELECT COUNT(*) - COUNT(DISTINCT rkey) FROM keys_{table}").fetchone()
    if row is not None and row[0]:
        raise InputError(f"{table}: descriptor hash collision; cannot key records safely")
    rest = ", ".join(c.target for c in cols if c.name not in ("patient_id", "system", "code", "concept", "text"))
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT patient_id, rid AS rn, {key} AS rkey, {rest} FROM clean_{table}"
    )
    con.execute(f"DROP TABLE clean_{table}")


def as_of_ages(con: duckdb.DuckDBPyConnection, as_of: date) -> list[tuple[str | None, int | None]]:
    """Distinct (sex, completed years at as_of) in the registry, for the reference-range table."""
    y, md = as_of.year, as_of.month * 100 + as_of.day
    rows = con.execute(
        f"""SELECT DISTINCT sex, CASE WHEN birth_date IS NULL THEN NULL ELSE
                {y} - year(birth_date) - CASE WHEN {md} < month(birth_date) * 100 + day(birth_date) THEN 1 ELSE 0 END
            END FROM patients"""
    ).fetchall()
    return [(s, None if a is None else int(a)) for s, a in rows]


def observation_units(con: duckdb.DuckDBPyConnection, rkeys: Sequence[int]) -> list[str | None]:
    """Distinct units of the observations with these descriptor keys (None included when present)."""
    if not rkeys:
        return []
    keys = ", ".join(str(int(k)) for k in rkeys)
    rows = con.execute(f"SELECT DISTINCT unit FROM observations WHERE rkey IN ({keys})").fetchall()
    return [r[0] for r in rows]
