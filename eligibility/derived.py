"""Values computed from other results when a criterion names a measure the record lacks (issue 11, part 4).

A criterion on BMI, eGFR or creatinine clearance is often screened against a record that holds the
inputs but not the value: weight and height, or serum creatinine with age, sex (and weight). This
module computes the value with the published formula and says so: the observation it returns carries
a text naming the formula and every input with its date, and :func:`derived_margin` says how close to
a threshold a derived value may come before it stops deciding.

- BMI = weight (kg) / height (m)^2. Weight within the look-back; height the newest one taken as an
  adult (adult height does not change), else within the look-back.
- eGFR, CKD-EPI 2021 without race (Inker et al., N Engl J Med 2021;385:1737-49):
  142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age x 1.012 (female), with Scr in mg/dL,
  k = 0.7 (female) / 0.9 (male), a = -0.241 (female) / -0.302 (male); adults only (the equation is
  not validated below 18). In mL/min/1.73 m².
- Creatinine clearance, Cockcroft-Gault (Nephron 1976;16:31-41): (140 - age) x weight (kg) /
  (72 x Scr mg/dL), x 0.85 for a female; adults only; in mL/min. Not derived for a BMI of 30 or more
  (with actual weight it overestimates, and protocols differ on which weight to use) nor without a
  weight in the look-back.

Inputs come from the same look-back as the criterion, and the derived value is dated by its newest
input. Age is completed years at the screening date. The value is compared unrounded (to 6 decimals,
which only removes floating-point noise), so a BMI of 29.96 never becomes 30.0 at a boundary.

Only the estimating equations get a margin: the lab that would report eGFR may use another equation
(MDRD, CKD-EPI 2009) and Cockcroft-Gault has variants, which differ by about 10 % around the usual
thresholds; a derived eGFR or clearance within 10 % of a threshold is therefore unknown, never a
confident answer. BMI is arithmetic on its inputs and has no margin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from .concepts import Vocabulary
from .errors import UnitError
from .patient import Observation
from .units import conversion

DERIVABLE = frozenset({"bmi", "egfr", "creatinine_clearance"})
_MARGIN = {"egfr": 0.10, "creatinine_clearance": 0.10}


@dataclass(frozen=True)
class Derived:
    """A computed value (as an observation the evaluator compares like any other) and its inputs."""

    observation: Observation
    inputs: tuple[Observation, ...]


@dataclass(frozen=True)
class Inputs:
    """What a derivation may read: the patient's results of one concept, newest first, in a unit."""

    as_of: date
    lookback_days: int
    age_years: int | None
    sex: str | None
    newest: Callable[[str, str, bool], tuple[Observation, float] | None]


def derived_margin(concept: str) -> float:
    """Relative half-width of the band around a threshold in which a derived value does not decide."""
    return _MARGIN.get(concept, 0.0)


def newest_in_unit(
    vocab: Vocabulary,
    records: Sequence[Observation],
    concept: str,
    unit: str,
    start: date,
    as_of: date,
) -> tuple[Observation, float] | None:
    """The newest result of ``concept`` dated ``start``..``as_of`` whose unit converts to ``unit``."""
    found = vocab.concepts.get(concept)
    molar = found.molar_mass if found else None
    affine = found.affine if found else ()
    dated = sorted(
        (o for o in records if o.value is not None and o.effective is not None and start <= o.effective <= as_of),
        key=lambda o: o.effective or date.min,
        reverse=True,
    )
    for obs in dated:
        if obs.unit is None:
            continue
        try:
            how = conversion(obs.unit, unit, molar, affine)
        except UnitError:
            continue
        assert obs.value is not None
        return obs, how.apply(obs.value)
    return None


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _made(concept: str, value: float, unit: str, text: str, inputs: tuple[Observation, ...]) -> Derived:
    newest = max((o.effective for o in inputs if o.effective is not None), default=None)
    obs = Observation(concept=concept, value=round(value, 6), unit=unit, effective=newest, text=text,
                      source="derived")  # fmt: skip
    return Derived(obs, inputs)


def _bmi(inp: Inputs) -> Derived | None:
    weight = inp.newest("weight", "kg", False)
    height = inp.newest("height", "cm", True)
    if weight is None or height is None or height[1] <= 0:
        return None
    metres = height[1] / 100
    value = weight[1] / (metres * metres)
    text = (
        f"BMI derived from weight {_fmt(weight[1])} kg ({weight[0].effective}) and height {_fmt(height[1])} cm "
        f"({height[0].effective}): {_fmt(value)} kg/m²"
    )
    return _made("bmi", value, "kg/m²", text, (weight[0], height[0]))


def ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: str) -> float:
    """eGFR in mL/min/1.73 m² by the 2021 race-free CKD-EPI creatinine equation."""
    female = sex == "female"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = creatinine_mg_dl / kappa
    value = float(142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age_years)
    return value * 1.012 if female else value


def cockcroft_gault(creatinine_mg_dl: float, age_years: float, sex: str, weight_kg: float) -> float:
    """Creatinine clearance in mL/min by the Cockcroft-Gault equation (actual body weight)."""
    value = (140 - age_years) * weight_kg / (72 * creatinine_mg_dl)
    return value * 0.85 if sex == "female" else value


def _egfr(inp: Inputs) -> Derived | None:
    if inp.age_years is None or inp.age_years < 18 or inp.sex not in ("male", "female"):
        return None
    scr = inp.newest("creatinine", "mg/dL", False)
    if scr is None or scr[1] <= 0:
        return None
    value = ckd_epi_2021(scr[1], inp.age_years, inp.sex)
    text = (
        f"eGFR derived by CKD-EPI 2021 (race-free) from creatinine {_fmt(scr[1])} mg/dL ({scr[0].effective}), "
        f"age {inp.age_years}, {inp.sex}: {_fmt(value)} mL/min/1.73m²"
    )
    return _made("egfr", value, "mL/min/1.73m²", text, (scr[0],))


def _crcl(inp: Inputs) -> Derived | None:
    if inp.age_years is None or inp.age_years < 18 or inp.sex not in ("male", "female"):
        return None
    scr = inp.newest("creatinine", "mg/dL", False)
    weight = inp.newest("weight", "kg", False)
    if scr is None or weight is None or scr[1] <= 0:
        return None
    height = inp.newest("height", "cm", True)
    if height is not None and height[1] > 0 and weight[1] / (height[1] / 100) ** 2 >= 30:
        return None
    value = cockcroft_gault(scr[1], inp.age_years, inp.sex, weight[1])
    text = (
        f"creatinine clearance derived by Cockcroft-Gault from creatinine {_fmt(scr[1])} mg/dL "
        f"({scr[0].effective}), age {inp.age_years}, {inp.sex}, weight {_fmt(weight[1])} kg "
        f"({weight[0].effective}): {_fmt(value)} mL/min"
    )
    return _made("creatinine_clearance", value, "mL/min", text, (scr[0], weight[0]))


_DERIVE: dict[str, Callable[[Inputs], Derived | None]] = {"bmi": _bmi, "egfr": _egfr, "creatinine_clearance": _crcl}


def derive(concept: str, inp: Inputs) -> Derived | None:
    """The derived value of ``concept`` from the patient's inputs, or None when they are not all there."""
    make = _DERIVE.get(concept)
    return make(inp) if make else None


def lookback_start(as_of: date, lookback_days: int) -> date:
    """First day of a lab look-back (the evaluator's: ``as_of - N`` is included)."""
    return as_of - timedelta(days=lookback_days)
