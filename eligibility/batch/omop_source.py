"""Where an OMOP CDM's tables are: a folder of CSV or Parquet files, a zip of them, or a DuckDB database.

Every CDM table the reader needs becomes one relation ``cdm_<table>`` in the registry's connection,
with lower-case column names, every needed column as text (missing ones NULL) and ``rid``, the row's
0-based position in its file -- so that :mod:`.omop` maps all four kinds of source with the same SQL
and reports a bad row by its line. Why text: CDM exports disagree on types (GiBleed keeps
``value_as_number`` as VARCHAR, CSVs have none); :mod:`.omop` converts with ``TRY_CAST`` and reports
what does not convert.

Source quirks handled here: file names in upper or lower case (``PERSON.csv``, ``person.csv``), a zip
with its CSVs in a sub-folder or with ``__MACOSX`` entries, tab- or comma-separated files (DuckDB's
sniffer), and an empty table stored with its header as its only data row (columns ``column0...``):
the header row becomes the column names and is reported, never read as a patient.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..errors import InputError
from .registry import lit

# The columns read from each table (every other column is ignored).
COLUMNS: dict[str, tuple[str, ...]] = {
    "person": ("person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "birth_datetime"),
    "observation_period": ("person_id", "observation_period_start_date", "observation_period_end_date"),
    "death": ("person_id", "death_date", "death_datetime"),
    "measurement": (
        "person_id",
        "measurement_concept_id",
        "measurement_date",
        "measurement_datetime",
        "value_as_number",
        "value_as_concept_id",
        "unit_concept_id",
        "unit_source_value",
        "range_low",
        "range_high",
        "measurement_source_value",
        "measurement_source_concept_id",
    ),
    "observation": (
        "person_id",
        "observation_concept_id",
        "observation_date",
        "observation_datetime",
        "value_as_number",
        "value_as_concept_id",
        "unit_concept_id",
        "unit_source_value",
        "observation_source_value",
        "observation_source_concept_id",
    ),
    "condition_occurrence": (
        "person_id",
        "condition_concept_id",
        "condition_start_date",
        "condition_start_datetime",
        "condition_end_date",
        "condition_source_value",
        "condition_source_concept_id",
    ),
    "drug_exposure": (
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_start_datetime",
        "drug_exposure_end_date",
        "days_supply",
        "drug_source_value",
        "drug_source_concept_id",
    ),
    "procedure_occurrence": (
        "person_id",
        "procedure_concept_id",
        "procedure_date",
        "procedure_datetime",
        "procedure_source_value",
        "procedure_source_concept_id",
    ),
    "concept": ("concept_id", "concept_name", "domain_id", "vocabulary_id", "standard_concept", "concept_code"),
    "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id", "invalid_reason"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
    "cdm_source": ("source_release_date", "cdm_release_date", "cdm_version"),
}
REQUIRED = ("person", "observation_period")
_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".txt", ".tsv")
_PLACEHOLDER = re.compile(r"column\d+")


@dataclass
class CdmTable:
    """One CDM table as staged: where it came from (for the rejects) and how its rows are numbered."""

    name: str
    label: str
    rows: int
    header_offset: int = 0  # CSV: the line of row 0 is rid + 2 (+ lines DuckDB rejected before it)


@dataclass
class CdmSource:
    """The tables found, and what the reader should say about the source."""

    tables: dict[str, CdmTable] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attached: bool = False
    unzipped: Path | None = None  # a zip's files, read by the views until close_source

    def has(self, table: str) -> bool:
        return table in self.tables and self.tables[table].rows > 0


def _table_files(folder: Path) -> dict[str, Path]:
    """CDM table name (lower case) -> file, for the files directly in ``folder``."""
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        name = file.name.lower()
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and not name.startswith("."):
                found.setdefault(name[: -len(suffix)], file)
    return found


def _cdm_folder(root: Path) -> Path | None:
    """The folder (root or one below it, never __MACOSX) holding person and observation_period files."""
    candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir() and "__MACOSX" not in p.parts)]
    for folder in candidates:
        files = _table_files(folder)
        if all(t in files for t in REQUIRED):
            return folder
    return None


def _duckdb_tables(path: Path) -> set[str]:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return set()
    try:
        return {str(r[0]).lower() for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        con.close()


def _is_duckdb_file(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(16)
    return head[8:12] == b"DUCK"


def is_omop(path: str | Path) -> bool:
    """An OMOP CDM: a folder or zip with person and observation_period tables, or a DuckDB file with them."""
    p = Path(path)
    if p.is_dir():
        return _cdm_folder(p) is not None
    if p.is_file() and zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            names = {Path(n).name.lower() for n in z.namelist() if "__MACOSX" not in n}
        return all(any(t + suffix in names for suffix in _SUFFIXES) for t in REQUIRED)
    if _is_duckdb_file(p):
        return all(t in _duckdb_tables(p) for t in REQUIRED)
    return False


@dataclass
class _Relation:
    sql: str  # a FROM item
    rid: str  # the row position expression
    columns: dict[str, str]  # lower-case name -> quoted name in the relation
    label: str


def _describe(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]


def _stage(con: duckdb.DuckDBPyConnection, src: CdmSource, table: str, rel: _Relation, offset: int) -> None:
    """cdm_<table>(rid, needed columns as text) from one relation; an empty table stored as its header
    (DuckDB's placeholder names ``column0``...) takes that row as its header and is reported."""
    columns = dict(rel.columns)
    skip_header = False
    if columns and all(_PLACEHOLDER.fullmatch(c) for c in columns):
        first = con.execute(f"SELECT * FROM {rel.sql} LIMIT 1").fetchone()
        if first is not None and all(isinstance(v, str) and re.fullmatch(r"[A-Za-z_]\w*", v) for v in first):
            columns = {str(v).lower(): q for v, q in zip(first, columns.values(), strict=True)}
            skip_header = True
    select = []
    for col in COLUMNS[table]:
        q = columns.get(col)
        select.append(f"CAST({q} AS VARCHAR) AS {col}" if q else f"NULL::VARCHAR AS {col}")
    # A view, not a copy: the source is scanned by the queries that map it (a CSV was read into a table).
    key = COLUMNS[table][0]
    keep = f"NOT (({rel.rid}) = 0)" if skip_header else "true"
    if key in columns:
        # A header row stored as data (repeated inside a CSV, or an empty table's only row): reported, never read.
        is_header = f"lower(trim(CAST({columns[key]} AS VARCHAR))) = {lit(key)}"
        for (rid,) in con.execute(f"SELECT {rel.rid} FROM {rel.sql} WHERE {is_header}").fetchall():
            con.execute(
                "INSERT INTO rejects VALUES (?, ?, ?, ?, ?, false)",
                [rel.label, int(rid) + offset, key, key, "header row stored as data (row left out)"],
            )
        keep = f"{keep} AND NOT COALESCE({is_header}, false)"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW cdm_{table} AS SELECT ({rel.rid})::BIGINT AS rid, {', '.join(select)} "
        f"FROM {rel.sql} WHERE {keep}"
    )
    missing = [c for c in COLUMNS[table] if c not in columns and table in ("person", "observation_period")]
    if missing:
        src.notes.append(f"{rel.label}: no column {', '.join(missing)} (read as empty)")
    row = con.execute(f"SELECT COUNT(*) FROM cdm_{table}").fetchone()
    src.tables[table] = CdmTable(table, rel.label, int(row[0]) if row else 0, offset)


