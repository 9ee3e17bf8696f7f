"""The values a unit conversion is made of: an analyte's stated affine line (:class:`Affine`) and the
:class:`Conversion` the evaluator and the SQL compiler apply. Plain data, no pint."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Affine:
    """An analyte's explicit conversion ``to = scale * from + offset`` (data: ``conversions`` in concepts.yaml).

    Why it is data and not a unit definition: HbA1c in IFCC mmol/mol and in NGSP % are both
    dimensionless, and the line between them (the IFCC-NGSP master equation) is a calibration of one
    analyte, not a property of the units; the same pair of units means nothing for another analyte.
    ``from_label`` / ``to_label`` name the scales in explanations ("IFCC", "NGSP"); ``to_decimals`` /
    ``from_decimals`` are the precision each scale is reported at, so that a converted value is
    rounded like a laboratory reporting both scales would (48 mmol/mol is 6.5 %, and 6.5 % is 48).
    The inverse conversion is derived, never written twice.
    """

    from_unit: str
    to_unit: str
    scale: float
    offset: float
    name: str
    source: str
    from_label: str = ""
    to_label: str = ""
    from_decimals: int | None = None
    to_decimals: int | None = None


@dataclass(frozen=True)
class Conversion:
    """``converted = round(scale * value + offset, decimals)``: one unit pair for one analyte.

    A plain factor has ``offset`` 0, ``decimals`` None and ``via`` None; an affine conversion names
    what it used in ``via`` (for explanations) and carries the labels of both scales. The batch SQL
    compiler writes exactly these operations (:meth:`apply`) into its queries.
    """

    scale: float
    offset: float = 0.0
    decimals: int | None = None
    via: str | None = None
    from_label: str = ""
    to_label: str = ""

    @property
    def is_factor(self) -> bool:
        return self.offset == 0.0 and self.decimals is None

    def apply(self, value: float) -> float:
        """The converted value; rounding is half-up as ``floor(x * 10^d + 0.5) / 10^d`` (also in SQL)."""
        converted = value * self.scale
        if self.offset != 0.0:
            converted = converted + self.offset
        if self.decimals is not None:
            converted = math.floor(converted * 10**self.decimals + 0.5) / 10**self.decimals
        return converted
