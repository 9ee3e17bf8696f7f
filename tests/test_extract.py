"""The numeric-comparison extractor: one hand-written sentence per pattern class, properties, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eligibility.cli import app
from eligibility.extract import Comparison, extract_comparisons, file_records

Row = tuple[str, float, float | None, str | None, str | None]


def _read(text: str) -> list[Row]:
    return [(c.op, c.value, c.value2, c.unit, c.relative) for c in extract_comparisons(text)]


# (sentence, expected comparisons as (op, value, value2, unit, relative)); all sentences are our own.
CASES: list[tuple[str, list[Row]]] = [
    # operator, number, unit
    ("Neutrophils >= 1.5 x 10^9/L at the screening visit", [(">=", 1.5, None, "10^9/L", None)]),
    ("Platelets at least 75 × 10⁹/L", [(">=", 75.0, None, "10^9/L", None)]),
    ("Haemoglobin no less than 9.5 g/dL", [(">=", 9.5, None, "g/dL", None)]),
    ("creatinine clearance of more than 45 mL/min", [(">", 45.0, None, "mL/min", None)]),
    ("ANC above 1,200/mm3", [(">", 1200.0, None, "/mm³", None)]),
    ("QTcF interval longer than 480 ms", [(">", 480.0, None, "ms", None)]),
    ("Body weight under 40kg", [("<", 40.0, None, "kg", None)]),
    ("resting systolic pressure > 150 mmHg", [(">", 150.0, None, "mmHg", None)]),
    ("HbA1c up to 9%", [("<=", 9.0, None, "%", None)]),
    ("fasting glucose ≤ 6,5 mmol/L", [("<=", 6.5, None, "mmol/L", None)]),
    ("BMI > or = 32 kg/m2", [(">=", 32.0, None, "kg/m²", None)]),
    ("Karnofsky score ≥ 60", [(">=", 60.0, None, None, None)]),
    ("serum ferritin 30～400 ng/mL", [("between", 30.0, 400.0, "ng/mL", None)]),  # full-width tilde
    ("HbA1c between 6.5 and 9 percent", [("between", 6.5, 9.0, "%", None)]),
    # relative to ULN / LLN
    ("AST ≤ 3 x ULN", [("<=", 3.0, None, None, "ULN")]),
    ("direct bilirubin not more than 1.5 times the upper limit of normal", [("<=", 1.5, None, None, "ULN")]),
    ("serum albumin < 0.8 x LLN", [("<", 0.8, None, None, "LLN")]),
    ("AST and ALT below 2 x ULN", [("<", 2.0, None, None, "ULN"), ("<", 2.0, None, None, "ULN")]),
    # ranges
    ("BMI between 19 and 32 kg/m2", [("between", 19.0, 32.0, "kg/m²", None)]),
    ("Hemoglobin 10-16 g/dL", [("between", 10.0, 16.0, "g/dL", None)]),
    ("ECOG performance status 0-2", [("between", 0.0, 2.0, None, None)]),
    ("ECOG performance status of 0 or 1", [("between", 0.0, 1.0, None, None)]),
    ("NYHA class II-III", [("between", 2.0, 3.0, None, None)]),
    # ages
    ("Aged 21-70 years", [("between", 21.0, 70.0, "years", None)]),
    ("between the ages of 30 and 60", [("between", 30.0, 60.0, None, None)]),
    ("Men 45 years of age or older", [(">=", 45.0, None, "years", None)]),
    ("women 50 years and over", [(">=", 50.0, None, "years", None)]),
    ("children younger than 12 years", [("<", 12.0, None, "years", None)]),
    ("Adults under 80 years", [("<", 80.0, None, "years", None)]),
    ("age ≥ 40", [(">=", 40.0, None, None, None)]),
    ("Minimum age: 16 years", [(">=", 16.0, None, "years", None)]),
    ("Age 12 to < 18 years", [("between", 12.0, 18.0, "years", None)]),
    (
        "older than 65 years and younger than 90 years",
        [(">", 65.0, None, "years", None), ("<", 90.0, None, "years", None)],
    ),
    # two bounds written once
    ("blood pressure above 150/95 mmHg", [(">", 150.0, None, "mmHg", None), (">", 95.0, None, "mmHg", None)]),
    # durations that are observations
    ("life expectancy of at least 4 months", [(">=", 4.0, None, "months", None)]),
    # precision: nothing to emit
    ("Type 2 diabetes diagnosed in 2015", []),
    ("CTCAE grade 3-4 toxicity", []),
    ("Visit dates 2019-2021", []),
    ("has at least 2 previous lines of chemotherapy", []),
    ("on a stable dose for at least 8 weeks", []),
    ("smoked for more than 10 years", []),
    ("Stage III colon cancer", []),
    ("ASA 12 mg daily", []),
    ("prednisone above 10 mg/day", []),
    ("exercise more than 3 times per week", []),
    ("a cohort of patients (n=40)", []),
    ("pain rated > 4/10", [(">", 4.0, None, None, None)]),
    ("plaque on at least 25% of the tooth surfaces", []),
    ("hemoglobin 9-8 g/dL", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_patterns(text: str, expected: list[Row]) -> None:
    assert _read(text) == expected


def test_concepts_and_spans() -> None:
    text = "Platelet count ≥ 100 x 10^9/L and age 18-65 years"
    comps = extract_comparisons(text)
    assert [c.concept for c in comps] == ["platelets", "age"]
    assert text[comps[0].span[0] : comps[0].span[1]] == "≥ 100 x 10^9/L"
    assert text[comps[1].span[0] : comps[1].span[1]] == "18-65 years"
    assert extract_comparisons("duration of symptoms > 2 weeks") == []
    named = extract_comparisons("tumour diameter ≥ 15 mm")
    assert named[0].concept == "tumour diameter"


def test_comparison_is_frozen() -> None:
    comp = extract_comparisons("age ≥ 40")[0]
    assert isinstance(comp, Comparison)
    with pytest.raises(ValueError):
        comp.value = 3.0  # type: ignore[misc]


_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_ALPHABET = st.sampled_from([*list("abcxyz ULNg/dLmm0123456789.,-–<>=≥≤()%×^ "), "and", " or ", " to ", "between "])


@_FAST
@given(st.text(max_size=80) | st.lists(_ALPHABET, max_size=30).map("".join))
def test_never_raises_and_spans_hold_the_digits(text: str) -> None:
    for comp in extract_comparisons(text):
        start, end = comp.span
        assert 0 <= start < end <= len(text)
        assert any(ch.isdigit() for ch in text[start:end]) or comp.value <= 30  # number words: "two"
        if comp.op == "between":
            assert comp.value2 is not None and comp.value2 > comp.value


_UNITS = ["g/dL", "mg/dL", "10^9/L", "mmol/L", "%", "mL/min", "U/L", "µmol/L", None]
_OPS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "=": "="}


@_FAST
@given(
    st.sampled_from(list(_OPS)),
    st.decimals(min_value="0.1", max_value="99999", places=1).map(float),
    st.sampled_from(_UNITS),
    st.booleans(),
)
def test_render_and_read_back(op: str, value: float, unit: str | None, symbol: bool) -> None:
    if op == "=" and unit is None:
        # by design "= 20" without a unit is not emitted ("n=20" is a sample size, not a threshold)
        assert extract_comparisons(f"platelet count = {value:g}") == []
        return
    shown = _OPS[op] if symbol else op
    number = f"{value:g}" if value < 1e5 else str(value)
    text = f"platelet count {shown} {number} {unit or ''}".strip()
    comps = extract_comparisons(text)
    assert len(comps) == 1, text
    comp = comps[0]
    assert (comp.op, comp.value, comp.unit) == (op, value, unit)
    assert number in text[comp.span[0] : comp.span[1]]


def test_file_records_map_spans_back(tmp_path: Path) -> None:
    text = (
        "Inclusion criteria:\n  1. Age ≥ 18 years;\n  2. Hemoglobin > 10 g/dL\nExclusion criteria:\n  - AST > 3 x ULN\n"
    )
    path = tmp_path / "TRIAL1.txt"
    path.write_text(text, encoding="utf-8")
    rows = file_records(path)
    assert [(r["criterion"], r["section"], r["op"], r["value"]) for r in rows] == [
        ("I1", "inclusion", ">=", 18.0),
        ("I2", "inclusion", ">", 10.0),
        ("E1", "exclusion", ">", 3.0),
    ]
    for row in rows:
        start, end = row["span"]  # type: ignore[misc]
        assert str(row["value"]).split(".")[0] in text[start:end]
    assert rows[2]["relative"] == "ULN" and rows[0]["doc"] == "TRIAL1"


def test_cli_extract(tmp_path: Path) -> None:
    text = "Inclusion criteria:\n  - Platelets ≥ 100 x 10^9/L\n"
    (tmp_path / "A.txt").write_text(text, encoding="utf-8")
    start = text.index("≥")
    end = text.index("/L") + 2
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["extract", str(tmp_path / "A.txt")])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {
            "doc": "A",
            "criterion": "I1",
            "section": "inclusion",
            "span": [start, end],
            "op": ">=",
            "value": 100.0,
            "value2": None,
            "unit": "10^9/L",
            "relative": None,
            "concept": "platelets",
        }
    ]
    result = runner.invoke(app, ["extract", str(tmp_path)])
    assert result.exit_code == 1
    assert '"doc": "A"' in result.stdout
    table = runner.invoke(app, ["extract", "--format", "table", str(tmp_path / "A.txt")])
    assert table.exit_code == 0 and "platelets" in table.stdout
