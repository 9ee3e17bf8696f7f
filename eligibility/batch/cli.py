"""``eligibility batch`` and ``eligibility explain``: registry screening from the command line.

Kept here (and only registered in :mod:`eligibility.cli`) so that the main CLI module stays small and
does not import DuckDB until a batch command runs.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..cli_common import console as _console
from ..cli_common import day as _day
from ..cli_common import fail as _fail
from ..cli_common import print_result as _print_result
from ..errors import EligibilityError


def batch_cmd(
    trial: Annotated[list[str], typer.Option("--trial", help="Trial id in rules/ or a rule file (repeatable).")],
    registry: Annotated[Path, typer.Option("--registry", help="Registry folder (Parquet/CSV tables or FHIR NDJSON).")],
    out: Annotated[Path, typer.Option("--out", help="Results Parquet file (one row per patient and trial).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Screening date YYYY-MM-DD (default today).")] = None,
    open_world: Annotated[bool, typer.Option("--open-world", help="No record of a condition/drug = unknown.")] = False,
    engine: Annotated[str, typer.Option("--engine", help="duckdb or spark")] = "duckdb",
) -> None:
    """Screen every patient of a registry against one or more trials; print the attrition per criterion."""
    from ..trial import load_trial
    from .fhir import is_fhir_bulk, load_fhir_bulk
    from .registry import lit, load_registry
    from .run import run_batch

    if engine not in ("duckdb", "spark"):
        _fail(f"--engine must be duckdb or spark, not '{engine}'")
    day = _day(as_of)
    console = _console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("loading registry", total=len(trial) + 2)
        try:
            trials = [load_trial(t) for t in trial]
            reg = load_fhir_bulk(registry) if is_fhir_bulk(registry) else load_registry(registry)
            progress.advance(task)

            def step(message: str) -> None:
                progress.update(task, description=message, advance=1)

            result = run_batch(reg, trials, day, out=out, open_world=open_world, engine=engine, on_step=step)  # type: ignore[arg-type]
        except EligibilityError as exc:
            _fail(str(exc))
    console.print(f"{reg.patient_count():,} patients from {registry}; as of {day}; {engine}; {result.seconds:.2f} s")
    rejects = reg.reject_summary()
    if rejects:
        table = Table(
            title=f"input problems ({reg.reject_count():,} rows; see {out}.rejects.csv)", title_justify="left"
        )
        for col in ("file", "problem", "rows"):
            table.add_column(col)
        for file, reason, count in rejects:
            table.add_row(file, reason, f"{count:,}")
        console.print(table)
        target = lit(str(out) + ".rejects.csv")
        reg.con.execute(f"COPY (SELECT * FROM rejects ORDER BY file, line) TO {target} (HEADER)")
    for note in reg.notes + result.notes:
        console.print(f"note: {note}")
    for att in result.attrition:
        table = Table(title=f"{att.trial}: attrition over {att.patients:,} patients", title_justify="left")
        for col in ("criterion", "kind", "pass", "fail", "unknown", "eligible after", "possibly eligible after"):
            table.add_column(col, justify="left" if col in ("criterion", "kind") else "right")
        for row in att.rows:
            table.add_row(
                row.id,
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
    console.print(f"wrote {out}")


def explain_cmd(
    patient: Annotated[str, typer.Option("--patient", help="Patient id in the registry.")],
    registry: Annotated[Path, typer.Option("--registry", help="Registry folder.")],
    trial: Annotated[str, typer.Option("--trial", help="Trial id in rules/ or a rule file.")],
    results: Annotated[Path | None, typer.Option("--results", help="Batch results file to compare with.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Screening date (default: the batch's, else today).")
    ] = None,
    open_world: Annotated[bool, typer.Option("--open-world", help="No record of a condition/drug = unknown.")] = False,
) -> None:
    """Re-screen one registry patient with the Python evaluator and print every criterion's explanation."""
    from ..trial import load_trial
    from .fhir import is_fhir_bulk, load_fhir_bulk
    from .registry import load_registry
    from .run import explain_patient, read_result_row

    try:
        t = load_trial(trial)
        reg = load_fhir_bulk(registry) if is_fhir_bulk(registry) else load_registry(registry)
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
