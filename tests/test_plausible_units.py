"""Issue 10: conversions that are not a factor (HbA1c IFCC <-> NGSP, °F <-> °C) and thresholds that
cannot be meant literally (a unit typo an order of magnitude off). Sentences are our own."""

from __future__ import annotations

from datetime import date

import pytest

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.errors import ParseError, UnitError
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion, read_criterion
from eligibility.patient import Observation, Patient
from eligibility.units import canonical_unit, conversion, conversion_factor

VOCAB = default_vocabulary()
AS_OF = date(2026, 3, 1)
HBA1C = VOCAB.concepts["hba1c"]


# ---- units: the affine line and its inverse ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "target", "expected"),
    [
        (48, "mmol/mol", "%", 6.5),  # the diagnostic boundary, both ways
        (6.5, "%", "mmol/mol", 48),
        (53, "mmol/mol", "%", 7.0),
        (7.0, "%", "mmol/mol", 53),
        (70, "mmol/mol", "%", 8.6),
        (64, "mmol/mol", "%", 8.0),
        (8.0, "%", "mmol/mol", 64),
        (47, "mmol/mol", "%", 6.5),  # 6.45 reported at one decimal
        (46, "mmol/mol", "%", 6.4),
    ],
)
def test_hba1c_master_equation(value: float, unit: str, target: str, expected: float) -> None:
    how = conversion(unit, target, None, HBA1C.affine)
    assert how.via == "IFCC-NGSP master equation"
    assert how.offset != 0
    assert how.apply(value) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("a", "b"), [("mmol/mol", "%"), ("%", "mmol/mol"), ("%", "‰"), ("%", "1"), ("‰", "mmol/mol")])
def test_ratio_units_never_fall_back_to_a_factor(a: str, b: str) -> None:
    with pytest.raises(UnitError, match="ratio"):
        conversion_factor(a, b)
    with pytest.raises(UnitError):
        conversion(a, b)  # no analyte conversion given


def test_permille_is_a_unit() -> None:
    assert canonical_unit("‰") == canonical_unit("permille") == "‰"


@pytest.mark.parametrize(
    ("value", "a", "b", "expected"),
    [(100.4, "°F", "°C", 38.0), (38.0, "°C", "°F", 100.4), (98.6, "degF", "Cel", 37.0), (32, "°F", "°C", 0.0)],
)
def test_temperature_is_an_affine_conversion(value: float, a: str, b: str, expected: float) -> None:
    how = conversion(a, b)
    assert how.via is not None and "affine" in how.via
    assert how.apply(value) == pytest.approx(expected, abs=1e-9)


# ---- evaluator: results in one scale, thresholds in the other ----------------------------------


def _verdict(value: float, unit: str | None, op: str, threshold: float, t_unit: str | None) -> tuple[Tri, str]:
    patient = Patient(
        id="p",
        birth_date=date(1970, 1, 1),
        sex="female",
        observations=(Observation(concept="hba1c", value=value, unit=unit, effective=AS_OF),),
    )
    lab = n.Lab(concept="hba1c", op=op, value=threshold, unit=t_unit)  # type: ignore[arg-type]
    v = evaluate(lab, Context(patient, AS_OF, VOCAB))
    return v.truth, v.reason


@pytest.mark.parametrize(
    ("value", "unit", "op", "threshold", "t_unit", "truth"),
    [
        (48, "mmol/mol", ">=", 6.5, "%", Tri.TRUE),  # was read as 4.8 %
        (46, "mmol/mol", ">=", 6.5, "%", Tri.FALSE),
        (70, "mmol/mol", ">", 8.0, "%", Tri.TRUE),  # was read as 7 %
        (70, "mmol/mol", ">", 8.6, "%", Tri.FALSE),
        (6.5, "%", ">=", 48, "mmol/mol", Tri.TRUE),
        (6.4, "%", ">=", 48, "mmol/mol", Tri.FALSE),
        (7.1, "%", ">", 53, "mmol/mol", Tri.TRUE),
        (7.0, "%", ">", 53, "mmol/mol", Tri.FALSE),
        (53, "mmol/mol", ">", 53, "mmol/mol", Tri.FALSE),
        (6.5, "%", ">=", 6.5, None, Tri.TRUE),  # the concept's unit
        (48, "‰", ">=", 6.5, "%", Tri.UNKNOWN),  # a per-mille HbA1c has no stated conversion
        (0.065, "1", ">=", 6.5, "%", Tri.UNKNOWN),
    ],
)
def test_hba1c_both_ways(value: float, unit: str, op: str, threshold: float, t_unit: str | None, truth: Tri) -> None:
    got, reason = _verdict(value, unit, op, threshold, t_unit)
    assert got is truth, reason


def test_affine_explanation_shows_value_converted_value_and_method() -> None:
    _, reason = _verdict(48, "mmol/mol", ">=", 6.5, "%")
    assert "48 mmol/mol (IFCC) = 6.5 % (NGSP" in reason
    assert "master equation" in reason and "affine" in reason


def test_unconvertible_ratio_is_a_data_quality_note() -> None:
    patient = Patient(id="p", observations=(Observation(concept="hba1c", value=48, unit="‰", effective=AS_OF),))
    v = evaluate(n.Lab(concept="hba1c", op=">=", value=6.5, unit="%"), Context(patient, AS_OF, VOCAB))
    assert v.truth is Tri.UNKNOWN
    assert any("data quality" in note for note in v.notes)


