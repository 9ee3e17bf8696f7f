"""Run compiled trials over a staged registry (DuckDB or Spark), write results, count attrition.

Results, the rejects report and a manifest are written through temporary files and renamed together
(:mod:`.outputs`), so an interrupted run never leaves a half-written or mismatched set behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Literal

import sqlglot.expressions as exp

from ..api import ScreeningResult, screen
from ..concepts import Vocabulary
from ..errors import InputError
from ..evaluate import DEFAULT_LOOKBACK_DAYS
from ..trial import Trial
from .attrition import Attrition, AttritionCounter, attrition_sql
from .compile import CompiledTrial, compile_trial, compile_trials
from .outputs import Written, write_outputs
from .partitions import in_partition, partition_count, patient_bounds, patient_tables
from .registry import Registry, lit
from .spark import SparkRunner
from .staging import duckdb_message

Engine = Literal["duckdb", "spark"]

#: Trials compiled into one shared pass (its table holds the distinct leaves of all of them, one row
#: per patient): more shares more work; fewer keeps the table narrow.
SHARED_GROUP = 25


@dataclass
class BatchResult:
    out: Path | None
    tables: list[str]
    compiled: list[CompiledTrial]
    attrition: list[Attrition]
    seconds: float
    notes: list[str] = field(default_factory=list)


def run_batch(
    reg: Registry,
    trials: Sequence[Trial],
    as_of: date,
    out: str | Path | None = None,
    open_world: bool = False,
    engine: Engine = "duckdb",
    vocabulary: Vocabulary | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    on_step: Callable[[str], None] | None = None,
    spark_master: str | None = None,
    work_dir: str | Path | None = None,
    partitions: int | None = None,
) -> BatchResult:
    """Screen every patient of the registry against every trial; results in tables result_<i> (and ``out``).

    ``spark_master`` and ``work_dir`` (the folder Spark's tables and results go through) are for
    ``engine='spark'``; see :mod:`.spark`. ``partitions``: compute each shared pass in this many buckets of
    patients (default: :func:`.partitions.partition_count`, from the patients and the memory limit; same rows).

    Every result table is sorted by patient id once, when it is built (the shared table of a group of
    trials, or Spark's rows as they come back), so writing reads each trial's rows in stored order instead
    of sorting them again per trial (at 1M patients x 100 trials the per-trial sorts were most of the write)."""
    started = time.perf_counter()
    step = on_step or (lambda _msg: None)
    seen: dict[str, int] = {}
    for i, trial in enumerate(trials):
        if trial.id in seen:  # the results would hold each of its patients twice
            raise InputError(f"trial {trial.id} is given twice (trials {seen[trial.id] + 1} and {i + 1})", "--trial")
        seen[trial.id] = i
    if spark_master is not None and engine != "spark":
        raise InputError("--spark-master needs --engine spark", "--spark-master")
    spark = SparkRunner(reg, spark_master, work_dir) if engine == "spark" else None
    tables: list[str] = []
    compiled: list[CompiledTrial] = []
    attrition: list[Attrition]
    try:
        if spark is not None:
            for i, trial in enumerate(trials):
                plan = compile_trial(trial, reg, as_of, open_world, vocabulary, lookback_days)
                table = f"result_{i}"
                spark.run(plan, table)
                tables.append(table)
                compiled.append(plan)
                step(f"screened {trial.id}")
        else:
            # Trials in groups share one pass over the records (compile.SharedPlan): the leaves of the
            # group, once per patient, in a table of the registry's database (compressed, and spilled
            # by DuckDB's buffer manager when larger than memory); each result is a view over it.
            # Partitions (ranges of patient id, each bucket appended to the shared table) when the plan's
            # estimate needs them (partitions.partition_count; ``partitions`` forces K). Measured at 10M x 1
            # with the 3 GB limit: one pass 91 s CPU / 3.1 GB peak RSS, 3 buckets ~120 s CPU / 2.6 GB (both
            # complete; before the lab picks were merged, both ran out of DuckDB memory or took 38 min).
            parts = partitions if partitions is not None else partition_count(reg.con, reg.patient_count())
            for g in range(0, len(trials), SHARED_GROUP):
                group = trials[g : g + SHARED_GROUP]
                shared = compile_trials(group, reg, as_of, open_world, vocabulary, lookback_days, f"shared_{g}")
                _shared_pass(reg, shared.query, f"shared_{g}", parts, step)
                for i, (trial, plan) in enumerate(zip(group, shared.trials, strict=True), start=g):
                    table = f"result_{i}"
                    assert plan.projection is not None
                    reg.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {plan.projection.sql('duckdb')}")
                    tables.append(table)
                    compiled.append(plan)
                    step(f"screened {trial.id}")
    finally:
        if spark is not None:
            spark.close()
    target = Path(out) if out is not None else None
    if target is not None:
        step(f"writing {target}")
        run = {
            "trials": [t.id for t in trials],
            "as_of": as_of.isoformat(),
            "registry": reg.source,
            "engine": engine,
            "open_world": open_world,
            "lookback_days": lookback_days,
        }
        # The attrition is counted from the rows as they are written (one read of each trial's rows).
        counters = {table: AttritionCounter(plan) for table, plan in zip(tables, compiled, strict=True)}
        write_results(reg, tables, target, run, presorted=True, counters=counters)
        attrition = [counters[table].result() for table in tables]
        step(f"wrote {target}")
    else:
        attrition = [attrition_sql(reg, table, plan) for table, plan in zip(tables, compiled, strict=True)]
    notes = [note for plan in compiled for note in plan.notes]
    return BatchResult(target, tables, compiled, attrition, time.perf_counter() - started, notes)


def _shared_pass(reg: Registry, query: exp.Query, table: str, parts: int, step: Callable[[str], None]) -> None:
    """The shared table of a group of trials, sorted by patient id: in one pass, or appended one range of
    patient ids at a time (each sorted, the ranges in order, so the whole table is sorted).

    DuckDB keeps a table's insertion order, and a SELECT over one table (with its CTEs and WHERE) returns
    rows in that order (its documented order preservation), so each trial's projection comes out sorted."""
    tables = patient_tables(reg.con, query) if parts > 1 else set()
    bounds = patient_bounds(reg.con, tables, parts)
    for k in range(len(bounds) + 1):
        sql = f"SELECT * FROM ({in_partition(query, tables, bounds, k).sql('duckdb')}) AS bucket ORDER BY patient_id"
        reg.con.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}" if k == 0 else f"INSERT INTO {table} {sql}")
        if parts > 1:
            step(f"{table}: patients partition {k + 1} of {len(bounds) + 1}")


def write_results(
    reg: Registry,
    tables: Sequence[str],
    target: Path,
    run: Mapping[str, Any] | None = None,
    presorted: bool = False,
    counters: Mapping[str, AttritionCounter] | None = None,
) -> Written:
    """All result tables (columns unioned by name) to Parquet, with the rejects report and a manifest,
    atomically: temporary files renamed together (see :mod:`.outputs`). ``presorted``: each table already
    returns its rows by patient id (run_batch's tables), so they are not sorted again. ``counters``: a
    table's counter is given each of its batches as it is written (its attrition)."""
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    # A rejected value is quoted in full up to 200 characters: the report names the problem, it is not a copy.
    val = "CASE WHEN length(val) > 200 THEN left(val, 200) || '...' ELSE val END AS val"
    rejects = f"SELECT file, line, col, {val}, reason, kept FROM rejects ORDER BY file, line, col"
    stream = partial(_stream_results, reg, tables, presorted, counters or {})
    return write_outputs(reg.con, stream, rejects, target, run or {})


#: Rows per Parquet row group (and per batch taken from DuckDB): what the writer holds in memory.
ROW_GROUP = 122_880


#: Columns whose row-group statistics are written (what a reader filters on); statistics of every status
#: and value column cost a quarter of the writer's time and serve no filter.
STATISTICS = ["trial", "patient_id", "verdict"]


#: Columns written without a dictionary: a trial's patient ids are all different, so dictionary-encoding
#: them hashes every id for a dictionary as large as the column (measured on 1M x 2 trials' results:
#: the writer's CPU 0.88 -> 0.63 s and the file 15.4 -> 12.1 MB without it; the other columns keep theirs).
UNIQUE = frozenset({"patient_id"})


#: The values of the result's low-cardinality text columns, as the compiler writes them (compile.trials:
#: ``_status`` and the verdict CASE). The writer casts these columns to DuckDB ENUMs, so they reach Arrow as
#: dictionary arrays and Parquet as dictionary pages without a string per row (a value outside the list is
#: an error of the cast, never a silent change).
STATUSES = ("pass", "fail", "unknown")
VERDICTS = ("eligible", "ineligible", "needs-review")

#: Arrow's type of those columns: DuckDB gives an ENUM of under 256 values as uint8 indices into its values.
_DICTIONARY_INDEX = "uint8"


def _enum(values: Sequence[str]) -> str:
    return "ENUM(" + ", ".join(lit(v) for v in values) + ")"


def _stream_results(
    reg: Registry, tables: Sequence[str], presorted: bool, counters: Mapping[str, AttritionCounter], path: Path
) -> None:
    """The result tables, columns unioned by name, ordered by (trial, patient_id), streamed into one
    Parquet file one trial and one row group at a time (never the whole result set in memory).

    Measured at 1M patients x 100 trials (one file of ~107 columns, ~27 of them a trial's own): selecting
    every union column from DuckDB (NULL for another trial's) and the statuses as text was most of the
    write. So DuckDB gives only the trial's own columns, the text columns of few values (statuses, verdict,
    and the trial and its unscreened note, constant per trial) as ENUMs (Arrow dictionaries, written to
    Parquet as they are); the other trials' columns are all-NULL arrays made once per batch length and
    type; and the next batch is computed by DuckDB (a thread) while this one is encoded. The file holds the
    same values and types as plain text columns would (no Arrow schema is stored in it, so a reader sees
    the Parquet string type, as before); the row-group statistics of trial, patient_id and verdict are
    those of their values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, str] = {}
    trial_of: list[tuple[str, str, list[str], str | None]] = []
    for table in tables:
        described = [(str(r[0]), str(r[1])) for r in reg.con.execute(f"DESCRIBE {table}").fetchall()]
        for name, kind in described:
            columns.setdefault(name, kind)
        names = [name for name, _ in described]
        notes = '"unscreened"' if "unscreened" in names else "NULL"
        first = reg.con.execute(f"SELECT trial, {notes} FROM {table} LIMIT 1").fetchall()  # (all: no open result)
        trial, note = (str(first[0][0]), first[0][1]) if first else ("", None)
        trial_of.append((trial, table, names, None if note is None else str(note)))
    text = {c for c, kind in columns.items() if kind == "VARCHAR"}
    enums = {c for c in text if c in ("trial", "unscreened", "verdict") or c.startswith("status_")}
    arrow = reg.con.sql("SELECT " + ", ".join(f'NULL::{k} AS "{c}"' for c, k in columns.items()) + " LIMIT 0")
    dictionary_type = pa.dictionary(pa.type_for_alias(_DICTIONARY_INDEX), pa.string())
    schema = pa.schema(
        [pa.field(f.name, dictionary_type) if f.name in enums else f for f in arrow.to_arrow_table().schema]
    )
    nulls: dict[tuple[int, int], pa.Array] = {}

    def null_column(i: int, rows: int) -> pa.Array:
        if (i, rows) not in nulls:
            nulls[(i, rows)] = pa.nulls(rows, schema.field(i).type)
        return nulls[(i, rows)]

    def select(table: str, have: list[str], trial: str, note: str | None) -> str:
        out = []
        for c in have:
            if c not in enums:
                out.append(f'"{c}"')
                continue
            if c == "verdict":
                values: Sequence[str] = VERDICTS
            elif c == "trial":
                values = [trial]
            elif c == "unscreened":
                values = [note or ""]  # constant per trial (a NULL note: no value to cast)
            else:
                values = STATUSES
            out.append(f'CAST("{c}" AS {_enum(values)}) AS "{c}"')
        order = "" if presorted else " ORDER BY patient_id"
        return f"SELECT {', '.join(out)} FROM {table}{order}"

    def batches() -> Iterator[tuple[str, pa.RecordBatch]]:
        for trial, table, have, note in sorted(trial_of, key=lambda t: (t[0], t[1])):
            reader = reg.con.sql(select(table, have, trial, note)).to_arrow_reader(ROW_GROUP)
            try:
                for batch in reader:
                    yield table, batch
            finally:
                reader.close()  # (stopped early: no result left open on the connection)

    dictionary = [c for c in columns if c not in UNIQUE]
    writer = pq.ParquetWriter(
        str(path), schema, write_statistics=STATISTICS, use_dictionary=dictionary, store_schema=False
    )
    # The stored order is the order only when DuckDB keeps it: the registry's connection turns
    # preserve_insertion_order off (registry.connect), and a parallel scan then returns a sorted table's
    # chunks in any order (measured at 1M patients: a trial's rows came back out of patient order).
    kept = reg.con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    reg.con.execute("SET preserve_insertion_order = true")
    ahead = _ahead(batches())
    try:
        for table, batch in ahead:
            counter = counters.get(table)
            if counter is not None:
                counter.add(batch)
            have = {name: j for j, name in enumerate(batch.schema.names)}
            arrays = [
                batch.column(have[f.name]) if f.name in have else null_column(i, batch.num_rows)
                for i, f in enumerate(schema)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=ROW_GROUP)
    finally:
        ahead.close()  # (the thread stopped and joined, also when the writing failed)
        writer.close()
        reg.con.execute(f"SET preserve_insertion_order = {'true' if kept else 'false'}")


def _ahead(items: Iterator[Any], depth: int = 2) -> Generator[Any, None, None]:
    """The items of ``items``, each computed in a thread up to ``depth`` ahead of the one being used
    (DuckDB computes the next batch while the caller encodes this one; both release the GIL). An error
    of the thread is raised here; stopped early, the thread closes ``items`` (its open result) and ends."""
    import queue
    import threading

    done = object()
    ahead: queue.Queue[tuple[BaseException | None, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(entry: tuple[BaseException | None, Any]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((None, item)):
                    return
            put((None, done))
        except BaseException as exc:  # given to the consumer, raised there
            put((exc, None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="batch-results-ahead", daemon=True)
    thread.start()
    try:
        while True:
            error, item = ahead.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def read_result_row(results: str | Path, trial: str, patient_id: str) -> dict[str, Any]:
    """One (trial, patient) row of a results file."""
    import duckdb

    con = duckdb.connect()
    try:
        cur = con.execute(
            f"SELECT * FROM read_parquet({lit(str(results))}) WHERE trial = ? AND patient_id = ?", [trial, patient_id]
        )
        row = cur.fetchone()
    except duckdb.Error as exc:  # not Parquet, truncated, or without trial / patient_id columns
        raise InputError(f"not a readable batch results file: {duckdb_message(exc)}", str(results)) from None
    if row is None:
        raise InputError(f"no row for trial {trial}, patient {patient_id}", str(results))
    names = [d[0] for d in cur.description]
    return dict(zip(names, row, strict=True))


@dataclass
class Explanation:
    """The evaluator's full screening of one registry patient, next to the batch row it must equal."""

    result: ScreeningResult
    batch_row: dict[str, Any] | None
    mismatches: list[str]


def explain_patient(
    reg: Registry,
    trial: Trial,
    patient_id: str,
    as_of: date,
    open_world: bool = False,
    results: str | Path | None = None,
    vocabulary: Vocabulary | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> Explanation:
    """Rebuild one patient from the staged registry, screen it with the Python evaluator, and
    (given a results file) list every criterion whose status differs from the batch row."""
    patient = reg.patient(patient_id)
    result = screen(
        trial, patient, as_of=as_of, open_world=open_world, vocabulary=vocabulary, lookback_days=lookback_days
    )
    row = read_result_row(results, trial.id, patient_id) if results is not None else None
    mismatches: list[str] = []
    if row is not None:
        if row["verdict"] != result.verdict:
            mismatches.append(f"verdict: batch {row['verdict']}, evaluator {result.verdict}")
        for c in result.criteria:
            batch = row.get(f"status_{c.id}")
            if batch != c.status:
                mismatches.append(f"{c.id}: batch {batch}, evaluator {c.status}")
    return Explanation(result, row, mismatches)
