"""Clinical units: one pint registry, one canonical spelling per unit, cached conversion factors.

Why this package exists: the same quantity is written in many ways in criteria and records
("30 x 109/L", "30,000/µL", "30 K/uL", UCUM "10*3/uL"), and pint alone reads several of those
spellings wrongly (``K`` is kelvin, ``G`` is gauss, ``u`` is the atomic mass unit, ``M`` is molar).
So unit text is first rewritten to a *canonical spelling* (``canonical_unit``) using the data file
``eligibility/data/unit_aliases.yaml`` plus a few regexes for powers of ten, and only canonical
spellings are handed to pint. The pint registry is pint's defaults plus ``eligibility/data/units.txt``
(international unit, counts, equivalents, the 1.73 m² BSA normalisation), loaded with
``UnitRegistry.load_definitions`` exactly as pint loads its own definitions.

The evaluator converts one *unit pair* at a time, not one value at a time: ``conversion_factor``
is cached per ``(from, to, molar_mass)`` and ``convert`` is a multiplication by that factor
(except for the offset temperature units, which have no factor).

The package, one job a module: :mod:`.model` (the conversion values), :mod:`.aliases` (the alias tables and
the normalisation of unit text), :mod:`.quantities` (the pint registry, canonical spelling -> quantity),
:mod:`.spelling` (text -> canonical spelling), :mod:`.factors` (multiplicative conversions) and
:mod:`.conversions` (affine lines and the choice of conversion). Import from here.
"""

from __future__ import annotations

from .conversions import conversion
from .factors import conversion_factor, convert, is_convertible
from .model import Affine, Conversion
from .quantities import registry
from .spelling import canonical_unit

__all__ = [
    "Affine",
    "Conversion",
    "canonical_unit",
    "conversion",
    "conversion_factor",
    "convert",
    "is_convertible",
    "registry",
]
