"""``eligibility batch`` and ``eligibility explain``: registry screening from the command line.

Kept here (and only registered in :mod:`eligibility.cli`) so that the main CLI module stays small and
does not import DuckDB until a batch command runs.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..cli_common import console as _console
from ..cli_common import day as _day
from ..cli_common import fail as _fail
from ..cli_common import print_result as _print_result
from ..cli_common import shown
from ..errors import EligibilityError, InputError
from .interrupt import Interrupted, StopFlag, run_interruptible

if TYPE_CHECKING:
    import duckdb

    from ..trial import Trial
    from .registry import Registry, RegistryFormat
    from .run import BatchResult, Engine


def batch_cmd(
    trial: Annotated[
        list[str] | None, typer.Option("--trial", help="Trial id in rules/ or a rule file (repeatable).")
    ] = None,
    registry: Annotated[
        Path, typer.Option("--registry", help="Registry folder (Parquet/CSV tables or FHIR NDJSON).")
    ] = Path(),
    out: Annotated[Path, typer.Option("--out", help="Results Parquet file (one row per patient and trial).")] = Path(),
    library: Annotated[
        Path | None,
        typer.Option(
            "--library",
            help="A trial library folder (rule files, CT.gov JSON, criteria text; see `eligibility match`): "
            "screen every trial in it, beside any --trial.",
        ),
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Screening date YYYY-MM-DD (default today).")] = None,
    open_world: Annotated[bool, typer.Option("--open-world", help="No record of a condition/drug = unknown.")] = False,
    engine: Annotated[str, typer.Option("--engine", help="duckdb or spark")] = "duckdb",
    registry_format: Annotated[
        str,
        typer.Option("--registry-format", help="auto, long, fhir or omop (OMOP CDM folder, zip or DuckDB)."),
    ] = "auto",
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            envvar="ELIGIBILITY_WORK_DIR",
            help="Folder for the staged registry (default: the temp folder); a dead run's leftovers are removed.",
        ),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="With --engine spark: a master URL (spark://host:7077); default local mode, or SPARK_REMOTE's "
            "Spark Connect server. On a cluster --work-dir must be a folder every worker sees at the same path.",
        ),
    ] = None,
) -> None:
    """Screen every patient of a registry against one or more trials; print the attrition per criterion.

    Writes OUT, OUT.rejects.csv and OUT.manifest.json together. Ctrl-C or SIGTERM stops the run with
    nothing written (exit 130 / 143); a second run on the same OUT fails while the first one runs.
    """
    from ..trial import load_trial
    from .outputs import OutputLock, check_target
    from .registry import connect
    from .staging import remove_stale_staging

    if engine not in ("duckdb", "spark"):
        _fail(f"--engine must be duckdb or spark, not '{engine}'")
    day = _day(as_of)
    if registry == Path() or out == Path():
        _fail("--registry and --out are required")
    if not trial and library is None:
        _fail("give --trial (repeatable) or --library")
    try:
        trials = [load_trial(t) for t in trial or []]
        if library is not None:
            from ..library import TrialLibrary

            trials += [entry.trial for entry in TrialLibrary.load(library)]
        ids = [t.id for t in trials]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:  # the results would hold each of its patients twice
            raise InputError(f"trial {', '.join(twice)} is given twice", "--trial")
        inputs = [Path(t) for t in trial or [] if Path(t).is_file()] + [Path(t.origin) for t in trials if t.origin]
        target = check_target(out, registry, inputs)
        work = _work_folder(work_dir)
        remove_stale_staging(work)
        lock = OutputLock(target).__enter__()
    except EligibilityError as exc:
        _fail(exc)
    try:
        con = connect(spill_directory=work)
    except BaseException:
        lock.__exit__(None, None, None)
        raise
    staging = _staging_folder(con)
    try:
        try:
            reg, result = _run(
                con,
                registry,
                trials,
                day,
                target,
                open_world,
                cast("Engine", engine),
                registry_format,
                spark_master,
                work,
            )
        except Interrupted as exc:
            typer.echo(f"error: {exc}: nothing written ({target} is as it was)", err=True)
            raise typer.Exit(128 + exc.signum) from None
        except EligibilityError as exc:
            _fail(exc)
        finally:
            lock.__exit__(None, None, None)
        _report(reg, result, registry, day, engine, target)
    finally:
        con.close()  # the staged registry goes now, not at exit (it can be hundreds of MB)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _report(reg: Registry, result: BatchResult, registry: Path, day: date, engine: str, target: Path) -> None:
    from .outputs import rejects_path

    console = _console()
    console.print(f"{reg.patient_count():,} patients from {registry}; as of {day}; {engine}; {result.seconds:.2f} s")
    rejects = reg.reject_summary()
    if rejects:
        title = f"input problems ({reg.reject_count():,} rows; see {rejects_path(target)})"
        table = Table(title=title, title_justify="left")
        for col in ("file", "problem", "rows"):
            table.add_column(col)
        for file, reason, count in rejects:
            table.add_row(shown(file), shown(reason), f"{count:,}")
        console.print(table)
    for note in reg.notes + result.notes:
        console.print(f"note: {shown(note)}")
    for att in result.attrition:
        table = Table(title=f"{shown(att.trial)}: attrition over {att.patients:,} patients", title_justify="left")
        for col in ("criterion", "kind", "pass", "fail", "unknown", "eligible after", "possibly eligible after"):
            table.add_column(col, justify="left" if col in ("criterion", "kind") else "right")
        for row in att.rows:
            table.add_row(
                shown(row.id),
                row.kind[:4],
                f"{row.passed:,}",
                f"{row.failed:,}",
                f"{row.unknown:,}",
                f"{row.eligible_after:,}",
                f"{row.possible_after:,}",
            )
        console.print(table)
        verdicts = ", ".join(f"{k} {att.verdicts.get(k, 0):,}" for k in ("eligible", "needs-review", "ineligible"))
        console.print(f"verdicts: {verdicts}")
    console.print(f"wrote {target}")


def _work_folder(work_dir: Path | None) -> Path:
    from .outputs import writable_folder

    return writable_folder(work_dir or Path(tempfile.gettempdir()), "work")


def _load(registry: Path, con: duckdb.DuckDBPyConnection | None, registry_format: str) -> Registry:
    """The registry in the format asked for (``auto``: FHIR Bulk, OMOP CDM or long format, by content)."""
    from .registry import load_registry

    if registry_format not in ("auto", "long", "fhir", "omop"):
        raise InputError(f"--registry-format must be auto, long, fhir or omop, not '{registry_format}'")
    return load_registry(registry, con, registry_format=cast("RegistryFormat", registry_format))


def _run(
    con: duckdb.DuckDBPyConnection,
    registry: Path,
    trials: list[Trial],
    day: date,
    target: Path,
    open_world: bool,
    engine: Engine,
    registry_format: str = "auto",
    spark_master: str | None = None,
    work_dir: Path | None = None,
) -> tuple[Registry, BatchResult]:
    """Load, screen and write in a worker thread that SIGINT/SIGTERM can stop (see :mod:`.interrupt`)."""
    import duckdb

    from .run import run_batch
    from .staging import duckdb_message

    plain = not sys.stderr.isatty()  # logs and pipes get one line per step instead of a live bar

    def work(stop: StopFlag) -> tuple[Registry, BatchResult]:
        with _progress(plain, len(trials) + 2) as step:
            step("loading registry")
            try:
                reg = _load(registry, con, registry_format)
            except duckdb.InterruptException:
                raise
            except duckdb.Error as exc:
                raise InputError(f"cannot read: {duckdb_message(exc)}", str(registry)) from None
            stop.check()
            step(f"loaded {reg.patient_count():,} patients")

            def checked(message: str) -> None:
                if not message.startswith("wrote "):  # once written, the run is complete
                    stop.check()
                step(message)

            result = run_batch(
                reg,
                trials,
                day,
                out=target,
                open_world=open_world,
                engine=engine,
                on_step=checked,
                spark_master=spark_master,
                work_dir=work_dir,
            )
            return reg, result

    return run_interruptible(con, work)


@contextlib.contextmanager
def _progress(plain: bool, total: int) -> Iterator[Callable[[str], None]]:
    if plain:

        def line(message: str) -> None:
            typer.echo(f"batch: {message}", err=True)

        yield line
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("loading registry", total=total)

        def bar(message: str) -> None:
            progress.update(task, description=message, advance=1)

        yield bar


def _staging_folder(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The folder of the connection's temporary registry database (see :func:`.registry.connect`)."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = 'registry'").fetchall()
    return Path(rows[0][0]).parent if rows and rows[0][0] else None


def explain_cmd(
    patient: Annotated[str, typer.Option("--patient", help="Patient id in the registry.")],
    registry: Annotated[Path, typer.Option("--registry", help="Registry folder.")],
    trial: Annotated[str, typer.Option("--trial", help="Trial id in rules/ or a rule file.")],
    results: Annotated[Path | None, typer.Option("--results", help="Batch results file to compare with.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Screening date (default: the batch's, else today).")
    ] = None,
    open_world: Annotated[bool, typer.Option("--open-world", help="No record of a condition/drug = unknown.")] = False,
    registry_format: Annotated[
        str,
        typer.Option("--registry-format", help="auto, long, fhir or omop (OMOP CDM folder, zip or DuckDB)."),
    ] = "auto",
) -> None:
    """Re-screen one registry patient with the Python evaluator and print every criterion's explanation."""
    from ..trial import load_trial
    from .run import explain_patient, read_result_row

    try:
        t = load_trial(trial)
        reg = _load(registry, None, registry_format)
        day = _day(as_of)
        if as_of is None and results is not None:
            batch_day = read_result_row(results, t.id, patient).get("as_of")
            day = batch_day if isinstance(batch_day, date) else day
        explanation = explain_patient(reg, t, patient, day, open_world=open_world, results=results)
    except EligibilityError as exc:
        _fail(str(exc))
    console = _console()
    _print_result(console, t, explanation.result)
    if explanation.batch_row is not None:
        if explanation.mismatches:
            console.print("[bold red]differs from the batch row:[/] " + "; ".join(explanation.mismatches))
            raise typer.Exit(1)
        console.print(f"batch row agrees: verdict {explanation.batch_row['verdict']}, every criterion's status equal")
