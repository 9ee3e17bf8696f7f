"""Derived values (eligibility/derived.py): BMI, eGFR CKD-EPI 2021 and Cockcroft-Gault clearance.

Known values: the 2021 CKD-EPI equation as published (Inker et al., NEJM 2021) gives 92 mL/min/1.73 m²
for a man of 50 with creatinine 1.0 mg/dL and 84 for a woman of 60 with 0.8 mg/dL (the NKF calculator
rounds the same); Cockcroft-Gault gives (140 - 60) x 72 / (72 x 1.0) = 80 mL/min. Screening date fixed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility import nodes as n
from eligibility.concepts import default_vocabulary
from eligibility.derived import ckd_epi_2021, cockcroft_gault
from eligibility.evaluate import Context, evaluate
from eligibility.logic import Tri
from eligibility.patient import Observation, Patient

AS_OF = date(2026, 1, 15)
VOCAB = default_vocabulary()


def ago(days: int) -> date:
    return AS_OF - timedelta(days=days)


def born(age: int) -> date:
    return date(AS_OF.year - age, 1, 1)


def obs(concept: str, value: float, unit: str, days: int = 5) -> Observation:
    return Observation(concept=concept, value=value, unit=unit, effective=ago(days))


def run(rule: n.Node, **kw: Any) -> Any:
    kw.setdefault("id", "p")
    return evaluate(rule, Context(Patient(**kw), AS_OF, VOCAB))


@pytest.mark.parametrize(
    ("scr", "age", "sex", "expected"),
    [(1.0, 50, "male", 91.7), (0.8, 60, "female", 84.3), (0.6, 30, "female", 123.8), (2.0, 70, "male", 35.2)],
)
def test_ckd_epi_2021_known_values(scr: float, age: int, sex: str, expected: float) -> None:
    assert ckd_epi_2021(scr, age, sex) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize(
    ("scr", "age", "sex", "weight", "expected"),
    [(1.0, 60, "male", 72, 80.0), (1.2, 40, "female", 60, 59.03), (2.0, 80, "male", 70, 29.17)],
)
def test_cockcroft_gault_known_values(scr: float, age: int, sex: str, weight: float, expected: float) -> None:
    assert cockcroft_gault(scr, age, sex, weight) == pytest.approx(expected, abs=0.01)


@given(st.floats(0.3, 15), st.integers(18, 100))
def test_ckd_epi_falls_with_creatinine_and_women_get_the_factor(scr: float, age: int) -> None:
    assert ckd_epi_2021(scr * 1.1, age, "male") < ckd_epi_2021(scr, age, "male")
    # below both kappas the female and male curves differ only by their constants; above, by 1.012 x (0.7/0.9)^-1.2
    if scr > 0.9:
        ratio = ckd_epi_2021(scr, age, "female") / ckd_epi_2021(scr, age, "male")
        assert ratio == pytest.approx(1.012 * (0.7 / 0.9) ** 1.2, rel=1e-9)


BMI_LT_30 = n.Lab(concept="bmi", op="<", value=30, unit="kg/m²")
BMI_LE_30 = n.Lab(concept="bmi", op="<=", value=30, unit="kg/m²")


@pytest.mark.parametrize(
    ("rule", "observations", "expected"),
    [
        # 97.2 kg at 180 cm is exactly 30.0 kg/m²: the boundary decides both ways
        (BMI_LT_30, (obs("weight", 97.2, "kg"), obs("height", 180, "cm")), Tri.FALSE),
        (BMI_LE_30, (obs("weight", 97.2, "kg"), obs("height", 180, "cm")), Tri.TRUE),
        (BMI_LT_30, (obs("weight", 97.1, "kg"), obs("height", 180, "cm")), Tri.TRUE),  # 29.97, never rounded up
        # an adult height of years ago still counts (adult height does not change)
        (BMI_LT_30, (obs("weight", 90.7, "kg"), obs("height", 177.8, "cm", days=2000)), Tri.TRUE),  # 28.7
        (BMI_LT_30, (obs("weight", 80, "kg"),), Tri.UNKNOWN),  # no height
        (BMI_LT_30, (obs("weight", 80, "kg", days=400), obs("height", 180, "cm")), Tri.UNKNOWN),  # stale weight
        # a BMI on record wins over the inputs
        (BMI_LT_30, (obs("bmi", 31, "kg/m2"), obs("weight", 60, "kg"), obs("height", 180, "cm")), Tri.FALSE),
    ],
)
def test_bmi_is_derived_from_weight_and_height(
    rule: n.Lab, observations: tuple[Observation, ...], expected: Tri
) -> None:
    v = run(rule, birth_date=born(40), sex="female", observations=observations)
    assert v.truth is expected
    if expected is not Tri.UNKNOWN and not any(o.concept == "bmi" for o in observations):
        assert "derived" in v.reason


def egfr(op: n.Op, value: float) -> n.Lab:
    return n.Lab(concept="egfr", op=op, value=value, unit="mL/min/1.73m²")


@pytest.mark.parametrize(
    ("rule", "age", "sex", "creatinine", "expected"),
    [
        (egfr(">=", 60), 50, "male", (1.0, "mg/dL"), Tri.TRUE),  # 91.7, far above
        (egfr(">=", 90), 50, "male", (1.0, "mg/dL"), Tri.UNKNOWN),  # 91.7 is within 10 % of 90
        (egfr(">=", 110), 50, "male", (1.0, "mg/dL"), Tri.FALSE),  # 91.7 x 1.1 = 100.9 < 110
        (egfr(">=", 60), 50, "male", (88.4, "umol/L"), Tri.TRUE),  # the same creatinine in µmol/L
        (egfr("<", 38), 70, "male", (2.0, "mg/dL"), Tri.UNKNOWN),  # 35.2: within 10 % of 38
        (egfr("<", 30), 70, "male", (2.0, "mg/dL"), Tri.FALSE),  # 35.2 x 0.9 = 31.7 >= 30
        (egfr("<", 45), 70, "male", (2.0, "mg/dL"), Tri.TRUE),  # 35.2 x 1.1 = 38.8 < 45
        (egfr(">=", 60), 16, "male", (0.6, "mg/dL"), Tri.UNKNOWN),  # not for children
        (egfr(">=", 60), 50, None, (1.0, "mg/dL"), Tri.UNKNOWN),  # the equation needs the sex
    ],
)
def test_egfr_is_derived_from_creatinine_age_and_sex(
    rule: n.Lab, age: int, sex: str | None, creatinine: tuple[float, str], expected: Tri
) -> None:
    v = run(rule, birth_date=born(age), sex=sex, observations=(obs("creatinine", *creatinine),))
    assert v.truth is expected
    if age >= 18 and sex:
        assert "CKD-EPI 2021" in v.reason


CRCL_GE_50 = n.Lab(concept="creatinine_clearance", op=">=", value=50, unit="mL/min")


@pytest.mark.parametrize(
    ("age", "sex", "observations", "expected"),
    [
        (60, "male", (obs("creatinine", 1.0, "mg/dL"), obs("weight", 72, "kg")), Tri.TRUE),  # 80
        (40, "female", (obs("creatinine", 1.2, "mg/dL"), obs("weight", 60, "kg")), Tri.TRUE),  # 59.0 x 0.9 = 53.1
        (40, "female", (obs("creatinine", 1.3, "mg/dL"), obs("weight", 60, "kg")), Tri.UNKNOWN),  # 54.5: within 10 %
        (80, "male", (obs("creatinine", 2.0, "mg/dL"), obs("weight", 70, "kg")), Tri.FALSE),  # 29.2
        (60, "male", (obs("creatinine", 1.0, "mg/dL"),), Tri.UNKNOWN),  # no weight
        # obese (BMI 34.6): actual-weight Cockcroft-Gault is not used
        (
            60,
            "male",
            (obs("creatinine", 1.0, "mg/dL"), obs("weight", 112, "kg"), obs("height", 180, "cm")),
            Tri.UNKNOWN,
        ),
    ],
)  # fmt: skip
def test_creatinine_clearance_is_derived_by_cockcroft_gault(
    age: int, sex: str, observations: tuple[Observation, ...], expected: Tri
) -> None:
    assert run(CRCL_GE_50, birth_date=born(age), sex=sex, observations=observations).truth is expected