def test_threshold_written_in_mmol_per_mol_is_read_and_converts() -> None:
    rule = n.strip_spans(parse_criterion("HbA1c of at least 53 mmol/mol"))
    assert isinstance(rule, n.Lab) and rule.unit == "mmol/mol" and rule.value == 53


# ---- thresholds that cannot be meant literally -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("serum creatinine must be below 2.0 ng/dL", "probably mg/dL"),
        ("creatinine ≤ 1.5 µmol/L", "probably mg/dL"),
        ("serum albumin of at least 3.0 g/L", "probably g/dL"),
        ("platelet count ≥ 75/µL", "probably 10^9/L"),
        ("ANC ≥ 1500 x 10^9/L", "probably /µL"),
        ("QTc above 0.45 ms", "probably s"),
        ("HbA1c above 64 %", "probably mmol/mol"),
        ("hemoglobin ≥ 8 g/L", "unclear"),
    ],
)
def test_implausible_threshold_is_unknown_with_the_likely_unit(text: str, hint: str) -> None:
    rule = parse_criterion(text)
    unread = [x for x in n.walk(rule) if isinstance(x, n.Unparsed)]
    assert unread and not any(isinstance(x, n.Lab) for x in n.walk(rule)), rule
    assert "cannot be meant literally" in unread[0].reason
    assert hint in unread[0].reason


@pytest.mark.parametrize(
    "text",
    [
        "serum creatinine below 2.0 mg/dL",
        "creatinine < 177 umol/L",
        "creatinine ≤ 1.5 x ULN",
        "serum albumin of at least 30 g/L",
        "platelet count ≥ 75,000/µL",
        "platelets ≥ 75 x 10^9/L",
        "ANC ≥ 1.5 x 10^9/L",
        "QTc above 450 ms",
        "HbA1c between 7.0% and 10.5%",
        "HbA1c above 64 mmol/mol",
        "hemoglobin ≥ 8 g/dL",
        "hemoglobin ≥ 80 g/L",
    ],
)
def test_near_misses_read_normally(text: str) -> None:
    rule = parse_criterion(text)
    assert isinstance(rule, n.Lab), rule


@pytest.mark.parametrize(
    "text",
    ["creatinine clearance of at most 2 x ULN", "eGFR below 1.5 times the upper limit of normal", "CrCl ≥ LLN"],
)
def test_multiples_of_a_limit_the_analyte_has_no_are_refused(text: str) -> None:
    """A clearance has no ULN: read literally, '<= 2 x ULN' would fail or pass everyone on a made-up limit."""
    rule = parse_criterion(text)
    assert not any(isinstance(x, n.Lab) for x in n.walk(rule)), rule
    assert any(isinstance(x, n.Unparsed) and "not judged against" in x.reason for x in n.walk(rule))


@pytest.mark.parametrize("text", ["creatinine ≤ 2 x ULN", "ALT ≤ 3 x ULN", "platelets ≥ LLN"])
def test_multiples_of_a_limit_the_analyte_has_are_read(text: str) -> None:
    assert isinstance(parse_criterion(text), n.Lab)


def test_implausible_in_a_list_leaves_the_rest() -> None:
    rule = parse_criterion("age 18 to 70 years and creatinine below 2.0 ng/dL")
    assert any(isinstance(x, n.Age) for x in n.walk(rule))
    assert any(isinstance(x, n.Unparsed) and "mg/dL" in x.reason for x in n.walk(rule))


def test_rule_file_with_implausible_threshold_is_an_error() -> None:
    with pytest.raises(ParseError, match="implausible threshold"):
        read_criterion("creatinine < 2.0 ng/dL")
    assert isinstance(read_criterion("creatinine < 2.0 mg/dL"), n.Lab)


def test_every_lab_with_a_unit_has_a_plausible_range_that_contains_its_reference_range() -> None:
    for c in VOCAB.concepts.values():
        if c.category != "lab" or c.unit is None:
            continue
        assert c.plausible is not None, c.id
        for r in c.ranges:
            for bound in (r.low, r.high):
                if bound:
                    how = conversion(r.unit, c.plausible.unit, c.molar_mass, c.affine)
                    assert c.plausible.low <= how.apply(bound) <= c.plausible.high, (c.id, bound)


@pytest.mark.parametrize(
    ("value", "unit", "op", "threshold", "t_unit", "truth"),
    [
        (100.4, "°F", ">=", 38.0, "°C", Tri.TRUE),  # exactly the boundary
        (100.3, "°F", ">=", 38.0, "°C", Tri.FALSE),
        (38.0, "°C", ">=", 100.4, "°F", Tri.TRUE),
        (37.9, "°C", ">=", 100.4, "°F", Tri.FALSE),
        (98.6, "degF", "<", 37.5, "°C", Tri.TRUE),
    ],
)
def test_body_temperature_fahrenheit_and_celsius(
    value: float, unit: str, op: str, threshold: float, t_unit: str, truth: Tri
) -> None:
    patient = Patient(
        id="p", observations=(Observation(concept="body_temperature", value=value, unit=unit, effective=AS_OF),)
    )
    lab = n.Lab(concept="body_temperature", op=op, value=threshold, unit=t_unit)  # type: ignore[arg-type]
    v = evaluate(lab, Context(patient, AS_OF, VOCAB))
    assert v.truth is truth, v.reason
    assert "affine" in v.reason


def test_temperature_threshold_in_the_wrong_scale_is_unknown() -> None:
    rule = parse_criterion("temperature above 38.5 °F")
    assert isinstance(rule, n.Unparsed) and "probably °C" in rule.reason
    assert isinstance(parse_criterion("temperature above 100.4 °F"), n.Lab)
