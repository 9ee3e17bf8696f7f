"""Tests for eligibility.units: written spellings, conversion factors, refusals, platelet round trips."""

from __future__ import annotations

import itertools
import math
from importlib import resources

import pint
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility.errors import EligibilityError, UnitError
from eligibility.units import canonical_unit, conversion_factor, convert, is_convertible, registry

# --------------------------------------------------------------------------------------------
# Written spelling -> canonical spelling
# --------------------------------------------------------------------------------------------

CANONICAL_CASES = [
    # 10^9 per litre, including the lost-superscript "109/L" artefact and CT.gov escaping
    ("10^9/L", "10^9/L"),
    ("109/L", "10^9/L"),
    ("10 9 /L", "10^9/L"),
    ("109 / L", "10^9/L"),
    ("x10^9/L", "10^9/L"),
    ("x 10^9/L", "10^9/L"),
    ("× 10⁹/L", "10^9/L"),
    ("*10^9/L", "10^9/L"),
    ("10E9/L", "10^9/L"),
    ("10e9/L", "10^9/L"),
    ("10*9/L", "10^9/L"),
    ("10**9/L", "10^9/L"),
    ("10^9/l", "10^9/L"),
    ("10\\^9/L", "10^9/L"),
    ("G/L", "10^9/L"),
    ("10^9 cells/L", "10^9/L"),
    # 10^3 per microlitre
    ("K/uL", "10^3/µL"),
    ("K/µL", "10^3/µL"),
    ("K/μL", "10^3/µL"),
    ("k/μl", "10^3/µL"),
    ("thou/uL", "10^3/µL"),
    ("10^3/uL", "10^3/µL"),
    ("10*3/uL", "10^3/µL"),
    ("10³/µL", "10^3/µL"),
    ("103/µL", "10^3/µL"),
    ("x10³/μL", "10^3/µL"),
    # 10^3 per cubic millimetre
    ("10^3/mm3", "10^3/mm³"),
    ("10³/mm³", "10^3/mm³"),
    ("1000/mm3", "10^3/mm³"),
    ("K/mm3", "10^3/mm³"),
    # per microlitre / per cubic millimetre
    ("/mm3", "/mm³"),
    ("/mm³", "/mm³"),
    ("/cumm", "/mm³"),
    ("/uL", "/µL"),
    ("/µL", "/µL"),
    ("cells/µL", "/µL"),
    ("cells/uL", "/µL"),
    ("{cells}/uL", "/µL"),
    ("cells per microliter", "/µL"),
    # red cells
    ("10^12/L", "10^12/L"),
    ("1012/L", "10^12/L"),
    ("10*6/uL", "10^6/µL"),
    ("M/uL", "10^6/µL"),
    # mass and substance concentrations
    ("mg/dL", "mg/dL"),
    ("mg/dl", "mg/dL"),
    ("MG/DL", "mg/dL"),
    ("mg%", "mg/dL"),
    ("g/dL", "g/dL"),
    ("g/dl", "g/dL"),
    ("g/L", "g/L"),
    ("g/l", "g/L"),
    ("mg/L", "mg/L"),
    ("mcg/dL", "µg/dL"),
    ("ug/mL", "µg/mL"),
    ("ng/mL", "ng/mL"),
    ("mmol/L", "mmol/L"),
    ("mmol/l", "mmol/L"),
    ("Mmol/L", "mmol/L"),
    ("umol/L", "µmol/L"),
    ("µmol/L", "µmol/L"),
    ("μmol/L", "µmol/L"),
    ("mEq/L", "mEq/L"),
    ("meq/L", "mEq/L"),
    # enzyme activity and international units
    ("U/L", "U/L"),
    ("u/L", "U/L"),
    ("IU/L", "IU/L"),
    ("[iU]/L", "IU/L"),
    ("IU/mL", "IU/mL"),
    ("mIU/mL", "mIU/mL"),
    ("m[IU]/mL", "mIU/mL"),
    ("uIU/mL", "µIU/mL"),
    ("µkat/L", "µkat/L"),
    ("ukat/L", "µkat/L"),
    ("copies/mL", "copies/mL"),
    # dimensionless, pressure, body mass index, clearance
    ("%", "%"),
    ("percent", "%"),
    ("{INR}", "1"),
    ("mmHg", "mmHg"),
    ("mm Hg", "mmHg"),
    ("mm[Hg]", "mmHg"),
    ("kg/m2", "kg/m²"),
    ("kg/m^2", "kg/m²"),
    ("kg/m²", "kg/m²"),
    ("mL/min", "mL/min"),
    ("ml/min", "mL/min"),
    ("mL/min/1.73m²", "mL/min/1.73m²"),
    ("mL/min/1.73 m2", "mL/min/1.73m²"),
    ("ml/min/1.73m^2", "mL/min/1.73m²"),
    ("mL/min/{1.73_m2}", "mL/min/1.73m²"),
    ("mL/min per 1.73 m²", "mL/min/1.73m²"),
    # time
    ("ms", "ms"),
    ("msec", "ms"),
    ("s", "s"),
    ("sec", "s"),
    ("years", "years"),
    ("yrs", "years"),
    ("a", "years"),
    ("months", "months"),
    ("mo", "months"),
    ("weeks", "weeks"),
    ("wk", "weeks"),
    ("days", "days"),
    ("d", "days"),
    ("h", "h"),
    ("hours", "h"),
    ("mg/kg/day", "mg/kg/day"),
    # temperature
    ("°C", "°C"),
    ("degC", "°C"),
    ("℃", "°C"),
    ("[degF]", "°F"),
]