def _csv(con: duckdb.DuckDBPyConnection, src: CdmSource, table: str, file: Path) -> None:
    """A CSV (any case, comma or tab) read as text once; malformed lines reported with their line number."""
    rej = f"csvrej_{table}"
    reader = (
        f"read_csv({lit(str(file))}, header = true, all_varchar = true, store_rejects = true, "
        f"rejects_table = {lit(rej)}, rejects_scan = {lit('csvscan_' + table)})"
    )
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE raw_{table} AS SELECT * FROM {reader}")
    finally:
        con.execute("SET preserve_insertion_order = false")
    con.execute(
        f"""INSERT INTO rejects SELECT {lit(file.name)}, line, NULL, csv_line,
                   'malformed line: ' || error_type || ' (' || error_message || ')', false FROM {rej}"""
    )
    bad = con.execute(f"SELECT COUNT(*) FROM {rej}").fetchone()
    if bad and bad[0]:
        src.notes.append(f"{file.name}: {bad[0]} malformed line(s) left out; later line numbers may be approximate")
    columns = {c.lower(): f'"{c}"' for c in _describe(con, f"raw_{table}")}
    _stage(con, src, table, _Relation(f"raw_{table}", "rowid", columns, file.name), 2)


def _parquet(con: duckdb.DuckDBPyConnection, src: CdmSource, table: str, file: Path) -> None:
    relation = f"read_parquet({lit(str(file))}, file_row_number = true)"
    columns = {c.lower(): f'"{c}"' for c in _describe(con, relation) if c != "file_row_number"}
    _stage(con, src, table, _Relation(relation, "file_row_number", columns, file.name), 1)


