"""Conversions that are not a factor: an analyte's stated affine line (HbA1c IFCC <-> NGSP), composed with
plain factors on either side, and the Celsius / Fahrenheit scales; :func:`conversion` picks the conversion
for one unit pair of one analyte and otherwise falls back to :func:`~eligibility.units.factors.conversion_factor`.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from typing import Any

from eligibility.errors import UnitError

from .factors import conversion_factor, convert
from .model import Affine, Conversion
from .quantities import is_offset
from .spelling import canonical_unit


def _kept_conversion(value: Any) -> Conversion:
    """A kept conversion read back; anything but the fields, of their types, is refused (computed again)."""
    numbers, texts = ("scale", "offset"), ("from_label", "to_label")
    if (
        not isinstance(value, dict)
        or set(value) != {f.name for f in dataclasses.fields(Conversion)}
        or not all(type(value[k]) in (int, float) for k in numbers)
        or not all(isinstance(value[k], str) for k in texts)
        or not (value["decimals"] is None or type(value["decimals"]) is int)
        or not (value["via"] is None or isinstance(value["via"], str))
    ):
        raise TypeError("not a conversion")
    return Conversion(**value)


# The Celsius and Fahrenheit scales by definition (°F = 9/5 °C + 32), written exactly rather than derived
# from pint's kelvin round trip, which leaves float noise in the offset.
_TEMPERATURE_LINES: dict[tuple[str, str], tuple[float, float]] = {
    ("°C", "°F"): (9 / 5, 32.0),
    ("°F", "°C"): (5 / 9, -160 / 9),
}


def _composed(rule: Affine, c_from: str, c_to: str, molar_mass: float | None) -> Conversion | None:
    """``rule`` (or its inverse) between the two units, with plain factors on either side; None if it does not fit."""
    rule_from, rule_to = canonical_unit(rule.from_unit), canonical_unit(rule.to_unit)
    forward = (rule_from, rule_to, rule.scale, rule.offset, rule.to_decimals, rule.from_label, rule.to_label)
    inverse = (
        rule_to, rule_from, 1.0 / rule.scale, -rule.offset / rule.scale, rule.from_decimals,
        rule.to_label, rule.from_label,
    )  # fmt: skip
    for start, end, scale, offset, decimals, label_from, label_to in (forward, inverse):
        try:
            pre = 1.0 if c_from == start else conversion_factor(c_from, start, molar_mass)
            post = 1.0 if end == c_to else conversion_factor(end, c_to, molar_mass)
        except UnitError:
            continue
        exact = pre == 1.0 and post == 1.0
        return Conversion(
            scale=scale if exact else post * scale * pre,
            offset=offset if post == 1.0 else post * offset,
            decimals=decimals if post == 1.0 else None,
            via=rule.name,
            from_label=label_from,
            to_label=label_to,
        )
    return None


@lru_cache(maxsize=4096)
def conversion(
    from_unit: str, to_unit: str, molar_mass: float | None = None, affine: tuple[Affine, ...] = ()
) -> Conversion:
    """How a value in ``from_unit`` becomes a value in ``to_unit`` for one analyte: a factor or an affine line.

    ``affine`` are the analyte's explicit conversions (its concept's ``conversions``); one that links
    the two units (directly, inverted, or with plain factors around it) is used first. Otherwise
    temperatures (°C <-> °F) get pint's own affine line and everything else a
    :func:`conversion_factor`, which refuses ratio units of unstated kind: a conversion never falls
    back silently to a factor. Raises :class:`~eligibility.errors.UnitError` when no conversion exists.
    Cached per distinct arguments, like :func:`conversion_factor`; the SQL compiler calls it per unit. Kept
    between processes too (:mod:`unit_memo`, as :func:`canonical_unit`).
    """
    from ..unit_memo import remembered

    try:
        key = json.dumps([from_unit, to_unit, molar_mass, [dataclasses.astuple(rule) for rule in affine]])
    except (TypeError, ValueError):  # an argument JSON cannot name is answered without the memo
        return _conversion(from_unit, to_unit, molar_mass, affine)
    compute = lambda: _conversion(from_unit, to_unit, molar_mass, affine)  # noqa: E731
    return remembered("conversion", key, compute, dataclasses.asdict, _kept_conversion)


def _conversion(from_unit: str, to_unit: str, molar_mass: float | None, affine: tuple[Affine, ...]) -> Conversion:
    c_from, c_to = canonical_unit(from_unit), canonical_unit(to_unit)
    if c_from == c_to:
        return Conversion(1.0)
    for rule in affine:
        found = _composed(rule, c_from, c_to, molar_mass)
        if found is not None:
            return found
    if (c_from, c_to) in _TEMPERATURE_LINES:
        scale, offset = _TEMPERATURE_LINES[c_from, c_to]
        return Conversion(scale=scale, offset=offset, via="temperature scales (affine)")
    if is_offset(c_from) or is_offset(c_to):
        convert(0.0, c_from, c_to)  # raises the dimension error
        raise UnitError(f"no conversion from '{c_from}' to '{c_to}'")  # pragma: no cover - only °C/°F exist
    return Conversion(conversion_factor(c_from, c_to, molar_mass))
