"""Unit spellings written after a number: "450 ms", "20 mm Hg", "1,500/mm3", "3 points".

One table for the lexer and the comparison extractor, so both read a quantity's unit the same way.
``canonical_written`` returns the registry's canonical spelling, or a fixed spelling for the few units
the clinical registry does not hold (ppm, Gy, points, degrees), or None.
"""

from __future__ import annotations

import re

from ..errors import UnitError
from ..units import canonical_unit

__all__ = ["EXTRA_UNITS", "UNIT_WORD_RE", "canonical_written"]

# Unit words after a number, longest first.
UNIT_WORD_RE = re.compile(
    r"\s*(?:"
    r"(?:cells?\s*)?(?:/|per\s+)\s*(?:mm\s*3|mm³|mm\^3|cu\.?\s*mm|cmm|[µμu]\s*[lL]|mcL|microlit(?:er|re))"
    r"|mm\s*Hg|cm\s*H2O|kg\s*/\s*m\s*(?:2|²|\^2)|ml/min|mL/min"
    r"|msecs?|ms|mm|cm|kg|mg|g|µm|μm|microns?|nm|fL|fl|ppm|c?Gy|Hz|dB|bpm|beats?\s*(?:/|per\s+)\s*min(?:ute)?"
    r"|percent|lbs?|pounds?|°\s*C|°\s*F|°|degrees?(?:\s+(?:C|Celsius|F|Fahrenheit))?|IU|U|mEq|points?"
    r"|years?|yrs?|months?|mos?|weeks?|wks?|days?|hours?|hrs?"
    r")(?![\w/])",
    re.IGNORECASE,
)
# Spellings canonical_unit does not read; mapped to one fixed spelling each.
EXTRA_UNITS = {
    "microns": "µm",
    "micron": "µm",
    "ppm": "ppm",
    "cgy": "cGy",
    "gy": "Gy",
    "hz": "Hz",
    "db": "dB",
    "bpm": "/min",
    "°": "°",
    "degree": "°",
    "degrees": "°",
    "point": "points",
    "points": "points",
    "degrees c": "°C",
    "degrees celsius": "°C",
    "degree c": "°C",
    "degrees f": "°F",
    "degrees fahrenheit": "°F",
    "°f": "°F",
    "year": "years",
    "years": "years",
    "yr": "years",
    "yrs": "years",
    "month": "months",
    "months": "months",
    "mo": "months",
    "mos": "months",
    "week": "weeks",
    "weeks": "weeks",
    "wk": "weeks",
    "wks": "weeks",
    "day": "days",
    "days": "days",
    "hour": "hours",
    "hours": "hours",
    "hr": "hours",
    "hrs": "hours",
}


def canonical_written(written: str) -> str | None:
    key = re.sub(r"\s+", " ", written.strip()).lower()
    if key in EXTRA_UNITS:
        return EXTRA_UNITS[key]
    try:
        return canonical_unit(written.strip())
    except UnitError:
        return None
    except Exception:  # a unit parser must not make extraction raise on odd text
        return None
