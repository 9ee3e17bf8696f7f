"""Typed checks and the rejects report: TRY_CAST per column kind, reasons, kept-as-unknown values,
end-unknown rules, untrusted ranges, unknown concepts; _finish registers a clean table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from ...errors import InputError
from ...patient import (
    BAD_RANGE,
)
from .schema import RESULTS, SCHEMA, SEXES, STATUSES, Column, lit, staged_columns
from .sources import _NATIVE, _Source


def _create_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE rejects (file VARCHAR, line BIGINT, col VARCHAR, val VARCHAR, "
        "reason VARCHAR, kept BOOLEAN)"
    )


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


def _scan(table: str, src: _Source, verbatim: Sequence[str] = ()) -> _Scan:
    """The typed scan of ``src``; each column named in ``verbatim`` is also passed through as the file
    holds it, as ``raw_<name>`` (a filter on it is a filter on the file's own column)."""
    typed: list[str] = []
    bads: list[tuple[Column, str]] = []
    for i, c in enumerate(SCHEMA[table]):
        value, bad, reason = _typed(c, src.types)
        typed.append(f"{value} AS {c.target}")
        if bad is not None and reason is not None and c.name in src.types:
            typed.append(f"{bad} AS bad_{i}")
            bads.append((c, f"bad_{i}"))
    typed += [f'"{name}" AS raw_{name}' for name in verbatim]
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
    from ...concepts import default_vocabulary

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
