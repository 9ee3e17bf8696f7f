"""Patients in partitions: the shared pass of a large registry computed one range of patient ids at a time.

Why: the shared pass groups every record table by patient; DuckDB's hash aggregates and joins hold a
few hundred bytes a patient and leaf, so a registry of tens of millions of patients outgrows the memory
limit (and DuckDB's spilling of those operators is slow). Every leaf of the plan is a function of one
patient's own rows, so the same query run over the patients of one bucket (applied to every table that
has a ``patient_id``) gives exactly that bucket's rows.

Buckets are *ranges* of patient id (cut at quantiles of the patients table), not hash buckets: each
bucket's rows are appended sorted, so the shared table is sorted by patient id as a whole, and the results
are written in that order without sorting them again per trial. A NULL id (rejected by the typed checks,
but a filter must not lose or double a row whatever comes) falls in the first bucket. The rows are
identical whatever K is.
"""

from __future__ import annotations

import math
import re

import duckdb
import sqlglot.expressions as exp

#: Bytes of memory a patient's row of the shared pass is planned to need while it is computed, measured:
#: DuckDB's peak buffer memory for the shared pass of NCT06352281 at 1M patients read in place was 627 MB
#: (profiling_mode json, after the lab picks were merged into one aggregate).
BYTES_PER_PATIENT = 650
#: How far past the memory limit one partition's plan may go: DuckDB spills the shared pass's hash
#: aggregates and joins to the temp folder. Measured at 10M x 1 with the 3 GB limit (plan ~6.3 GB): one
#: pass completed (91 s CPU, 3.1 GB peak RSS) and so did 3 range buckets (~120 s CPU, each bucket reads
#: every file again, 2.6 GB peak RSS); beyond about twice the limit nothing was measured, so the plan is
#: cut there.
SPILL = 2.0

_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_UNITS["TIB"] = 2**40


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> float | None:
    """The connection's memory_limit in bytes (DuckDB prints it as e.g. '2.7 GiB'); None when unreadable."""
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    found = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(row[0]) if row else "")
    if found is None or found.group(2).upper() not in _UNITS:
        return None
    return float(found.group(1)) * _UNITS[found.group(2).upper()]


def partition_count(con: duckdb.DuckDBPyConnection, patients: int) -> int:
    """K buckets so that one bucket's shared pass plans for at most SPILL times the memory limit (1 when it fits)."""
    limit = memory_limit_bytes(con)
    if limit is None or patients <= 0:
        return 1
    return max(1, math.ceil(patients * BYTES_PER_PATIENT / (limit * SPILL)))


def patient_tables(con: duckdb.DuckDBPyConnection, query: exp.Query) -> set[str]:
    """The registry tables the query reads that have a patient_id column (not its CTEs, not key tables)."""
    ctes = {cte.alias for cte in query.find_all(exp.CTE)}
    found: set[str] = set()
    for name in {t.name for t in query.find_all(exp.Table)} - ctes:
        columns = {str(r[0]) for r in con.execute(f'DESCRIBE "{name}"').fetchall()}
        if "patient_id" in columns:
            found.add(name)
    return found


def patient_bounds(con: duckdb.DuckDBPyConnection, tables: set[str], parts: int) -> list[str]:
    """The ids that cut the patients into ``parts`` ranges of about equal size (fewer when ids repeat).

    Cut at quantiles of the ``patients`` table (of another patient table when the query reads none)."""
    if parts <= 1 or not tables:
        return []
    source = "patients" if "patients" in tables else sorted(tables)[0]
    cuts = ", ".join(str(k / parts) for k in range(1, parts))
    row = con.execute(f'SELECT quantile_disc(patient_id, [{cuts}]) FROM "{source}"').fetchone()
    found = row[0] if row and row[0] is not None else []
    return sorted({str(v) for v in found if v is not None})


def in_partition(query: exp.Query, tables: set[str], bounds: list[str], k: int) -> exp.Query:
    """The query reading, from each of ``tables``, only the rows of patients in range ``k`` of ``bounds``
    (range k: ids from ``bounds[k-1]`` included to ``bounds[k]`` excluded; the first range also holds NULL)."""
    pid = exp.column("patient_id")
    conds: list[exp.Condition] = []
    if k > 0:
        conds.append(exp.GTE(this=pid.copy(), expression=exp.Literal.string(bounds[k - 1])))
    if k < len(bounds):
        below = exp.LT(this=pid.copy(), expression=exp.Literal.string(bounds[k]))
        conds.append(exp.or_(exp.Is(this=pid.copy(), expression=exp.Null()), below) if k == 0 else below)
    copy = query.copy()
    if not conds:
        return copy
    keep = exp.and_(*conds)
    for node in [t for t in copy.find_all(exp.Table) if t.name in tables and not t.db]:
        inner = exp.select(exp.Star()).from_(exp.to_table(node.name)).where(keep.copy())
        node.replace(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(node.alias or node.name))))
    return copy
