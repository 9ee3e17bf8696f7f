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

They live in a temporary database file (see :func:`connect`: compressed, bounded by ``memory_limit``).
A Parquet file is scanned once (columns already DATE/DOUBLE/integer are not sent through text); another
loader registers a table by creating ``clean_<table>(rid, <SCHEMA targets>)`` and calling ``_finish``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import duckdb
import sqlglot.expressions as exp

from ..errors import InputError
from ..patient import (
    BAD_RANGE,
    ConditionRecord,
    MedicationRecord,
    Observation,
    ObservationPeriod,
    Patient,
    ProcedureRecord,
)
from .staging import STAGING_PREFIX, duckdb_message

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


def lit(value: str) -> str:
    """A SQL string literal, quoted by sqlglot (file paths and names go into staging SQL this way)."""
    return exp.Literal.string(value).sql("duckdb")


def _find(directory: Path, table: str) -> Path | None:
    found = [
        directory / f"{table}{s}" for s in (".parquet", ".csv", ".csv.gz") if (directory / f"{table}{s}").is_file()
    ]
    if len(found) > 1:  # one would silently win over the other
        names = " and ".join(p.name for p in found)
        raise InputError(f"both {names}: keep one file per table", str(directory))
    return found[0] if found else None


DEFAULT_MEMORY_LIMIT = "3GB"


def connect(
    threads: int | None = None,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    spill_directory: str | Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose default catalog is a temporary database file (removed with the connection).

    Why a file and not ``:memory:``: DuckDB compresses tables stored in a database file (a million-patient
    registry takes ~0.3 GB instead of ~3 GB) and its buffer manager keeps within ``memory_limit``,
    spilling to the same folder when a join or sort needs more. ``preserve_insertion_order`` is off:
    every staged row carries its file position (``rn``) and every ordered output says its order.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=spill_directory))
    con = duckdb.connect(":memory:")
    weakref.finalize(con, shutil.rmtree, str(folder), True)
    con.execute(f"ATTACH {lit(str(folder / 'registry.duckdb'))} AS registry")
    con.execute("USE registry")
    con.execute(f"SET temp_directory = {lit(str(folder / 'spill'))}")
    con.execute("SET preserve_insertion_order = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {lit(memory_limit)}")
    return con


RegistryFormat = Literal["auto", "long", "fhir", "omop"]


def load_registry(
    directory: str | Path,
    con: duckdb.DuckDBPyConnection | None = None,
    registry_format: RegistryFormat = "auto",
    in_place: bool = True,
) -> Registry:
    """Stage a registry folder (patients.parquet|csv required; other tables optional) into DuckDB.

    An OMOP CDM (folder, zip or DuckDB file with person and observation_period tables) is read by
    :mod:`.omop`; a FHIR Bulk export by :mod:`.fhir`. ``registry_format`` forces one reader.
    With ``in_place`` (the default) a Parquet record table whose dates and numbers are typed columns
    is read where it lies (:func:`view_file`) instead of copied; ``in_place=False`` stages it.
    """
    path = Path(directory)
    from .omop import is_omop, load_omop  # (an OMOP CDM: batch/omop.py)

    if registry_format == "omop" or (registry_format == "auto" and is_omop(path)):
        return load_omop(path, con)
    if not path.is_dir():
        raise InputError("not a folder", str(path))
    from .fhir import is_fhir_bulk, load_fhir_bulk  # (a FHIR Bulk Data NDJSON folder: batch/fhir.py)

    if registry_format == "fhir" or (registry_format == "auto" and is_fhir_bulk(path)):
        return load_fhir_bulk(path, con)
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
        try:
            src = _source(reg, table, file)
            if in_place and readable_in_place(table, src):
                view_file(reg, table, src)
            else:
                stage_file(reg, table, src)
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:  # a corrupt Parquet file, an unreadable CSV: name the file, no traceback
            raise InputError(f"cannot read: {duckdb_message(exc)}", str(file)) from None
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


