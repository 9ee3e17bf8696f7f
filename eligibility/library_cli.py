"""``eligibility match``: one patient (or each patient of a folder) against every trial of a library, ranked.

Kept out of :mod:`eligibility.cli` (which only registers it) so that each command module has one job.

JSON contract (``--format json``): for one patient file, a list of match objects
(:class:`eligibility.library.Match`, ``model_dump(mode="json")``) in rank order; for a folder of patients, a
list of ``{"patient": id, "file": path, "matches": [...]}``, one per patient file in name order.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli_common import VERDICT_STYLE, console, day
from .cli_common import fail as _fail
from .errors import EligibilityError
from .library import Match, TrialLibrary

_PATIENT_SUFFIXES = (".json", ".json.gz")
_SHOWN_DECIDING = 3


def _patient_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.name.lower().endswith(_PATIENT_SUFFIXES) and not p.name.startswith(".")
    )
    if not files:
        _fail(f"{path}: no patient files (*.json, *.json.gz) in this folder")
    return files


def match_cmd(
    library: Annotated[Path, typer.Option("--library", help="Folder of rule files and CT.gov study JSON, or a file.")],
    patient: Annotated[
        Path, typer.Option("--patient", help="Patient JSON (native or FHIR R4 Bundle, .json or .json.gz), or a folder.")
    ],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Screening date YYYY-MM-DD (default today).")] = None,
    open_world: Annotated[bool, typer.Option("--open-world", help="No record of a condition/drug = unknown.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show only the N best-ranked trials.")] = None,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Folder for compiled trials (default: the user's cache folder).")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Compile every trial afresh; store nothing.")] = False,
) -> None:
    """Rank every trial of a library for a patient: eligible, then needs-review by fewest open questions,
    then ineligible."""
    from .api import load_patient_with_format

    if fmt not in ("table", "json"):
        _fail(f"--format must be table or json, not '{fmt}'")
    on = day(as_of)
    files = _patient_files(patient)
    try:
        lib = TrialLibrary.load(library, cache=False if no_cache else (cache or True))
        rankings = []
        for f in files:
            pat, _ = load_patient_with_format(f)
            rankings.append((f, pat.id, lib.match(pat, as_of=on, open_world=open_world)))
    except EligibilityError as exc:
        _fail(exc)
    if fmt == "json":
        payload: list[Any]
        if patient.is_dir():
            payload = [{"patient": pid, "file": str(f), "matches": _dump(ms[:top])} for f, pid, ms in rankings]
        else:
            payload = _dump(rankings[0][2][:top])
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    out = console()
    for _, pid, ms in rankings:
        _print_ranking(out, pid, on, ms, top)


def _dump(matches: list[Match]) -> list[Any]:
    return [m.model_dump(mode="json") for m in matches]


def _print_ranking(out: Console, patient_id: str, on: date, matches: list[Match], top: int | None) -> None:
    shown_note = f" (best {top} shown)" if top is not None and top < len(matches) else ""
    table = Table(
        title=f"patient {escape(patient_id)} · {len(matches)} trials{shown_note} · as of {on}", title_justify="left"
    )
    for col in ("rank", "trial", "verdict", "open questions"):
        table.add_column(col, no_wrap=True)
    table.add_column("title", max_width=60, overflow="ellipsis", no_wrap=True)
    table.add_column("deciding", overflow="fold")
    for rank, m in enumerate(matches[:top], start=1):
        shown = ", ".join(m.deciding[:_SHOWN_DECIDING])
        if len(m.deciding) > _SHOWN_DECIDING:
            shown += f" (+{len(m.deciding) - _SHOWN_DECIDING})"
        table.add_row(
            str(rank),
            m.trial,
            f"[{VERDICT_STYLE[m.verdict]}]{m.verdict}[/]",
            str(m.open_questions),
            escape(m.title),
            escape(shown),
        )
    out.print(table)
    counts = {v: sum(1 for m in matches if m.verdict == v) for v in ("eligible", "needs-review", "ineligible")}
    out.print(", ".join(f"{n} {v}" for v, n in counts.items()) + f" of {len(matches)} trials")
    out.print()