@pytest.mark.parametrize(("written", "canonical"), CANONICAL_CASES)
def test_canonical_unit(written: str, canonical: str) -> None:
    assert canonical_unit(written) == canonical


@pytest.mark.parametrize("canonical", sorted({c for _, c in CANONICAL_CASES}))
def test_canonical_spellings_are_fixed_points(canonical: str) -> None:
    assert canonical_unit(canonical) == canonical


def _alias_table() -> dict[str, object]:
    text = resources.files("eligibility.data").joinpath("unit_aliases.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_every_canonical_spelling_in_the_alias_file_is_a_fixed_point() -> None:
    units = _alias_table()["units"]
    assert isinstance(units, dict)
    for written, canonical in units.items():
        assert canonical_unit(written) == canonical, written
        assert canonical_unit(canonical) == canonical, canonical


def test_g_per_litre_is_not_giga_per_litre() -> None:
    assert canonical_unit("G/L") == "10^9/L"
    assert canonical_unit("g/L") == "g/L"
    with pytest.raises(UnitError, match="ambiguous"):
        canonical_unit("G/l")


# --------------------------------------------------------------------------------------------
# Conversion factors
# --------------------------------------------------------------------------------------------

PLATELET_UNITS = [
    "10^9/L",
    "109/L",
    "G/L",
    "10^3/µL",
    "K/uL",
    "K/µL",
    "thou/uL",
    "10*3/uL",
    "10^3/mm³",
    "1000/mm3",
]
PER_MICROLITRE_UNITS = ["/µL", "/uL", "cells/µL", "{cells}/uL", "/mm³", "/mm3"]


@pytest.mark.parametrize(("a", "b"), list(itertools.product(PLATELET_UNITS, repeat=2)))
def test_platelet_units_are_equal(a: str, b: str) -> None:
    assert conversion_factor(a, b) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(PER_MICROLITRE_UNITS, repeat=2)))
def test_per_microlitre_units_are_equal(a: str, b: str) -> None:
    assert conversion_factor(a, b) == pytest.approx(1.0, rel=1e-12)


def test_thirty_times_ten_to_the_nine_per_litre() -> None:
    assert convert(30, "x 10^9/L", "/µL") == pytest.approx(30_000)
    assert convert(30, "109/L", "/mm³") == pytest.approx(30_000)
    assert convert(30, "10^9/L", "K/uL") == pytest.approx(30)
    assert convert(30_000, "cells/µL", "10^9/L") == pytest.approx(30)