def _folder(con: duckdb.DuckDBPyConnection, src: CdmSource, folder: Path) -> None:
    files = _table_files(folder)
    for table in COLUMNS:
        file = files.get(table)
        if file is None:
            continue
        if file.name.lower().endswith(".parquet"):
            _parquet(con, src, table, file)
        else:
            _csv(con, src, table, file)


def _duckdb(con: duckdb.DuckDBPyConnection, src: CdmSource, path: Path) -> None:
    """The tables of a DuckDB CDM file, attached read-only (the views read it until :func:`close_source`)."""
    con.execute(f"ATTACH {lit(str(path))} AS cdm_src (READ_ONLY)")
    src.attached = True
    try:
        rows = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = 'cdm_src' "
            "ORDER BY table_schema = 'main' DESC, table_schema"
        ).fetchall()
        where: dict[str, str] = {}
        for schema, name in rows:
            where.setdefault(str(name).lower(), f'cdm_src."{schema}"."{name}"')
        for table in COLUMNS:
            if table in where:
                relation = where[table]
                columns = {c.lower(): f'"{c}"' for c in _describe(con, relation)}
                _stage(con, src, table, _Relation(relation, "rowid", columns, table), 1)
    except BaseException:
        close_source(con, src)
        raise


def close_source(con: duckdb.DuckDBPyConnection, src: CdmSource) -> None:
    """Drop the ``cdm_<table>`` views (and CSV copies) and detach a DuckDB source, once the load is done."""
    for table in list(src.tables):
        con.execute(f"DROP VIEW IF EXISTS cdm_{table}")
        con.execute(f"DROP TABLE IF EXISTS raw_{table}")
    if src.attached:
        con.execute("DETACH DATABASE IF EXISTS cdm_src")
        src.attached = False
    if src.unzipped is not None:
        shutil.rmtree(src.unzipped, ignore_errors=True)
        src.unzipped = None


def read_source(con: duckdb.DuckDBPyConnection, path: Path) -> CdmSource:
    """Stage every CDM table the reader uses from a folder, zip or DuckDB file into ``cdm_<table>``."""
    src = CdmSource()
    if path.is_dir():
        folder = _cdm_folder(path)
        if folder is None:
            raise InputError("not an OMOP CDM: no person and observation_period tables", str(path))
        _folder(con, src, folder)
    elif path.is_file() and zipfile.is_zipfile(path):
        tmp = Path(tempfile.mkdtemp(prefix="eligibility-omop-"))
        src.unzipped = tmp
        try:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if "__MACOSX" in info.filename or info.is_dir():
                        continue
                    target = (tmp / info.filename).resolve()
                    if tmp.resolve() not in target.parents:
                        raise InputError(f"zip entry outside the archive folder: {info.filename}", str(path))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as fin, target.open("wb") as fout:
                        shutil.copyfileobj(fin, fout)
            folder = _cdm_folder(tmp)
            if folder is None:
                raise InputError("not an OMOP CDM: no person and observation_period tables in the zip", str(path))
            _folder(con, src, folder)
        except BaseException:
            close_source(con, src)
            raise
    elif _is_duckdb_file(path):
        _duckdb(con, src, path)
    else:
        raise InputError("not an OMOP CDM (a folder, a .zip or a DuckDB database file)", str(path))
    for table in REQUIRED:
        if table not in src.tables:
            raise InputError(f"not an OMOP CDM: no {table} table", str(path))
    return src