# Parquet column types read as they are: the text round trip (CAST AS VARCHAR, TRY_CAST back) gives
# exactly the same value for these, so it is skipped. FLOAT and DECIMAL do take the text route (a
# FLOAT 0.1 reads as the double 0.1 through its text, not as 0.100000001).
_NUMERIC = frozenset(
    {"DOUBLE", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"}
)
_NATIVE = {"date": frozenset({"DATE", "TIMESTAMP"}), "number": _NUMERIC, "measure": _NUMERIC}


@dataclass(frozen=True)
class _Source:
    """One registry file as a FROM item: ``rid`` is a row's 0-based position among the file's rows."""

    relation: str
    rid: str
    types: dict[str, str]
    label: str
    line: Callable[[str], str]


# DuckDB's default is 2 MB; a longer line is reported with the file name (one bad value, not the whole table).
MAX_CSV_LINE = 32 * 1024 * 1024


def _csv_header(file: Path) -> list[str]:
    """The column names of a CSV file's first line (comma-separated, double quotes)."""
    import csv
    import gzip

    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read the header line: {exc}", str(file)) from None
    if not header or not any(h.strip() for h in header):
        raise InputError("no header line (the first line names the columns)", str(file))
    return [h.strip() for h in header]


def _check_line_endings(file: Path) -> None:
    """'\\r\\r\\n' (a file converted to Windows line endings twice) stops DuckDB's CSV sniffer."""
    if file.suffix != ".csv":
        return
    with file.open("rb") as fh:
        head = fh.read(1 << 16)
    if b"\r\r\n" in head:
        raise InputError(
            "lines end in '\\r\\r\\n' (converted to Windows line endings twice): convert to '\\n'", str(file)
        )


def _source(reg: Registry, table: str, file: Path) -> _Source:
    """The file as a relation: Parquet is scanned in place; CSV is read once as text (line numbers kept)."""
    con = reg.con
    name = lit(str(file))
    if file.suffix == ".parquet":
        relation = f"read_parquet({name}, file_row_number = true)"
        types = {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
        types.pop("file_row_number", None)
        src = _Source(relation, "file_row_number", types, file.name, lambda rid: f"{rid} + 1")
    else:
        _check_header(file)
        rej = f"csvrej_{table}"
        _check_line_endings(file)
        # The columns come from the header line, not DuckDB's sniffer: the sniffer never returned on a
        # file whose only data row is longer than 2 MB.
        columns = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in _csv_header(file)) + "}"
        reader = (
            f"read_csv({name}, header = true, all_varchar = true, store_rejects = true, "
            f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', columns = {columns}, "
            f"max_line_size = {MAX_CSV_LINE}, "
            f"rejects_table = {lit(rej)}, rejects_scan = {lit('csvscan_' + table)})"
        )
        # rowid is the line order only when the table is filled in file order.
        con.execute("SET preserve_insertion_order = true")
        try:
            con.execute(f"CREATE OR REPLACE TABLE src_{table} AS SELECT * FROM {reader}")
        finally:
            con.execute("SET preserve_insertion_order = false")
        types = {str(r[0]): "VARCHAR" for r in con.execute(f"DESCRIBE src_{table}").fetchall()}
        con.execute(
            f"""INSERT INTO rejects SELECT {lit(file.name)}, line, NULL,
                       csv_line, 'malformed line: ' || error_type || ' (' || error_message || ')', false
                FROM {rej}"""
        )
        bad_lines = con.execute(f"SELECT COUNT(*) FROM {rej}").fetchone()
        if bad_lines is not None and bad_lines[0]:
            # Good row k sits at physical line k + 2 (header on line 1) plus the lines DuckDB rejected
            # before it; a rejected line r (0-based rank i among rejected lines) has r - 2 - i good rows
            # before it.
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE gap_{table} AS
                    SELECT line::BIGINT - 2 - (ROW_NUMBER() OVER (ORDER BY line) - 1) AS good_before
                    FROM {rej}"""
            )

            def line(rid: str) -> str:
                return f"{rid} + 2 + (SELECT COUNT(*) FROM gap_{table} g WHERE g.good_before <= {rid})"
        else:

            def line(rid: str) -> str:
                return f"{rid} + 2"

        src = _Source(f"src_{table}", "rowid", types, file.name, line)
    if "patient_id" not in src.types:
        raise InputError("no patient_id column", str(file))
    for c in SCHEMA[table]:
        if c.name not in src.types and c.name not in OPTIONAL_COLUMNS:
            reg.notes.append(f"{file.name}: no column '{c.name}' (read as empty)")
    return src


def _check_header(file: Path) -> None:
    """Refuse a CSV header that names a column twice: DuckDB would rename the second ('sex_1') and
    the first would silently win."""
    import csv
    import gzip

    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # (the CSV reader reports an unreadable file itself)
    names = [h.strip() for h in header]
    dups = sorted({h for h in names if names.count(h) > 1})
    if dups:
        raise InputError(f"the header names column(s) {', '.join(dups)} more than once: keep one of each", str(file))


def _text(c: Column, types: dict[str, str]) -> str:
    """The column as trimmed text, empty = NULL (a missing column is all NULL)."""
    if c.name not in types:
        return "NULL::VARCHAR"
    col = f'"{c.name}"'
    return f"NULLIF(TRIM({col if types[c.name] == 'VARCHAR' else f'CAST({col} AS VARCHAR)'}), '')"


# A day, optionally with a time of day (and zone): what the text route reads as a date.
_DAY_TEXT = r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"


def _typed(c: Column, types: dict[str, str]) -> tuple[str, str | None, str | None]:
    """(typed value, the offending text when a present value does not convert, the reason) for column c."""
    col = f'"{c.name}"'
    native = types.get(c.name) in _NATIVE.get(c.kind, ())
    if c.kind == "date":
        # DuckDB also reads 'epoch', 'infinity', BC dates and years past 9999 as dates; none is a day a
        # patient record can mean (and Python cannot hold them), so only YYYY-MM-DD[ time] in years
        # 0001-9999 is read, in text and in DATE/TIMESTAMP columns alike.
        if native:
            ok = f"isfinite({col}) AND year({col}) BETWEEN 1 AND 9999"
            return (
                f"CASE WHEN {ok} THEN CAST({col} AS DATE) END",
                f"CASE WHEN NOT ({ok}) THEN CAST({col} AS VARCHAR) END",
                "not a date in years 0001-9999",
            )
        raw = _text(c, types)
        cast = f"COALESCE(TRY_CAST({raw} AS DATE), TRY_CAST(TRY_CAST({raw} AS TIMESTAMP) AS DATE))"
        typed = f"CASE WHEN regexp_full_match({raw}, {lit(_DAY_TEXT)}) AND year({cast}) >= 1 THEN {cast} END"
        return typed, f"CASE WHEN ({typed}) IS NULL THEN {raw} END", "not a date (YYYY-MM-DD)"
    if c.kind in ("number", "measure"):
        floor, reason = ("", "not a finite number") if c.kind == "number" else (" >= 0", MEASURE_REASON)
        if native:
            ok = f"isfinite({col}) AND {col}{floor}" if floor else f"isfinite({col})"
            return (
                f"CASE WHEN {ok} THEN CAST({col} AS DOUBLE) END",
                f"CASE WHEN NOT ({ok}) THEN CAST({col} AS VARCHAR) END",
                reason,
            )
        raw = _text(c, types)
        number = f"TRY_CAST({raw} AS DOUBLE)"
        typed = f"CASE WHEN isfinite({number}){f' AND {number}{floor}' if floor else ''} THEN {number} END"
        return typed, f"CASE WHEN ({typed}) IS NULL THEN {raw} END", reason
    raw = _text(c, types)
    if c.kind in ("sex", "result", "status"):
        allowed = {"sex": SEXES, "result": RESULTS, "status": STATUSES}[c.kind]
        values = ", ".join(lit(v) for v in allowed)
        reason = f"not one of {', '.join(allowed)}"
        bad = f"CASE WHEN lower({raw}) NOT IN ({values}) THEN {raw} END"
        if c.kind == "status":  # blank: the native default; unreadable: reported, and 'unknown' (never 'active')
            known = f"WHEN lower({raw}) IN ({values}) THEN lower({raw})"
            return f"CASE WHEN {raw} IS NULL THEN 'active' {known} ELSE 'unknown' END", bad, reason
        return f"CASE WHEN lower({raw}) IN ({values}) THEN lower({raw}) END", bad, reason
    return raw, None, None


#: A ``measure`` value that is not a finite number, or is negative (see patient.BELOW_ZERO: no analyte
#: the vocabulary knows can be below zero).
MEASURE_REASON = "not a finite number at or above zero"

_KEY = "CAST(hash(system, code, concept, text) >> 1 AS BIGINT)"

_KEPT_UNKNOWN = " (kept as unknown)"
# An end that was given but cannot be read is not "no end": an empty end means *ongoing* (medications)
# and an empty abatement leaves the blank-status default 'active' (conditions). So the row's other fields
# say "ended, on a day we cannot read": the exposure dates (medications) or the status (conditions) become
# unknown, which the evaluator and the SQL both read as unknown, never as ongoing.
_KEPT = {
    ("medications", "end"): " (kept; the exposure dates are unknown, never 'ongoing')",
    ("conditions", "abatement"): " (kept; the status is unknown unless given as ended)",
}
# (column set, its value) for the rows whose end did not convert.
_END_UNKNOWN = {
    ("medications", "end"): ("start_date", "NULL"),
    ("conditions", "abatement"): ("status", "'unknown'"),
}
_ENDED_STATUSES = ("inactive", "remission", "resolved")


def _end_unreadable(table: str, helper: str) -> str:
    """SQL: the row's end value did not convert (and, for a condition, its status does not say it ended)."""
    ended = f" AND status NOT IN ({', '.join(lit(s) for s in _ENDED_STATUSES)})" if table == "conditions" else ""
    return f"{helper} IS NOT NULL{ended}"


def _end_unknown(con: duckdb.DuckDBPyConnection, table: str, bads: Sequence[tuple[Column, str]]) -> None:
    """Apply ``_END_UNKNOWN`` to the staged rows whose end value did not convert (see ``_KEPT``)."""
    for c, helper in bads:
        update = _END_UNKNOWN.get((table, c.name))
        if update is None:
            continue
        target, value = update
        con.execute(f"UPDATE stage_{table} SET {target} = {value} WHERE {_end_unreadable(table, helper)}")


@dataclass(frozen=True)
class _Scan:
    """One file's rows typed as the staged table's columns, with the text of every unconvertible value."""

    inner: str  # SELECT rid, <typed columns>, <bad_i> FROM the file
    bads: list[tuple[Column, str]]  # (column, its bad_i helper)
    helper: list[str]  # the bad_i names ("bad_" alone when there are none)

    def helpers(self) -> str:
        return ", ".join(self.helper)


def _scan(table: str, src: _Source) -> _Scan:
    typed: list[str] = []
    bads: list[tuple[Column, str]] = []
    for i, c in enumerate(SCHEMA[table]):
        value, bad, reason = _typed(c, src.types)
        typed.append(f"{value} AS {c.target}")
        if bad is not None and reason is not None and c.name in src.types:
            typed.append(f"{bad} AS bad_{i}")
            bads.append((c, f"bad_{i}"))
    inner = f"SELECT {src.rid}::BIGINT AS rid, {', '.join(typed)} FROM {src.relation}"
    return _Scan(inner, bads, [b for _, b in bads] or ["NULL AS bad_"])


def _record_columns(table: str, scan: _Scan, extra: str = "") -> str:
    """SELECT list of a record table's staged shape (before the helpers are dropped) over ``scan.inner``."""
    rest = staged_columns(table)[3:]
    return (
        f"SELECT patient_id, rid, {_KEY} AS rkey, {', '.join(rest)}, system, code, concept, text, "
        f"{scan.helpers()}{extra} FROM ({scan.inner})"
    )


_NOTHING = "s.code IS NULL AND s.concept IS NULL AND s.text IS NULL"


def _record_reports(table: str, src: _Source, scan: _Scan, rel: str) -> tuple[list[str], str]:
    """(report queries over ``rel``, the condition of the rows left out) for a record table."""
    reports = _value_reports(table, src, scan, rel)
    # Membership is checked on the stored (dictionary-compressed) table: much cheaper than joining
    # while scanning the file.
    reports.append(
        f"""SELECT s.rid, CASE WHEN p.patient_id IS NULL THEN 'patient_id' ELSE 'code' END AS col,
                   CASE WHEN p.patient_id IS NULL THEN s.patient_id END AS val,
                   CASE WHEN s.patient_id IS NULL THEN 'missing patient_id (row left out)'
                        WHEN p.patient_id IS NULL THEN 'patient_id not in the patients table (row left out)'
                        ELSE 'no code, concept or text: the row names nothing (row left out)' END AS reason,
                   false AS kept
            FROM {rel} s LEFT JOIN patients p ON p.patient_id = s.patient_id
            WHERE p.patient_id IS NULL OR ({_NOTHING})"""
    )
    drop = f"s.patient_id IS NULL OR s.patient_id NOT IN (SELECT patient_id FROM patients) OR ({_NOTHING})"
    unknown = _unknown_concept("s.concept")  # (a typo would make the row invisible, and closed world
    reports.append(  # would then read "no record of ...")
        f"""SELECT s.rid, 'concept' AS col, s.concept AS val, {lit(UNKNOWN_CONCEPT + " (row left out)")} AS reason,
                   false AS kept
            FROM {rel} s JOIN patients p ON p.patient_id = s.patient_id
            WHERE NOT ({_NOTHING}) AND {unknown}"""
    )
    return reports, f"{drop} OR {unknown}"


def _value_reports(table: str, src: _Source, scan: _Scan, rel: str) -> list[str]:
    return [
        f"SELECT rid, {lit(c.name)} AS col, {b} AS val, {lit(reason + _KEPT.get((table, c.name), _KEPT_UNKNOWN))} "
        f"AS reason, true AS kept FROM {rel} WHERE {b} IS NOT NULL"
        for c, b in scan.bads
        for reason in [_typed(c, src.types)[2] or ""]
    ]


def _insert_reports(con: duckdb.DuckDBPyConnection, src: _Source, reports: Sequence[str]) -> None:
    con.execute(
        f"INSERT INTO rejects SELECT {lit(src.label)}, {src.line('rid')}, col, val, reason, kept FROM ("
        + " UNION ALL ".join(reports)
        + ")"
    )


def stage_file(reg: Registry, table: str, src: _Source) -> None:
    """One registry file -> the staged table, in one scan of the file, reporting every problem.

    The file is read once into ``stage_<table>`` (typed columns, descriptor key, and the text of every
    value that does not convert); the report is one query over that; the rows that cannot be kept are
    deleted and the helper columns dropped, so the staged table is the only copy of the file's rows.
    """
    con = reg.con
    scan = _scan(table, src)
    if table == "patients":
        con.execute(f"CREATE OR REPLACE TABLE stage_{table} AS {scan.inner}")
        reports = _value_reports(table, src, scan, f"stage_{table}")
        reports.append(
            f"""SELECT rid, 'patient_id' AS col, patient_id AS val,
                       CASE WHEN patient_id IS NULL THEN 'missing patient_id (row left out)'
                            ELSE 'duplicate patient_id (row left out; the first row is used)' END AS reason,
                       false AS kept
                FROM (SELECT rid, patient_id, MIN(rid) OVER (PARTITION BY patient_id) AS first FROM stage_{table})
                WHERE patient_id IS NULL OR rid > first"""
        )
        _insert_reports(con, src, reports)
        drop = (
            f"patient_id IS NULL OR rid NOT IN (SELECT MIN(rid) FROM stage_{table} "
            "WHERE patient_id IS NOT NULL GROUP BY patient_id)"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE patients AS SELECT patient_id, birth_date, sex FROM stage_{table} "
            f"WHERE NOT ({drop})"
        )
        con.execute(f"DROP TABLE stage_{table}")
        return
    con.execute(f"CREATE OR REPLACE TABLE stage_{table} AS {_record_columns(table, scan)}")
    _end_unknown(con, table, scan.bads)
    reports, drop = _record_reports(table, src, scan, f"stage_{table}")
    _insert_reports(con, src, reports)
    if table == "observations":
        _untrusted_ranges(con, lit(src.label), src.line("rid"), "stage_observations")
        con.execute(
            f"UPDATE stage_observations SET ref_low = NULL, ref_high = NULL WHERE coalesce({UNTRUSTED_RANGE}, false)"
        )
    con.execute(f"DELETE FROM stage_{table} s WHERE {drop}")
    con.execute(
        f"CREATE OR REPLACE TABLE keys_{table} AS SELECT DISTINCT rkey, system, code, concept, text FROM stage_{table}"
    )
    _check_keys(con, table)
    for h in [*([b for _, b in scan.bads] or ["bad_"]), "system", "code", "concept", "text"]:
        con.execute(f"ALTER TABLE stage_{table} DROP COLUMN {h}")
    con.execute(f"ALTER TABLE stage_{table} RENAME COLUMN rid TO rn")
    _drop_relation(con, table)
    con.execute(f"ALTER TABLE stage_{table} RENAME TO {table}")
    if src.relation == f"src_{table}":
        con.execute(f"DROP TABLE src_{table}")


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a staged table or view of that name, whichever it is."""
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_catalog = current_database()",
        [name],
    ).fetchone()
    if row is not None:
        con.execute(f"DROP {'VIEW' if row[0] == 'VIEW' else 'TABLE'} {name}")


def readable_in_place(table: str, src: _Source) -> bool:
    """A Parquet record table whose date and number columns are typed (no text to parse on every scan).

    FLOAT and DECIMAL columns qualify: they keep the text route of :func:`_typed` (a cast through
    their text, cheap next to parsing a date), so the values are the staged ones.
    """
    if table == "patients" or not src.relation.startswith("read_parquet("):
        return False

    def typed(c: Column) -> bool:
        kind = src.types.get(c.name)
        if kind is None or c.kind not in _NATIVE or kind in _NATIVE[c.kind]:
            return True
        return c.kind != "date" and (kind in ("FLOAT", "REAL") or kind.startswith("DECIMAL"))

    return all(typed(c) for c in SCHEMA[table])


def view_file(reg: Registry, table: str, src: _Source) -> None:
    """A record table read where it lies: a view over the Parquet file with the staged table's columns.

    The same rows and values as :func:`stage_file` (tests/test_batch_in_place.py compares them), in
    two scans of the file at load and none copied: one keeps the rows with a problem (normally none)
    in ``bad_<table>`` to report them exactly as staging does and to know which to leave out or
    change; one lists the distinct descriptors (``keys_<table>``, and ``rawkeys_<table>`` for the
    raw-code prefilter of :meth:`Registry.prefilter`). The view then leaves out those rows by
    position and applies the same end-unknown and untrusted-range rules, each only when the load
    found a row it applies to (so a clean file's view is a plain projection of the scan).
    The file must not change while the registry is in use (the manifest records its hash).
    """
    con = reg.con
    scan = _scan(table, src)
    code_is_text = src.types.get("code") == "VARCHAR"
    raw = ', "code" AS raw_code' if code_is_text else ", NULL::VARCHAR AS raw_code"
    rows = f"({_record_columns(table, scan, raw)})"
    unknown = _unknown_concept("s.concept")
    problem = [f"{b} IS NOT NULL" for _, b in scan.bads]
    problem += [
        "s.patient_id IS NULL",
        "NOT EXISTS (SELECT 1 FROM patients p WHERE p.patient_id = s.patient_id)",
        f"({_NOTHING})",
        unknown,
    ]
    if table == "observations":
        problem.append(f"coalesce({UNTRUSTED_RANGE}, false)")
    bad = f"bad_{table}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {bad} AS SELECT * FROM {rows} s WHERE {' OR '.join(problem)}")
    reports, drop = _record_reports(table, src, scan, bad)
    _insert_reports(con, src, reports)
    if table == "observations":
        _untrusted_ranges(con, lit(src.label), src.line("rid"), bad)
    con.execute(f"CREATE OR REPLACE TEMP TABLE gone_{table} AS SELECT rid FROM {bad} s WHERE {drop}")
    gone = _count(con, f"gone_{table}")
    keep = f"WHERE rid NOT IN (SELECT rid FROM gone_{table})" if gone else ""
    descriptor = "rkey, system, code, concept, text"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE allkeys_{table} AS SELECT DISTINCT {descriptor}, raw_code FROM {rows} {keep}"
    )
    con.execute(f"CREATE OR REPLACE TABLE keys_{table} AS SELECT DISTINCT {descriptor} FROM allkeys_{table}")
    _check_keys(con, table)
    con.execute(f"CREATE OR REPLACE TABLE rawkeys_{table} AS SELECT DISTINCT rkey, raw_code FROM allkeys_{table}")
    con.execute(f"DROP TABLE allkeys_{table}")
    columns = {c: c for c in staged_columns(table)[3:]}
    for c, b in scan.bads:  # (stage_file's _end_unknown, for the rows the load found)
        update = _END_UNKNOWN.get((table, c.name))
        if update is None or not _count(con, bad, f"{b} IS NOT NULL"):
            continue
        target, value = update
        columns[target] = f"CASE WHEN {_end_unreadable(table, b)} THEN {value} ELSE {target} END"
    if table == "observations" and _count(con, bad, f"coalesce({UNTRUSTED_RANGE}, false)"):
        for col in ("ref_low", "ref_high"):
            columns[col] = f"CASE WHEN coalesce({UNTRUSTED_RANGE}, false) THEN NULL ELSE {col} END"
    select = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    _drop_relation(con, table)
    con.execute(f"CREATE VIEW {table} AS SELECT patient_id, rid AS rn, rkey, {select}, raw_code FROM {rows} s {keep}")
    con.execute(f"DROP TABLE {bad}")
    if not gone:
        con.execute(f"DROP TABLE gone_{table}")
    reg.in_place[table] = code_is_text


def _count(con: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> int:
    row = con.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()
    return int(row[0]) if row else 0


#: SQL of patient.untrusted_range over columns ref_low, ref_high (the same test in every path).
UNTRUSTED_RANGE = "(ref_high <= 0 OR ref_low < 0 OR ref_low > ref_high)"


def _untrusted_ranges(con: duckdb.DuckDBPyConnection, label: str, line: str, rel: str) -> None:
    """Report the reference ranges ULN/LLN multiples cannot use (patient.BAD_RANGE); the caller drops them."""
    con.execute(
        f"""INSERT INTO rejects SELECT {label}, {line}, 'ref_high',
                   coalesce(CAST(ref_low AS VARCHAR), '') || '..' || coalesce(CAST(ref_high AS VARCHAR), ''),
                   {lit(BAD_RANGE)}, true
            FROM {rel} WHERE coalesce({UNTRUSTED_RANGE}, false)"""
    )


UNKNOWN_CONCEPT = "not a concept id of the vocabulary"


def _unknown_concept(column: str) -> str:
    """SQL: the column names a concept id the vocabulary does not have."""
    from ..concepts import default_vocabulary

    known = ", ".join(lit(c) for c in sorted(default_vocabulary().concepts))
    return f"({column} IS NOT NULL AND NOT list_contains([{known}], {column}))"


def _check_keys(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """rkey is a 63-bit hash of the descriptor; a collision would merge two descriptors, so it is checked."""
    row = con.execute(f"SELECT COUNT(*) - COUNT(DISTINCT rkey) FROM keys_{table}").fetchone()
    if row is not None and row[0]:
        raise InputError(f"{table}: descriptor hash collision; cannot key records safely")


def _finish(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """clean_<table> -> the staged table (+ descriptor keys for record tables)."""
    cols = SCHEMA[table]
    if table == "patients":
        con.execute("CREATE OR REPLACE TABLE patients AS SELECT patient_id, birth_date, sex FROM clean_patients")
        con.execute(f"DROP TABLE clean_{table}")
        return
    key = _KEY
    con.execute(
        f"CREATE OR REPLACE TABLE keys_{table} AS SELECT DISTINCT {key} AS rkey, system, code, concept, text "
        f"FROM clean_{table}"
    )
    _check_keys(con, table)
    rest = ", ".join(c.target for c in cols if c.name not in ("patient_id", "system", "code", "concept", "text"))
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT patient_id, rid AS rn, {key} AS rkey, {rest} FROM clean_{table}"
    )
    con.execute(f"DROP TABLE clean_{table}")


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


def raw_code_filter(raw_codes: Sequence[str | None], column: exp.Expression | None = None) -> exp.Expression:
    """The raw code is one of these (NULL included when listed); ``false`` for none."""
    col = column if column is not None else exp.column("raw_code")
    codes = sorted(c for c in raw_codes if c is not None)
    parts: list[exp.Expression] = []
    if codes:
        parts.append(exp.In(this=col.copy(), expressions=[exp.Literal.string(c) for c in codes]))
    if any(c is None for c in raw_codes):
        parts.append(exp.Is(this=col.copy(), expression=exp.null()))
    if not parts:
        return exp.false()
    return exp.paren(exp.or_(*parts)) if len(parts) > 1 else parts[0]