FACTOR_CASES: list[tuple[str, str, float | None, float]] = [
    ("10^9/L", "/µL", None, 1000.0),
    ("/mm³", "10^3/µL", None, 1e-3),
    ("g/dL", "g/L", None, 10.0),
    ("g/L", "g/dL", None, 0.1),
    ("mg/dL", "mg/L", None, 10.0),
    ("mg/dL", "g/L", None, 0.01),
    ("U/L", "IU/L", None, 1.0),
    ("U/L", "[iU]/L", None, 1.0),
    ("mIU/mL", "IU/L", None, 1.0),
    ("U/L", "µkat/L", None, 1 / 60),
    ("µkat/L", "U/L", None, 60.0),
    ("mm[Hg]", "mmHg", None, 1.0),
    ("mmol/mol", "µmol/mol", None, 1000.0),  # ratios of the same kind of quantity convert by a factor
    ("mg/g", "g/kg", None, 1.0),
    ("kg/m2", "kg/m²", None, 1.0),
    ("mL/min/1.73m²", "mL/min/1.73m²", None, 1.0),
    ("mL/min/{1.73_m2}", "mL/min/1.73 m2", None, 1.0),
    ("mL/min/1.73m²", "mL/s/1.73m²", None, 1 / 60),
    ("mL/min", "mL/s", None, 1 / 60),
    ("s", "ms", None, 1000.0),
    ("years", "months", None, 12.0),
    ("weeks", "days", None, 7.0),
    ("years", "days", None, 365.25),
    ("copies/mL", "copies/mL", None, 1.0),
    ("IU/mL", "IU/L", None, 1000.0),
    # mass <-> substance concentration (facts (b): 10/M for mmol/L, 10 000/M for µmol/L)
    ("mg/dL", "µmol/L", 113.12, 88.4),  # creatinine
    ("µmol/L", "mg/dL", 113.12, 1 / 88.4),
    ("mg/dL", "mmol/L", 180.16, 0.0555),  # glucose
    ("mmol/L", "mg/dL", 180.16, 18.016),
    ("mg/dL", "µmol/L", 584.66, 17.1),  # bilirubin
    ("mg/dL", "mmol/L", 60.06, 0.1665),  # urea
    ("mg/dL", "µmol/L", 168.11, 59.48),  # uric acid
    ("mg/dL", "mmol/L", 40.078, 0.2495),  # calcium
    ("mmol/L", "mg/dL", 40.078, 4.008),
]


@pytest.mark.parametrize(("a", "b", "molar_mass", "expected"), FACTOR_CASES)
def test_conversion_factor(a: str, b: str, molar_mass: float | None, expected: float) -> None:
    factor = conversion_factor(a, b, molar_mass)
    # 3 significant figures: the published tables round their factors to 3-4 figures.
    assert factor == pytest.approx(expected, rel=5e-3)
    assert is_convertible(a, b, molar_mass)
    assert convert(2.5, a, b, molar_mass) == pytest.approx(2.5 * factor)


def test_creatinine_one_mg_per_dl_is_88_4_micromol_per_litre() -> None:
    assert float(f"{convert(1.0, 'mg/dL', 'µmol/L', 113.12):.3g}") == 88.4
    assert float(f"{convert(1.0, 'mg/dL', 'umol/L', 584.66):.3g}") == 17.1


def test_molar_mass_is_ignored_when_dimensions_already_match() -> None:
    assert conversion_factor("mg/dL", "mg/L", 113.12) == pytest.approx(10.0)


def test_temperature_converts_with_offset_but_has_no_factor() -> None:
    assert convert(38.0, "°C", "°F") == pytest.approx(100.4)
    assert convert(100.4, "degF", "Cel") == pytest.approx(38.0)
    assert is_convertible("°C", "°F")
    assert conversion_factor("°C", "degC") == 1.0
    with pytest.raises(UnitError, match="offset"):
        conversion_factor("°C", "°F")


