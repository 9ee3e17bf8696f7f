"""The written -> canonical unit tables (``data/unit_aliases.yaml``), read and checked once, and the
normalisation that puts unit text into the one notation those tables are keyed in.

Why normalisation comes first: the same unit is written "x10^9/L", "×10⁹/L", "10E9/L", UCUM "10*9/L" or,
with the superscript lost, "109/L"; the tables hold one spelling of each, and the steps (listed at the top
of unit_aliases.yaml) bring every other one to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from eligibility.data import load_yaml
from eligibility.errors import VocabularyError

DATA_PACKAGE = "eligibility.data"
_ALIASES_FILE = "unit_aliases.yaml"

_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_SUPERSCRIPT_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+")
_GREEK_MU = "\u03bc"
_MICRO_SIGN = "\u00b5"
# " per " / leading "per " -> "/" (before whitespace is removed, so "per" inside words is untouched).
_PER = re.compile(r"(?:^|\s+)per\s+", re.IGNORECASE)
_ANNOTATION = re.compile(r"\{[^{}]*\}")
# A multiplication sign in front of the power of ten: "x10^9/L", "×10⁹/L", "*10^9/L".
_LEADING_TIMES = re.compile(r"^[xX×*·](?=\d)")
# "10E9", "10e9", "10*9" (UCUM), "10**9", "10^9" -> "10^9".
_POWER_OF_TEN = re.compile(r"^10(?:\^|\*\*|\*|[eE])(-?[0-9]+)")
# The lost superscript: "109/L" is 10^9/L (109 platelets per litre is physically impossible).
_LOST_SUPERSCRIPT = re.compile(r"^10(3|6|9|12)(?=/)")
# "1000/mm3" -> "10^3/mm3".
_ROUND_POWER = re.compile(r"^1(0{2,})(?=/|[A-Za-zµ])")
# "u" / "mc" used as the micro prefix in front of a unit that takes it: uL, umol, ug, mcg, uIU, um.
_ASCII_MICRO = re.compile(r"(?<![A-Za-zµ])(?:u|mc)(?=(?:L|l|mol|g|kat|IU|U|Eq|eq|m|mm)(?![A-Za-z]))")
# A power of ten in front of a normalised or canonical spelling: "10^9/L".
MULTIPLIER = re.compile(r"^10\^(-?[0-9]+)")


@dataclass(frozen=True)
class AliasData:
    """The parsed unit_aliases.yaml (see that file for what each table is for)."""

    substitutions: tuple[tuple[str, str], ...]
    units: Mapping[str, str]
    units_lower: Mapping[str, frozenset[str]]
    atoms: Mapping[str, str]
    symbols: Mapping[str, str]
    pint_spelling: Mapping[str, str]
    ambiguous_atoms: Mapping[str, str]
    allowed_units: frozenset[str]
    allowed_prefixes: frozenset[str]


def _string_table(raw: Mapping[str, Any], key: str) -> dict[str, str]:
    table = raw.get(key) or {}
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise VocabularyError(f"{_ALIASES_FILE}: '{key}' must be a mapping of strings to strings")
    return table


def _string_list(raw: Mapping[str, Any], key: str) -> frozenset[str]:
    items = raw.get(key) or []
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise VocabularyError(f"{_ALIASES_FILE}: '{key}' must be a list of pint names")
    return frozenset(items)


@lru_cache(maxsize=1)
def alias_data() -> AliasData:
    """Parse and check unit_aliases.yaml once; keys are normalised like the text they will match."""
    text = resources.files(DATA_PACKAGE).joinpath(_ALIASES_FILE).read_text(encoding="utf-8")
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{_ALIASES_FILE}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise VocabularyError(f"{_ALIASES_FILE}: top level must be a mapping")

    substitutions_raw = raw.get("substitutions") or []
    if not isinstance(substitutions_raw, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair)
        for pair in substitutions_raw
    ):
        raise VocabularyError(f"{_ALIASES_FILE}: 'substitutions' must be a list of [from, to] string pairs")
    substitutions = tuple((str(a), str(b)) for a, b in substitutions_raw)

    allowed_units = _string_list(raw, "allowed_units")
    allowed_prefixes = _string_list(raw, "allowed_prefixes")

    units: dict[str, str] = {}
    for written, canonical in _string_table(raw, "units").items():
        key = normalise(written, substitutions)[0]
        if units.setdefault(key, canonical) != canonical:
            raise VocabularyError(
                f"{_ALIASES_FILE}: '{written}' normalises to '{key}', which already maps to "
                f"'{units[key]}', not '{canonical}'"
            )
    units_lower: dict[str, set[str]] = {}
    for key, canonical in units.items():
        units_lower.setdefault(key.lower(), set()).add(canonical)

    atoms = {_superscripts_to_powers(k): v for k, v in _string_table(raw, "atoms").items()}
    return AliasData(
        substitutions=substitutions,
        units=units,
        units_lower={k: frozenset(v) for k, v in units_lower.items()},
        atoms=atoms,
        symbols=_string_table(raw, "symbols"),
        pint_spelling=_string_table(raw, "pint_spelling"),
        ambiguous_atoms=_string_table(raw, "ambiguous_atoms"),
        allowed_units=allowed_units,
        allowed_prefixes=allowed_prefixes,
    )


def _superscripts_to_powers(text: str) -> str:
    """'10⁹' -> '10^9', 'm²' -> 'm^2': one notation for powers before any matching."""
    return _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPT_DIGITS), text)


def normalise(text: str, substitutions: tuple[tuple[str, str], ...]) -> tuple[str, bool]:
    """Rewrite unit text into the one notation the tables and the reader use.

    Returns the normalised text and whether it contained a UCUM annotation (so that a unit which is
    *only* an annotation, like ``{INR}``, can be read as the dimensionless ``1``).
    The steps are listed, in order, at the top of unit_aliases.yaml.
    """
    s = text.strip().replace("\\", "").replace(_GREEK_MU, _MICRO_SIGN)
    s = _superscripts_to_powers(s)
    for old, new in substitutions:
        s = s.replace(old, new)
    s = _PER.sub("/", s)
    s = "".join(s.split())
    s, annotations = _ANNOTATION.subn("", s)
    s = _LEADING_TIMES.sub("", s)
    s = _POWER_OF_TEN.sub(r"10^\1", s)
    s = _LOST_SUPERSCRIPT.sub(r"10^\1", s)
    s = _ROUND_POWER.sub(lambda m: f"10^{len(m.group(1))}", s)
    s = _ASCII_MICRO.sub(_MICRO_SIGN, s)
    return s, annotations > 0
