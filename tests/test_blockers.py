"""Why a criterion is not read in full: one blocker per criterion, in a class that can be counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eligibility import nodes as n
from eligibility.blockers import blocker, classify, top_blockers
from eligibility.cli import app
from eligibility.parse import parse_criterion


@pytest.mark.parametrize(
    ("text", "kind", "cls", "detail"),
    [
        ("Willing to wear a wrist actigraph nightly", "inclusion", "vocabulary", "'willing wear wrist'"),
        ("Uncontrolled heart failure", "exclusion", "qualifier", "'uncontrolled'"),
        ("Serum potassium above 5.5", "exclusion", "number", "unit"),
        ("Intraocular pressure above 24 mmHg", "exclusion", "vocabulary", "measure 'intraocular pressure'"),
    ],
)
def test_each_unread_criterion_names_one_blocker(text: str, kind: str, cls: str, detail: str) -> None:
    b = blocker(parse_criterion(text, kind))
    assert b is not None and b.cls == cls, b
    assert detail in b.detail


def test_a_complete_reading_has_no_blocker() -> None:
    assert blocker(parse_criterion("Platelet count below 50 x 10^9/L", "exclusion")) is None


def test_long_quoted_labels_are_counted_as_one_kind() -> None:
    a = classify(
        n.Unparsed(text="x", reason="membership of the group 'Cohort A participants only' is not in the record")
    )
    b = classify(
        n.Unparsed(text="y", reason="membership of the group 'Expansion part, adults only' is not in the record")
    )
    assert a.cls == b.cls == "data model" and a.detail == b.detail


def test_top_blockers_count_classes_and_details() -> None:
    rules = [
        parse_criterion(t, "exclusion") for t in ("Uncontrolled asthma", "Uncontrolled gout", "Platelets < 50 x 10^9/L")
    ]
    classes, top = top_blockers(rules)
    assert classes["qualifier"] == 2 and sum(classes.values()) == 2
    assert top[0][1] == 2


def test_parse_summary_prints_blockers_and_json_carries_them(tmp_path: Path) -> None:
    doc = tmp_path / "t.txt"
    doc.write_text(
        "Inclusion Criteria:\n\n- Willing to wear a wrist actigraph nightly\n- Age 18 to 60 years\n", "utf-8"
    )
    out = CliRunner().invoke(app, ["parse", "--summary", str(doc)])
    assert out.exit_code == 0, out.output
    assert "blockers of 1 criteria not read in full: vocabulary 1" in out.output
    js = CliRunner().invoke(app, ["parse", "--format", "json", str(doc)])

    crits = json.loads(js.output)["criteria"]
    assert crits[0]["blocker"]["class"] == "vocabulary" and crits[1]["blocker"] is None
