"""The command line: thin wrappers over :mod:`eligibility.api`.

Exit code 0 whatever the verdict; 2 with a one-line message on bad input; 1 when a folder had some
files that could not be read (each named on stderr) and the others were done.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from . import nodes as n
from .api import load_patient_with_format, screen
from .blockers import blocker, top_blockers
from .cli_common import EXIT_PARTIAL, shown
from .cli_common import console as _console
from .cli_common import day as _day
from .cli_common import fail as _fail
from .cli_common import print_result as _print_result
from .cli_common import report as _report
from .errors import EligibilityError
from .patient import Patient, patient_schema
from .render import render
from .trial import Trial, coverage_counts, draft_rule_file, load_trial, load_trials, trial_files

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Pre-screen patients for clinical trials: pass / fail / unknown, explained.",
)


def _patients(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if not p.name.startswith("."))
        if not files:
            _fail(EligibilityError(f"{path}: no patient files (*.json) in this folder"))
        return files
    return [path]


@app.command("screen")
def screen_cmd(
    trial: Annotated[str, typer.Option("--trial", help="Trial id in rules/, a rule file, or a CT.gov study JSON.")],
    patient: Annotated[
        Path, typer.Option("--patient", help="Patient JSON (native profile or FHIR R4 Bundle), or a folder of them.")
    ],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Screening date YYYY-MM-DD (default today).")] = None,
    open_world: Annotated[bool, typer.Option("--open-world", help="No record of a condition/drug = unknown.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Screen one patient (or each patient of a folder) against a trial."""
    if fmt not in ("table", "json"):
        _fail(EligibilityError(f"--format must be table or json, not '{fmt}'"))
    day = _day(as_of)
    try:
        t = load_trial(trial)
        files = _patients(patient)
    except EligibilityError as exc:
        _fail(exc)
    # One bad file in a folder does not stop the others: each is named on stderr and the exit code is 1.
    loaded: list[tuple[Patient, str]] = []
    bad = 0
    for f in files:
        try:
            loaded.append(load_patient_with_format(f))
        except EligibilityError as exc:
            if len(files) == 1:
                _fail(exc)
            _report(exc)
            bad += 1
    try:
        results = [screen(t, pat, as_of=day, open_world=open_world) for pat, _ in loaded]
    except EligibilityError as exc:
        _fail(exc)
    if fmt == "json":
        payload = [json.loads(r.model_dump_json()) for r in results]
        single = len(files) == 1
        typer.echo(json.dumps(payload[0] if single else payload, indent=2, ensure_ascii=False))
    else:
        console = _console()
        for result, (_, kind) in zip(results, loaded, strict=True):
            _print_result(console, t, result, from_record=kind == "fhir")
    if bad:
        _report(f"{bad} of {len(files)} patient files could not be read (named above); the others were screened")
        raise typer.Exit(EXIT_PARTIAL)


