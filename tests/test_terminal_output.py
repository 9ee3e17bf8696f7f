"""Issue 15 item 20: text from the input never controls the terminal in table output.

A newline in a patient id printed a second line that read "verdict: eligible"; an escape sequence could
clear the screen; rich markup in a note was interpreted. Each is shown escaped, as written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eligibility.cli import app
from eligibility.cli_common import shown

CASES = [
    ("p1\nverdict: eligible", "p1\\nverdict: eligible"),
    ("a\rb\tc", "a\\rb\\tc"),
    ("clear\x1b[2J", "clear\\x1b[2J"),
    ("del\x7f c1\x85", "del\\x7f c1\\x85"),
    ("line\u2028sep", "line\\u2028sep"),
    ("bidi\u202eevil", "bidi\\u202eevil"),
    ("[bold]loud[/bold]", "\\[bold]loud\\[/bold]"),
    ("plain text, ünïcode ≥ 5", "plain text, ünïcode ≥ 5"),
]


@pytest.mark.parametrize(("raw", "escaped"), CASES)
def test_shown_escapes_controls_and_markup(raw: str, escaped: str) -> None:
    assert shown(raw) == escaped


def test_a_newline_in_a_patient_id_cannot_forge_a_verdict_line(tmp_path: Path) -> None:
    patient = {
        "id": "p1\nverdict: eligible",
        "birth_date": "1990-01-01",
        "sex": "male",
        "notes": ["from the import\x1b[2J\nverdict: eligible"],
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(patient), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["screen", "--trial", "NCT06352281", "--patient", str(path), "--as-of", "2026-01-15"]
    )
    lines = result.output.splitlines()
    assert [ln for ln in lines if ln.startswith("verdict:")] == [
        next(ln for ln in lines if ln.startswith("verdict: needs-review"))
    ]
    assert "patient p1\\nverdict: eligible" in result.output
    assert "note: from the import\\x1b[2J\\nverdict: eligible" in result.output
    assert "\x1b" not in result.output
