"""Labs, vitals and scores of data/labs.yaml and the per-ion mEq/L conversions. Screening date fixed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.parse import parse_criterion
from eligibility.patient import Observation, Patient

AS_OF = date(2026, 1, 15)
VOCAB = default_vocabulary()
LOINC = "http://loinc.org"


def truth(rule: n.Node, *observations: Observation) -> Tri:
    patient = Patient(id="p", birth_date=date(1960, 1, 1), sex="male", observations=observations)
    return evaluate(rule, Context(patient, AS_OF, VOCAB)).truth


def result(concept: str | None, value: float, unit: str | None, code: str | None = None) -> Observation:
    return Observation(concept=concept, system=LOINC if code else None, code=code, value=value, unit=unit,
                       effective=AS_OF - timedelta(days=2))  # fmt: skip


values = st.floats(0.5, 200, allow_nan=False).map(lambda x: round(x, 2))


@pytest.mark.parametrize("ion", ["potassium", "sodium", "chloride", "bicarbonate"])
@settings(deadline=None)  # the first example loads the vocabulary
@given(value=values, threshold=values)
def test_monovalent_ions_mEq_per_litre_is_mmol_per_litre(ion: str, value: float, threshold: float) -> None:
    rule = n.Lab(concept=ion, op=">=", value=threshold, unit="mmol/L")
    assert truth(rule, result(ion, value, "mEq/L")) is Tri.of(value >= threshold)
    rule = n.Lab(concept=ion, op="<", value=threshold, unit="mEq/L")
    assert truth(rule, result(ion, value, "mmol/L")) is Tri.of(value < threshold)


@pytest.mark.parametrize("ion", ["magnesium", "calcium", "ionized_calcium"])
@settings(deadline=None)
@given(value=values, threshold=values)
def test_divalent_ions_mEq_per_litre_is_twice_mmol_per_litre(ion: str, value: float, threshold: float) -> None:
    rule = n.Lab(concept=ion, op=">=", value=threshold, unit="mmol/L")
    assert truth(rule, result(ion, value, "mEq/L")) is Tri.of(value / 2 >= threshold)


@pytest.mark.parametrize(
    ("text", "kind", "record", "expected"),
    [
        ("Potassium >= 3.5 mEq/L", "inclusion", result(None, 3.4, "mmol/L", "2823-3"), Tri.FALSE),
        ("Potassium >= 3.5 mEq/L", "inclusion", result(None, 3.5, "mmol/L", "2823-3"), Tri.TRUE),
        ("MMSE score of 27 or more", "inclusion", result(None, 27, None, "72106-8"), Tri.TRUE),
        ("MMSE score of 27 or more", "inclusion", result(None, 26, None, "72106-8"), Tri.FALSE),
        ("PHQ-9 total score below 10", "inclusion", result(None, 9, None, "44261-6"), Tri.TRUE),
        ("Magnesium < 1.2 mg/dL", "exclusion", result(None, 0.4, "mmol/L", "19123-9"), Tri.TRUE),  # 0.97 mg/dL
        ("CRP > 10 mg/L", "exclusion", result(None, 0.8, "mg/dL", "1988-5"), Tri.FALSE),  # 8 mg/L
        ("NT-proBNP > 400 pg/mL", "exclusion", result(None, 0.5, "ng/mL", "33762-6"), Tri.TRUE),  # 500 pg/mL
        ("SpO2 below 90%", "exclusion", result(None, 95, "%", "59408-5"), Tri.FALSE),
        ("EDSS score above 6.5", "exclusion", result("edss", 7, None), Tri.TRUE),  # no code: by concept
        ("EDSS score above 6.5", "exclusion", result(None, 7, None, "99999-9"), Tri.UNKNOWN),  # unknown code
    ],
)
def test_lab_verdicts(text: str, kind: str, record: Observation, expected: Tri) -> None:
    assert truth(parse_criterion(text, kind), record) is expected