def test_conversion_factor_is_cached() -> None:
    conversion_factor.cache_clear()
    for _ in range(100):
        conversion_factor("mg/dL", "µmol/L", 113.12)
    info = conversion_factor.cache_info()
    assert info.misses == 1
    assert info.hits == 99


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------

MISMATCHES: list[tuple[str, str, float | None]] = [
    ("mg/dL", "U/L", None),
    ("mg/dL", "U/L", 113.12),
    ("10^9/L", "g/L", None),
    ("G/L", "g/L", None),
    ("mg/dL", "µmol/L", None),
    ("mmol/L", "mg/dL", None),
    ("mL/min/1.73m²", "mL/min", None),
    ("mL/min", "mL/min/1.73m²", None),
    ("mEq/L", "mmol/L", None),
    ("mmHg", "kg/m²", None),
    ("years", "mg/dL", None),
    ("°C", "mg/dL", None),
    ("%", "U/L", None),
]


@pytest.mark.parametrize(("a", "b", "molar_mass"), MISMATCHES)
def test_dimension_mismatch_raises(a: str, b: str, molar_mass: float | None) -> None:
    with pytest.raises(UnitError) as info:
        conversion_factor(a, b, molar_mass)
    message = str(info.value)
    assert a in message
    assert b in message
    assert "[" in message  # the dimensions are named
    assert not is_convertible(a, b, molar_mass)
    with pytest.raises(UnitError):
        convert(1.0, a, b, molar_mass)


def test_missing_molar_mass_is_explained() -> None:
    with pytest.raises(UnitError, match="molar mass"):
        conversion_factor("mg/dL", "µmol/L")


@pytest.mark.parametrize("molar_mass", [0.0, -113.12, math.nan, math.inf])
def test_bad_molar_mass_raises(molar_mass: float) -> None:
    with pytest.raises(UnitError, match="molar mass"):
        conversion_factor("mg/dL", "µmol/L", molar_mass)


UNREADABLE = [
    "",
    "   ",
    "zz/L",
    "furlongs/fortnight",
    "K/L",
    "G/l",
    "kelvin",
    "mg//dL",
    "cells",
    "mg/(kg.min)",
    "Tg/L",
    "gauss",
    "/",
]


@pytest.mark.parametrize("text", UNREADABLE)
def test_unreadable_units_raise(text: str) -> None:
    with pytest.raises(UnitError) as info:
        canonical_unit(text)
    assert repr(text) in str(info.value)
    assert not is_convertible(text, "mg/dL")
    with pytest.raises(UnitError):
        conversion_factor(text, "mg/dL")


def test_unit_error_is_a_value_error_and_an_eligibility_error() -> None:
    assert issubclass(UnitError, ValueError)
    assert issubclass(UnitError, EligibilityError)
    with pytest.raises(ValueError):
        canonical_unit("zz/L")


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_registry_is_a_single_cached_pint_registry_with_clinical_definitions() -> None:
    ureg = registry()
    assert ureg is registry()
    assert isinstance(ureg, pint.UnitRegistry)
    assert ureg.Quantity(1, "IU/L").to("U/L").magnitude == pytest.approx(1.0)
    assert ureg.Quantity(5, "cells/uL").to("1/mm**3").magnitude == pytest.approx(5.0)
    assert ureg.Quantity(1, "copies/mL").dimensionality == ureg.Quantity(1, "1/mL").dimensionality


# --------------------------------------------------------------------------------------------
# Property: platelet round trips
# --------------------------------------------------------------------------------------------

ALL_PLATELET_UNITS = PLATELET_UNITS + PER_MICROLITRE_UNITS


PLATELET_PAIRS = list(itertools.product(ALL_PLATELET_UNITS, repeat=2))


@settings(max_examples=100, deadline=None)
@given(value=st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False))
def test_platelet_round_trip_between_every_pair(value: float) -> None:
    for a, b in PLATELET_PAIRS:
        there = convert(value, a, b)
        back = convert(there, b, a)
        assert math.isclose(back, value, rel_tol=1e-9), (a, b)
