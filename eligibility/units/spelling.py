"""Unit text as written in criteria and records -> its canonical spelling (:func:`canonical_unit`).

The tables of ``data/unit_aliases.yaml`` answer the common spellings; anything else is read factor by factor
(``[10^N]atom[·atom]/atom``), each atom checked against the registry's clinical units and prefixes, and a
spelling that only letter case makes unreadable is tried lower-cased, only when that reading is unambiguous.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from typing import Any

from eligibility.errors import UnitError

from .aliases import MULTIPLIER, AliasData, alias_data, normalise
from .quantities import registry, unit_quantity

# Digits are ASCII only ([0-9], not \d): int() reads '٣' as 3 but pint's own parser does not.
_ATOM = re.compile(r"([A-Za-zµ°%_]+?)(?:\^|\*\*)?(-?[0-9]+)?")
# Powers beyond these are not clinical units, and pint would overflow on them ('g/dL400').
_MAX_EXPONENT = 4
_MAX_MULTIPLIER = 30
# Multiplication inside a segment: "·", "*", or a UCUM "." that is not a decimal point.
_ATOM_SEPARATOR = re.compile(r"[·*]|(?<!\d)\.|\.(?!\d)")
_EXPONENT_GLYPHS = {"2": "²", "3": "³"}


class _Unreadable(Exception):
    """Internal: why the generic reader could not read a unit (becomes part of a UnitError)."""


def _canonical_atom(atom: str, data: AliasData) -> str:
    """One factor of a compound unit ('dL', 'mm^3', 'µmol') -> its canonical spelling ('dL', 'mm³')."""
    if atom in data.atoms:
        return data.atoms[atom]
    match = _ATOM.fullmatch(atom)
    if match is None:
        raise _Unreadable(f"'{atom}' is not a unit name")
    name, exponent = match.group(1), match.group(2)
    if name in data.atoms:
        base = data.atoms[name]
    else:
        if name in data.ambiguous_atoms:
            raise _Unreadable(data.ambiguous_atoms[name])
        ureg = registry()
        candidates = ureg.parse_unit_name(name)
        if not candidates:
            raise _Unreadable(f"'{name}' is not a unit known to the clinical unit registry")
        unprefixed = [c for c in candidates if not c[0]]
        if unprefixed:
            prefix, unit, _ = unprefixed[0]
        elif len(candidates) == 1:
            prefix, unit, _ = candidates[0]
        else:
            readings = ", ".join(p + u for p, u, _ in candidates)
            raise _Unreadable(f"'{name}' is ambiguous ({readings})")
        if unit not in data.allowed_units:
            raise _Unreadable(f"'{name}' ({prefix}{unit}) is not a clinical unit")
        if prefix and prefix not in data.allowed_prefixes:
            raise _Unreadable(f"'{name}' ({prefix}{unit}): prefix {prefix}- is not used in clinical units")
        unit_symbol = ureg.get_symbol(unit)
        prefix_symbol = ureg.get_symbol(prefix + unit)[: -len(unit_symbol)] if prefix else ""
        base = prefix_symbol + data.symbols.get(unit, unit_symbol)
    if not exponent or exponent == "1":
        return base
    if abs(int(exponent)) > _MAX_EXPONENT:
        raise _Unreadable(f"'{atom}': a power above {_MAX_EXPONENT} is not a clinical unit")
    if not base:
        raise _Unreadable(f"'{atom}' raises a count to a power")
    return base + _EXPONENT_GLYPHS.get(exponent, "^" + exponent)


def _read_compound(s: str, data: AliasData) -> str:
    """Read '[10^N]atom[·atom]/atom/atom' into its canonical spelling (left-associative division)."""
    multiplier = ""
    match = MULTIPLIER.match(s)
    if match:
        if abs(int(match.group(1))) > _MAX_MULTIPLIER:
            raise _Unreadable(f"10^{match.group(1)} is beyond any clinical count")
        multiplier = f"10^{int(match.group(1))}"
        s = s[match.end() :]
    if "(" in s or ")" in s:
        raise _Unreadable("parentheses are not supported; write a/b/c instead of a/(b.c)")
    numerator, *denominators = s.split("/")
    num_atoms = [_canonical_atom(a, data) for a in _ATOM_SEPARATOR.split(numerator)] if numerator else []
    parts = [multiplier + "·".join(a for a in num_atoms if a)]
    for segment in denominators:
        if not segment:
            raise _Unreadable("empty denominator")
        if segment in data.atoms:
            atoms = [data.atoms[segment]]
        else:
            atoms = [_canonical_atom(a, data) for a in _ATOM_SEPARATOR.split(segment)]
        if not all(atoms):
            raise _Unreadable(f"a count word ('{segment}') in a denominator")
        parts.append("·".join(atoms))
    canonical = "/".join(parts)
    if not canonical:
        raise _Unreadable("no unit")
    return canonical


@lru_cache(maxsize=4096)
def canonical_unit(text: str) -> str:
    """Normalise a unit as written in criteria or records to the canonical spelling used everywhere.

    Canonical spellings are what the rest of the package compares and stores, e.g. ``10^9/L``,
    ``10^3/µL``, ``/µL``, ``/mm³``, ``mg/dL``, ``µmol/L``, ``U/L``, ``IU/L``, ``%``, ``mmHg``,
    ``kg/m²``, ``mL/min/1.73m²``, ``ms``, ``years``. Accepted spellings include the lost-superscript
    artefact ``109/L``, ``x10^9/L``, ``× 10⁹/L``, ``10E9/L``, UCUM ``10*9/L``, ``G/L`` (giga per litre;
    only upper-case, since ``g/L`` is grams), ``K/uL``, ``thou/uL``, ``{cells}/uL``, ``[iU]/L``,
    ``mm[Hg]``, ``µ``/``μ``/``u``/``mc`` for micro. Equal units keep distinct canonical spellings
    (``10^9/L`` vs ``10^3/µL``) so that explanations can quote the unit the source used.

    Raises :class:`~eligibility.errors.UnitError` (naming the unit and the reason) for text it
    cannot read, including empty text and units that are not clinical (``furlongs/fortnight``).
    Cached: records repeat a handful of unit strings millions of times; and between processes
    (:mod:`unit_memo`), so that a screening whose units were read before never imports pint.
    """
    if not isinstance(text, str):
        return _canonical_unit(text)
    from ..unit_memo import remembered

    return remembered("canonical", text, lambda: _canonical_unit(text), str, _kept_text)


def _kept_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a unit")
    return value


def _canonical_unit(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise UnitError(f"empty unit {text!r}: a value needs a unit (use '1' for a pure number)")
    data = alias_data()
    s, had_annotation = normalise(text, data.substitutions)
    if not s:
        if had_annotation:
            return "1"
        raise UnitError(f"cannot read unit {text!r}: nothing left after normalisation")
    if s in data.units:
        canonical = data.units[s]
    else:
        try:
            canonical = _read_compound(s, data)
        except _Unreadable as first:
            canonical = _fallback_case_insensitive(text, s, data, first)
    unit_quantity(canonical)  # every canonical spelling must be readable by the registry
    return canonical


def _fallback_case_insensitive(text: str, s: str, data: AliasData, reason: _Unreadable) -> str:
    """Last resort for 'MG/DL'-style shouting and 'k/μl'-style case slips, only when unambiguous.

    Every reading of the lower-cased text counts (table entries and the generic reader), so 'G/l'
    is refused as ambiguous (10^9/L or g/L) instead of being guessed.
    """
    options = set(data.units_lower.get(s.lower(), frozenset()))
    with contextlib.suppress(_Unreadable):
        options.add(_read_compound(s.lower(), data))
    if len(options) == 1:
        return options.pop()
    if options:
        choices = " or ".join(sorted(options))
        raise UnitError(f"cannot read unit {text!r}: its letter case is ambiguous (could be {choices})")
    raise UnitError(f"cannot read unit {text!r}: {reason}") from None
