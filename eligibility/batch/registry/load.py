"""Loading a registry folder: the DuckDB connection, then each table staged (copied with typed checks)
or viewed in place (a Parquet file read where it lies, the same checks as a streaming rejects pass)."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Literal

import duckdb

from ...errors import InputError
from ..staging import STAGING_PREFIX, duckdb_message
from .model import Registry
from .rejects import (
    _END_UNKNOWN,
    _NOTHING,
    UNTRUSTED_RANGE,
    _check_keys,
    _count,
    _create_rejects,
    _end_unknown,
    _end_unreadable,
    _finish,
    _insert_reports,
    _record_columns,
    _record_reports,
    _Scan,
    _scan,
    _unknown_concept,
    _untrusted_ranges,
    _value_reports,
)
from .schema import _SQL_TYPE, RECORD_TABLES, SCHEMA, Column, lit, staged_columns
from .sources import _NATIVE, _find, _Source, _source

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
    from ..omop import is_omop, load_omop  # (an OMOP CDM: batch/omop.py)

    if registry_format == "omop" or (registry_format == "auto" and is_omop(path)):
        return load_omop(path, con)
    if not path.is_dir():
        raise InputError("not a folder", str(path))
    from ..fhir import is_fhir_bulk, load_fhir_bulk  # (a FHIR Bulk Data NDJSON folder: batch/fhir.py)

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


def _empty(con: duckdb.DuckDBPyConnection, table: str) -> None:
    cols = ", ".join(f"NULL::{_SQL_TYPE[c.kind]} AS {c.target}" for c in SCHEMA[table])
    con.execute(f"CREATE OR REPLACE TEMP TABLE clean_{table} AS SELECT 0::BIGINT AS rid, {cols} LIMIT 0")
    _finish(con, table)


def stage_file(reg: Registry, table: str, src: _Source) -> None:
    """One registry file -> the staged table, in one scan of the file, reporting every problem.

    The file is read once into ``stage_<table>`` (typed columns, descriptor key, and the text of every
    value that does not convert); the report is one query over that; the rows that cannot be kept are
    deleted and the helper columns dropped, so the staged table is the only copy of the file's rows.
    """
    con = reg.con
    scan = _scan(table, src)
    if table == "patients":
        _stage_patients(reg, src, scan)
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


def _stage_patients(reg: Registry, src: _Source, scan: _Scan) -> None:
    """The patients file -> ``patients``: every id once (the first row of an id is used; a missing id or a
    repeated one is reported and left out), values typed as every table's are.

    Why the count first: ids are nearly always present and unique, and then the table is the typed scan
    with its helper columns dropped; the window over all ids (to report each repeat) and the anti-join
    (to keep each id's first row) are run only when the count says an id is missing or repeated. At 10M
    patients the two took 13 of the 18 s CPU of staging the patients.
    """
    con = reg.con
    stage = "stage_patients"
    con.execute(f"CREATE OR REPLACE TABLE {stage} AS {scan.inner}")
    row = con.execute(f"SELECT COUNT(*), COUNT(patient_id), COUNT(DISTINCT patient_id) FROM {stage}").fetchone()
    clean = row is not None and row[0] == row[1] == row[2]
    reports = _value_reports("patients", src, scan, stage)
    if not clean:
        reports.append(
            f"""SELECT rid, 'patient_id' AS col, patient_id AS val,
                       CASE WHEN patient_id IS NULL THEN 'missing patient_id (row left out)'
                            ELSE 'duplicate patient_id (row left out; the first row is used)' END AS reason,
                       false AS kept
                FROM (SELECT rid, patient_id, MIN(rid) OVER (PARTITION BY patient_id) AS first FROM {stage})
                WHERE patient_id IS NULL OR rid > first"""
        )
    if reports:
        _insert_reports(con, src, reports)
    _drop_relation(con, "patients")
    if clean:
        for helper in ["rid", *(b for _, b in scan.bads)]:
            con.execute(f"ALTER TABLE {stage} DROP COLUMN {helper}")
        con.execute(f"ALTER TABLE {stage} RENAME TO patients")
    else:
        drop = (
            f"patient_id IS NULL OR rid NOT IN (SELECT MIN(rid) FROM {stage} "
            "WHERE patient_id IS NOT NULL GROUP BY patient_id)"
        )
        con.execute(f"CREATE TABLE patients AS SELECT patient_id, birth_date, sex FROM {stage} WHERE NOT ({drop})")
        con.execute(f"DROP TABLE {stage}")
    if src.relation == "src_patients":  # a CSV file's text copy
        con.execute("DROP TABLE src_patients")


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
    # The file's own code and patient_id text next to the typed (trimmed) columns: a filter on a typed
    # column is a filter on an expression (TRIM of every value of the file, no row group skipped), one
    # on the file's column is applied by the Parquet reader (see _verbatim_ids).
    code_is_text = src.types.get("code") == "VARCHAR"
    id_is_text = src.types.get("patient_id") == "VARCHAR"
    scan = _scan(table, src, [name for name, text in (("code", code_is_text), ("patient_id", id_is_text)) if text])
    raw = ", raw_code" if code_is_text else ", NULL::VARCHAR AS raw_code"
    raw += (
        ", raw_patient_id, raw_patient_id IS DISTINCT FROM patient_id AS id_trimmed"
        if id_is_text
        else ", true AS id_trimmed"
    )
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
    gone = 0
    if _count(con, bad):  # (the reports join the patients: nothing to join for a clean file)
        reports, drop = _record_reports(table, src, scan, bad)
        _insert_reports(con, src, reports)
        if table == "observations":
            _untrusted_ranges(con, lit(src.label), src.line("rid"), bad)
        con.execute(f"CREATE OR REPLACE TEMP TABLE gone_{table} AS SELECT rid FROM {bad} s WHERE {drop}")
        gone = _count(con, f"gone_{table}")
    keep = f"WHERE rid NOT IN (SELECT rid FROM gone_{table})" if gone else ""
    descriptor = "rkey, system, code, concept, text"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE allkeys_{table} AS SELECT DISTINCT {descriptor}, raw_code, id_trimmed "
        f"FROM {rows} {keep}"
    )
    verbatim_ids = not _count(con, f"allkeys_{table}", "id_trimmed")
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
    # Every kept row's patient_id is the file's own text (no blank, no space trimmed): the view gives the
    # file's column, the same values, so a range of patient ids (partitions.in_partition) and a join key
    # reach the Parquet reader, which skips the row groups outside the range by their statistics.
    pid = "raw_patient_id" if verbatim_ids else "patient_id"
    con.execute(
        f"CREATE VIEW {table} AS SELECT {pid} AS patient_id, rid AS rn, rkey, {select}, raw_code FROM {rows} s {keep}"
    )
    con.execute(f"DROP TABLE {bad}")
    if not gone:
        con.execute(f"DROP TABLE IF EXISTS gone_{table}")
    reg.in_place[table] = code_is_text
