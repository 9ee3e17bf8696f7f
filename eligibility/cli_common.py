"""Helpers every command-line module shares: the console, the one-line error exit, dates, result tables.

Why a module of its own: ``cli`` registers the batch commands and the batch commands print results the
way ``screen`` does; with these helpers in ``cli`` the two modules imported each other.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .api import ScreeningResult
from .trial import Trial

STATUS_STYLE = {"pass": "green", "fail": "red", "unknown": "yellow"}
VERDICT_STYLE = {"eligible": "bold green", "ineligible": "bold red", "needs-review": "bold yellow"}

# Exit codes: 0 done (whatever the verdicts), 1 done for some inputs but others could not be read
# (each named on stderr), 2 nothing done: bad input or options.
EXIT_PARTIAL = 1
EXIT_BAD_INPUT = 2


def console() -> Console:
    return Console(width=160 if not sys.stdout.isatty() else None, soft_wrap=False)


def fail(message: object) -> NoReturn:
    """One line on stderr, exit 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def report(message: object) -> None:
    """One input that could not be used, while the others go on (the command then exits 1)."""
    typer.echo(f"error: {message}", err=True)


# A screening date outside these years is a typo; near year 1 or 9999 the look-back windows and
# durations leave the calendar (an --as-of in the first 90 days of year 1 raised OverflowError).
EARLIEST_AS_OF = date(1900, 1, 1)
LATEST_AS_OF = date(2999, 12, 31)


def day(as_of: str | None) -> date:
    """``--as-of`` (default today); a bad or far-off date exits 2."""
    try:
        value = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        fail(f"--as-of must be a date YYYY-MM-DD, not '{as_of}'")
    if not EARLIEST_AS_OF <= value <= LATEST_AS_OF:
        fail(f"--as-of must be between {EARLIEST_AS_OF} and {LATEST_AS_OF}, not '{as_of}'")
    return value


# C0 and C1 controls, DEL, line/paragraph separators and bidi controls: each could forge or hide a line
# of the table (a newline in a patient id printed a fake "verdict: eligible" line).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: object) -> str:
    """Text from the input, safe for the terminal: control characters as escapes (``\\n``, ``\\x1b``,
    ``\\u2028``) and rich markup inert (``[bold]`` prints as written)."""

    def one(m: re.Match[str]) -> str:
        ch = m.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
            f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
        )

    return escape(_CONTROL.sub(one, str(text)))


def print_result(console: Console, trial: Trial, result: ScreeningResult, from_record: bool = False) -> None:
    table = Table(
        title=f"{shown(result.trial)} · patient {shown(result.patient)} · as of {result.as_of}",
        show_lines=False,
        title_justify="left",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("criterion", max_width=48, overflow="ellipsis", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("explanation", overflow="fold")
    for c in result.criteria:
        style = STATUS_STYLE[c.status]
        kind = "incl" if c.kind == "inclusion" else "excl"
        table.add_row(shown(c.id), kind, shown(c.text), f"[{style}]{c.status}[/]", shown(c.explanation))
    console.print(table)
    unknown = [shown(c.id) for c in result.criteria if c.status == "unknown"]
    line = f"verdict: [{VERDICT_STYLE[result.verdict]}]{result.verdict}[/]"
    if result.verdict == "needs-review":
        open_ = [f"unknown: {', '.join(unknown)}"] if unknown else []
        if trial.unscreened:
            open_.append(f"{len(trial.unscreened)} piece(s) of source text not screened, see the notes")
        if not result.criteria:
            open_.append("no criteria")
        line += f"  ({'; '.join(open_)})"
    console.print(line)
    if from_record:  # a FHIR record has no attestations: what it decided, it decided from the data
        decided = sum(1 for c in result.criteria if c.status != "unknown")
        console.print(f"decided {decided} of {len(result.criteria)} criteria from the record")
    for note in result.notes:
        console.print(f"note: {shown(note)}")
    console.print()
