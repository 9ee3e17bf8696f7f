"""Conversions that are a factor: ``value_in_to = value_in_from * factor``, cached per unit pair.

A factor exists between units of the same dimension, between mass and substance concentration given the
analyte's molar mass, and between ratio units of the same kind; never for the offset temperature scales
(°C/°F, which :func:`convert` converts directly) nor between ratios of unstated kind (% and mmol/mol).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from eligibility.errors import UnitError

from .quantities import is_offset, registry, unit_quantity
from .spelling import canonical_unit

if TYPE_CHECKING:
    import pint


def _label(written: str, canonical: str) -> str:
    """Name a unit in a message as the user wrote it, plus its canonical reading when different."""
    return f"'{written}'" if written == canonical else f"'{written}' (read as '{canonical}')"


def _dimensions(quantity: pint.Quantity[Any]) -> str:
    dims = str(quantity.dimensionality)
    return dims if dims else "dimensionless"


@lru_cache(maxsize=256)
def _ratio_kind(canonical: str) -> str:
    """What a dimensionless unit is a ratio *of*: '[substance]' for mmol/mol, '[mass]' for mg/g, '' for % or 1.

    Two ratio units convert by a factor only when they compare the same kind of quantity (mmol/mol and
    µmol/mol, mg/g and g/kg). A percent, per-mille or bare number does not say what it is a fraction
    of, so reading 48 mmol/mol as 4.8 % (a per-mille ratio) is refused: HbA1c IFCC and NGSP values
    are related by an affine calibration, which must be stated (see :class:`Affine`).
    """
    ureg = registry()
    units: dict[str, Any] = dict(unit_quantity(canonical).units._units)
    numerator = [name for name, power in units.items() if power > 0]
    if not numerator:
        return ""
    dims = ureg.Quantity(1, "*".join(numerator)).dimensionality
    return str(dims) if dims else ""


def _molar_mass_quantity(molar_mass: float | None, from_unit: str, to_unit: str) -> pint.Quantity[Any] | None:
    if molar_mass is None:
        return None
    if isinstance(molar_mass, bool) or not isinstance(molar_mass, int | float):
        raise UnitError(f"molar mass for {from_unit} -> {to_unit} must be a number, got {molar_mass!r}")
    if not math.isfinite(molar_mass) or molar_mass <= 0:
        raise UnitError(f"molar mass for {from_unit} -> {to_unit} must be positive, got {molar_mass!r}")
    quantity: pint.Quantity[Any] = registry().Quantity(float(molar_mass), "g/mol")
    return quantity


@lru_cache(maxsize=4096)
def conversion_factor(from_unit: str, to_unit: str, molar_mass: float | None = None) -> float:
    """Multiplicative factor so that ``value_in_to = value_in_from * factor``.

    Both arguments go through :func:`canonical_unit`. Mass <-> substance concentration
    (mg/dL <-> µmol/L or mmol/L) needs the analyte's molar mass in g/mol; without it this raises
    rather than guessing. Raises :class:`~eligibility.errors.UnitError` on unknown units, on
    dimension mismatch (the message names both units and their dimensions) and on offset units
    (°C/°F have no factor; use :func:`convert`). Cached per ``(from, to, molar_mass)`` so that a
    batch converts once per distinct unit pair, not once per value.
    """
    c_from, c_to = canonical_unit(from_unit), canonical_unit(to_unit)
    q_from, q_to = unit_quantity(c_from), unit_quantity(c_to)
    name_from, name_to = _label(from_unit, c_from), _label(to_unit, c_to)
    offset = is_offset(c_from) or is_offset(c_to)
    if offset and q_from.dimensionality == q_to.dimensionality:
        if c_from == c_to:
            return 1.0
        raise UnitError(
            f"no multiplicative factor from {name_from} to {name_to}: temperature scales have an offset; use convert()"
        )
    if c_from != c_to and not q_from.dimensionality and not q_to.dimensionality:
        kind_from, kind_to = _ratio_kind(c_from), _ratio_kind(c_to)
        if not kind_from or kind_from != kind_to:
            raise UnitError(
                f"no factor from {name_from} to {name_to}: both are ratios [dimensionless] of unstated or different "
                "quantities, so converting them needs an explicit conversion for the analyte (HbA1c IFCC mmol/mol "
                "to NGSP % is affine, not a factor)"
            )
    import pint

    source = q_from
    if q_from.dimensionality != q_to.dimensionality:
        ureg = registry()
        per_mole = ureg.Quantity(1.0, "g/mol")
        if not offset and (q_from / per_mole).dimensionality == q_to.dimensionality:
            direction = -1  # mass -> substance: divide by the molar mass
        elif not offset and (q_from * per_mole).dimensionality == q_to.dimensionality:
            direction = 1  # substance -> mass: multiply by the molar mass
        else:
            raise UnitError(
                f"cannot convert {name_from} [{_dimensions(q_from)}] to {name_to} [{_dimensions(q_to)}]: "
                "different dimensions"
            )
        mass = _molar_mass_quantity(molar_mass, c_from, c_to)
        if mass is None:
            raise UnitError(
                f"cannot convert {name_from} [{_dimensions(q_from)}] to {name_to} [{_dimensions(q_to)}] "
                "without the analyte's molar mass (g/mol)"
            )
        source = q_from * mass if direction > 0 else q_from / mass
    try:
        factor = float(source.to(q_to.units).magnitude / q_to.magnitude)
    except pint.errors.PintError as exc:  # pragma: no cover - dimensions were checked above
        raise UnitError(f"cannot convert '{c_from}' to '{c_to}': {exc}") from exc
    if not math.isfinite(factor) or factor == 0:
        raise UnitError(f"conversion from '{c_from}' to '{c_to}' gives an unusable factor {factor!r}")
    return factor


def convert(value: float, from_unit: str, to_unit: str, molar_mass: float | None = None) -> float:
    """Convert one value; a multiplication by the cached :func:`conversion_factor`.

    Temperatures (°C <-> °F) are the exception: they have an offset, so pint converts them directly.
    Raises :class:`~eligibility.errors.UnitError` like :func:`conversion_factor`.
    """
    c_from, c_to = canonical_unit(from_unit), canonical_unit(to_unit)
    if c_from != c_to and (is_offset(c_from) or is_offset(c_to)):
        import pint

        q_from, q_to = unit_quantity(c_from), unit_quantity(c_to)
        try:
            converted = registry().Quantity(value, q_from.units).to(q_to.units)
        except pint.errors.DimensionalityError as exc:
            raise UnitError(
                f"cannot convert {_label(from_unit, c_from)} [{_dimensions(q_from)}] to "
                f"{_label(to_unit, c_to)} [{_dimensions(q_to)}]: different dimensions"
            ) from exc
        return float(converted.magnitude)
    return value * conversion_factor(c_from, c_to, molar_mass)


def is_convertible(from_unit: str, to_unit: str, molar_mass: float | None = None) -> bool:
    """Whether :func:`convert` would succeed: both units readable and dimensions compatible."""
    try:
        c_from, c_to = canonical_unit(from_unit), canonical_unit(to_unit)
        if c_from != c_to and (is_offset(c_from) or is_offset(c_to)):
            return unit_quantity(c_from).dimensionality == unit_quantity(c_to).dimensionality
        conversion_factor(c_from, c_to, molar_mass)
    except UnitError:
        return False
    return True