@app.command("parse")
def parse_cmd(
    files: Annotated[list[Path], typer.Argument(help="Rule files, CT.gov study JSON, criteria .txt, or folders.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    summary: Annotated[bool, typer.Option("--summary", help="Only coverage per trial and for the corpus.")] = False,
) -> None:
    """Show how each criterion is read, and a coverage summary (fully / partly / not computable)."""
    if fmt not in ("table", "json"):
        _fail(EligibilityError(f"--format must be table or json, not '{fmt}'"))
    console = _console()
    totals: Counter[str] = Counter()
    trials = 0
    paths = [child for f in files for child in trial_files(f)]
    bad = 0
    unread: list[n.Node] = []
    for f in paths:
        try:
            for trial in load_trials(f):
                trials += 1
                counts = coverage_counts(trial)
                totals.update(counts)
                unread.extend(c.rule for c in trial.criteria if c.coverage != "full")
                if fmt == "json":
                    typer.echo(json.dumps(_trial_json(trial, summary), ensure_ascii=False))
                elif summary:
                    console.print(_coverage_line(trial.id, counts))
                else:
                    _print_trial(console, trial)
                    console.print(_coverage_line(trial.id, counts))
                if fmt != "json" and not summary:
                    for u in trial.unscreened:
                        console.print(f"note: {u.describe()}")
        except EligibilityError as exc:
            if len(paths) == 1:
                _fail(exc)
            _report(exc)  # one bad file does not stop the others; the exit code says so
            bad += 1
    if summary and fmt == "table" and unread:
        _print_blockers(console, unread)
    if trials > 1 and fmt == "table":
        console.print(_coverage_line(f"all {trials} trials", totals))
    if bad:
        _report(f"{bad} of {len(paths)} files could not be read (named above); the others were parsed")
        raise typer.Exit(EXIT_PARTIAL)


def _trial_json(trial: Trial, summary: bool) -> dict[str, Any]:
    counts = coverage_counts(trial)
    out: dict[str, Any] = {"trial": trial.id, "coverage": {k: counts[k] for k in ("full", "partial", "none")}}
    out["unscreened"] = [u.model_dump() for u in trial.unscreened]
    if not summary:
        out["criteria"] = [
            {
                "id": c.id,
                "kind": c.kind,
                "text": c.text,
                "coverage": c.coverage,
                "rule": render(c.rule),
                "blocker": None if (b := blocker(c.rule)) is None else {"class": b.cls, "detail": b.detail},
                "ast": c.rule.model_dump(mode="json"),
            }
            for c in trial.criteria
        ]
    return out


def _print_blockers(console: Console, rules: list[n.Node]) -> None:
    """What keeps criteria from being read in full, by class and the most frequent ones (issue 11 item 6)."""
    classes, top = top_blockers(rules, 15)
    total = sum(classes.values())
    console.print(
        f"blockers of {total} criteria not read in full: "
        + ", ".join(f"{cls} {count}" for cls, count in classes.most_common())
    )
    for detail, count in top:
        console.print(f"  {count:5d}  {shown(detail)}")


def _print_trial(console: Console, trial: Trial) -> None:
    table = Table(title=f"{shown(trial.id)}: {shown(trial.title or '')}", title_justify="left")
    for col in ("id", "kind", "coverage", "text", "read as"):
        table.add_column(col, overflow="fold")
    for c in trial.criteria:
        table.add_row(shown(c.id), c.kind, c.coverage, shown(c.text), shown(render(c.rule)))
    console.print(table)


def _coverage_line(label: str, counts: Counter[Any]) -> str:
    total = sum(counts.values())
    return (
        f"coverage {label}: {counts['full']} fully, {counts['partial']} partly, {counts['none']} not computable"
        f" (of {total})"
    )


@app.command("draft-rules")
def draft_rules_cmd(study: Annotated[Path, typer.Argument(help="A ClinicalTrials.gov study JSON.")]) -> None:
    """Write a draft rule file for review (to stdout)."""
    try:
        typer.echo(draft_rule_file(load_trial(str(study))), nl=False)
    except EligibilityError as exc:
        _fail(exc)


@app.command("schema")
def schema_cmd(what: Annotated[str, typer.Argument(help="'patient'")] = "patient") -> None:
    """Print the JSON Schema of an input format."""
    if what != "patient":
        _fail(EligibilityError(f"unknown schema '{what}' (known: patient)"))
    typer.echo(json.dumps(patient_schema(), indent=2))


@app.command("extract")
def extract_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Criteria text files, CT.gov study JSON files, or folders.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or table")] = "jsonl",
) -> None:
    """List the numeric comparisons of every criterion (one JSON line each, or a table)."""
    from .extract import file_records

    if fmt not in ("jsonl", "table"):
        _fail(EligibilityError(f"--format must be jsonl or table, not '{fmt}'"))
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".json")))
        else:
            files.append(path)
    failed = False
    table = Table(title="numeric comparisons", title_justify="left")
    for col in ("doc", "criterion", "section", "span", "op", "value", "value2", "unit", "relative", "concept"):
        table.add_column(col, overflow="fold")
    for f in files:
        try:
            rows = file_records(f)
        except (OSError, UnicodeDecodeError, EligibilityError) as exc:
            typer.echo(f"error: {f}: {exc}", err=True)
            failed = True
            continue
        for row in rows:
            if fmt == "jsonl":
                typer.echo(json.dumps(row, ensure_ascii=False))
            else:
                table.add_row(*("" if v is None else str(v) for v in row.values()))
    if fmt == "table":
        _console().print(table)
    if failed:
        raise typer.Exit(1)


from .batch.cli import batch_cmd, explain_cmd  # noqa: E402  (registry screening; DuckDB loads lazily)

app.command("batch")(batch_cmd)
app.command("explain")(explain_cmd)

from .library_cli import match_cmd  # noqa: E402  (a patient against a trial library, ranked)

app.command("match")(match_cmd)

from .store.cli import users_app  # noqa: E402  (worksheet accounts; SQLAlchemy loads lazily)

app.add_typer(users_app, name="users")

from .service.cli import serve_cmd  # noqa: E402  (the CDS Hooks service; fastapi and uvicorn load lazily)

app.command("serve")(serve_cmd)


def main() -> None:  # pragma: no cover
    app()
