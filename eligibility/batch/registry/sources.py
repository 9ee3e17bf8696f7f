"""Finding and opening a table's file (Parquet or CSV): header, line endings, column types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from ...io.csv_rejects import gather_csv_rejects, line_ending_problem
from .model import Registry
from .schema import OPTIONAL_COLUMNS, SCHEMA, lit


def _find(directory: Path, table: str) -> Path | None:
    found = [
        directory / f"{table}{s}" for s in (".parquet", ".csv", ".csv.gz") if (directory / f"{table}{s}").is_file()
    ]
    if len(found) > 1:  # one would silently win over the other
        names = " and ".join(p.name for p in found)
        raise InputError(f"both {names}: keep one file per table", str(directory))
    return found[0] if found else None


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
    problem = line_ending_problem(head)  # '\r\r\n', or '\n' and '\r\n' mixed
    if problem is not None:
        raise InputError(problem, str(file))


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
        rej = gather_csv_rejects(con, rej, file, file.name)  # one reject (and one gap) per bad line
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
