"""One reject per malformed CSV line, from DuckDB's ``store_rejects`` table.

DuckDB's CSV reader records one row per *error*, not per line: a line with five values under a
three-column header is two rows ("Found: 4", "Found: 5"), a line with one value under a seven-column
header is six. Copied as they are, one bad line was reported seven times, and the registry's mapping
from row number to line number (which counts the rejected lines before a row) drifted by the extra
rows. Here the errors are grouped by line: one reject naming the file, the line, the first column
concerned and the reason in plain words.

An unbalanced quote is the one error that costs more than its line: the quoted value runs to the end
of the file, so every line after it is lost too. Its reject says so, with the line range.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import duckdb

__all__ = ["gather_csv_rejects", "line_ending_problem"]

_CHUNK = 1 << 20


def _last_line(file: Path) -> int:
    """The number of the file's last line (1-based; a final line without a newline counts)."""
    opener = gzip.open if file.name.endswith(".gz") else open
    count = 0
    last = b"\n"
    with opener(file, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count if last == b"\n" else count + 1


_QUOTED = re.compile(rb'"(?:[^"]|"")*"')


def line_ending_problem(head: bytes) -> str | None:
    """Why DuckDB's CSV reader cannot read a file starting with ``head``, if its line endings say so.

    '\\r\\r\\n' (converted to Windows line endings twice) stops the reader; so do lines ending in
    '\\n' and others in '\\r\\n' in one file (it stopped with "The CSV Parser state machine reached
    an invalid state"). A line break inside a quoted value is data, not a line ending, and is not counted.
    """
    if b"\r\r\n" in head:
        return "lines end in '\\r\\r\\n' (converted to Windows line endings twice): convert to '\\n'"
    text = _QUOTED.sub(b"", head[:-1] if head.endswith(b"\r") else head)
    crlf = text.count(b"\r\n")
    if crlf and text.count(b"\n") > crlf:
        return "some lines end in '\\n' and others in '\\r\\n': convert the file to one line ending ('\\n')"
    return None


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def gather_csv_rejects(con: duckdb.DuckDBPyConnection, rej: str, file: Path, label: str) -> str:
    """Insert one reject per bad line of ``file`` (DuckDB rejects table ``rej``) into ``rejects``.

    Returns the name of a temporary table with one row per bad line (column ``line``), for the
    caller's row-to-line mapping.
    """
    lines = f"{rej}_lines"
    con.execute(
        rf"""CREATE OR REPLACE TEMP TABLE {lines} AS
        WITH r AS (
            SELECT line::BIGINT AS line, column_idx, column_name, error_type, csv_line, error_message,
                   CASE error_type WHEN 'UNQUOTED VALUE' THEN 0 WHEN 'INVALID ENCODING' THEN 1
                        WHEN 'TOO MANY COLUMNS' THEN 2 WHEN 'MISSING COLUMNS' THEN 2 ELSE 3 END AS prio,
                   TRY_CAST(regexp_extract(error_message, 'Found: (\d+)', 1) AS BIGINT) AS found,
                   TRY_CAST(regexp_extract(error_message, 'Columns: (\d+)', 1) AS BIGINT) AS expected
            FROM {rej}),
        first AS (SELECT line, MIN(prio) AS prio FROM r GROUP BY line)
        SELECT line, any_value(error_type) AS error_type, arg_min(column_name, column_idx) AS col,
               any_value(error_message) AS message, MAX(found) AS most, MIN(found) AS fewest,
               any_value(expected) AS expected,
               left(split_part(ltrim(any_value(csv_line), chr(13) || chr(10)), chr(10), 1), 200) AS val
        FROM r JOIN first USING (line, prio)
        GROUP BY line"""
    )
    quote = con.execute(f"SELECT MIN(line) FROM {lines} WHERE error_type = 'UNQUOTED VALUE'").fetchone()
    last = _last_line(file) if quote is not None and quote[0] is not None else 0
    con.execute(
        f"""INSERT INTO rejects
        SELECT {_lit(label)}, line, col, rtrim(val, chr(13)),
            CASE error_type
            WHEN 'UNQUOTED VALUE' THEN
                'unbalanced quote: the quote opened in ' || coalesce('column ''' || col || '''', 'this line')
                || ' is never closed, so '
                || CASE WHEN {last} > line
                        THEN 'lines ' || line || '-' || {last} || ' (the rest of the file) were not read'
                        ELSE 'the line was not read' END
            WHEN 'INVALID ENCODING' THEN 'not UTF-8 text (line left out)'
            WHEN 'TOO MANY COLUMNS' THEN
                'malformed line: ' || coalesce(most::VARCHAR, 'more') || ' values where the header names '
                || coalesce(expected::VARCHAR, 'fewer') || ' columns (line left out)'
            WHEN 'MISSING COLUMNS' THEN
                'malformed line: ' || coalesce(fewest::VARCHAR, 'fewer') || ' value(s) where the header names '
                || coalesce(expected::VARCHAR, 'more') || ' columns (line left out)'
            WHEN 'LINE SIZE OVER MAXIMUM' THEN 'line too long to read (line left out)'
            ELSE 'malformed line: ' || lower(error_type) || ' (' || message || ') (line left out)'
            END,
            false
        FROM {lines}"""
    )
    return lines
