"""CLI behaviour, with golden files for the screening output.

Refresh the goldens with ``UPDATE_GOLDEN=1 pytest tests/test_cli.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from eligibility.cli import app

from .conftest import ROOT

GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()


def _screen(patient: Path, fmt: str) -> Result:
    """The seed trial screened on the examples' fixed date."""
    args = ["screen", "--trial", "NCT06352281", "--patient", str(patient), "--as-of", "2026-01-15"]
    return runner.invoke(app, [*args, "--format", fmt])


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {name} missing: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt,golden", [("json", "screen_examples.json"), ("table", "screen_examples.txt")])
def test_screen_examples_golden(fmt: str, golden: str) -> None:
    result = _screen(ROOT / "examples", fmt)
    assert result.exit_code == 0, result.output
    _check_golden(golden, result.output)


def test_screen_json_contract() -> None:
    result = _screen(ROOT / "examples" / "patient-ineligible.json", "json")
    data = json.loads(result.output)
    assert set(data) >= {"trial", "patient", "as_of", "verdict", "criteria"}
    assert data["verdict"] == "ineligible"
    for c in data["criteria"]:
        assert set(c) >= {"id", "kind", "text", "status", "explanation", "evidence", "missing"}
        assert c["status"] in ("pass", "fail", "unknown")
        if c["status"] == "unknown":
            assert c["missing"], f"{c['id']} is unknown but does not say what data would decide it"


def test_verdicts_of_examples() -> None:
    result = _screen(ROOT / "examples", "json")
    verdicts = {r["patient"]: r["verdict"] for r in json.loads(result.output)}
    assert verdicts == {
        "example-eligible": "eligible",
        "example-ineligible": "ineligible",
        "example-needs-review": "needs-review",
    }


def test_bad_patient_file_names_path_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"id": "x", "birth_date": "not a date"}))
    result = runner.invoke(app, ["screen", "--trial", "NCT06352281", "--patient", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.output and "birth_date" in result.output


def test_malformed_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["screen", "--trial", "NCT06352281", "--patient", str(bad)])
    assert result.exit_code == 2 and "not valid JSON" in result.output
    result = runner.invoke(app, ["screen", "--trial", "NCT00000000", "--patient", str(bad)])
    assert result.exit_code == 2 and "NCT00000000" in result.output


def test_rule_file_reports_every_mistake(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "trial: X\ncriteria:\n"
        "  - {id: I1, kind: inclusion, text: a, rule: 'platelet count <'}\n"
        "  - {id: I2, kind: maybe, text: b, rule: review}\n"
        "  - {id: I3, kind: inclusion, text: c, rule: 'zorblax > 3'}\n"
    )
    result = runner.invoke(app, ["parse", str(rules)])
    assert result.exit_code == 2
    assert "3 problem(s)" in result.output
    assert "criteria[0]" in result.output and "criteria[1]" in result.output and "criteria[2]" in result.output


def test_parse_shows_coverage() -> None:
    result = runner.invoke(app, ["parse", str(ROOT / "rules" / "NCT06352281.yaml")])
    assert result.exit_code == 0
    assert "coverage NCT06352281:" in result.output


def test_schema_patient() -> None:
    result = runner.invoke(app, ["schema", "patient"])
    schema = json.loads(result.output)
    assert schema["title"] == "Patient" and "observations" in schema["properties"]


def test_parse_summary_over_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Inclusion Criteria:\n- Platelet count < 50 x 10^9/L\n- Able to swim\n")
    (tmp_path / "b.txt").write_text("Exclusion criteria:\n- History of splenectomy\n")
    result = runner.invoke(app, ["parse", "--summary", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "coverage a: 1 fully, 0 partly, 1 not computable (of 2)" in result.output
    assert "coverage b: 1 fully, 0 partly, 0 not computable (of 1)" in result.output
    assert "coverage all 2 trials: 2 fully, 0 partly, 1 not computable (of 3)" in result.output
