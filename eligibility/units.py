"""Clinical units: one pint registry, one canonical spelling per unit, cached conversion factors.

Why this module exists: the same quantity is written in many ways in criteria and records
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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from eligibility.data import load_yaml
from eligibility.errors import UnitError, VocabularyError

if TYPE_CHECKING:
    import pint


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

_DATA_PACKAGE = "eligibility.data"
_DEFINITIONS_FILE = "units.txt"
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
_MULTIPLIER = re.compile(r"^10\^(-?[0-9]+)")
# Digits are ASCII only ([0-9], not \d): int() reads '٣' as 3 but pint's own parser does not.
_ATOM = re.compile(r"([A-Za-zµ°%_]+?)(?:\^|\*\*)?(-?[0-9]+)?")
# Powers beyond these are not clinical units, and pint would overflow on them ('g/dL400').
_MAX_EXPONENT = 4
_MAX_MULTIPLIER = 30
# Multiplication inside a segment: "·", "*", or a UCUM "." that is not a decimal point.
_ATOM_SEPARATOR = re.compile(r"[·*]|(?<!\d)\.|\.(?!\d)")
_EXPONENT_GLYPHS = {"2": "²", "3": "³"}


@dataclass(frozen=True)
class _AliasData:
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


# --------------------------------------------------------------------------------------------
# Loading the data files
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry[Any]:
    """The single application registry: pint's defaults plus ``eligibility/data/units.txt``.

    Cached because building a registry takes a few hundred milliseconds and because quantities from
    different registries cannot be combined. ``on_redefinition="raise"`` turns a clash between our
    definitions and a future pint release into a loud failure instead of a silent change of meaning.
    pint is imported here, on first use, not when this module is (a criterion without units never needs it).

    pint's own definitions cache (``cache_folder``: parsed definition files named by their content hash and
    pint's version) lives in the start-up cache folder (:mod:`eligibility.usercache`): about 0.05 s instead
    of 0.4 s. Any failure with the cache (a folder that cannot be written, an unreadable entry) builds the
    registry again without it, so the cache changes the time, never the registry.
    """
    from .gcpause import gc_paused

    with gc_paused():  # about a third of pint's import and registry build was garbage collection
        return _registry()


def _registry() -> pint.UnitRegistry[Any]:
    import pint

    from .usercache import cache_folder

    folder = cache_folder()
    if folder is not None:
        pint_folder = folder / f"pint-{pint.__version__}"
        try:
            pint_folder.mkdir(mode=0o700, exist_ok=True)
            return _build_registry(pint_folder)
        except Exception:  # a broken cache is dropped and the registry built without it
            import shutil

            shutil.rmtree(pint_folder, ignore_errors=True)
    return _build_registry(None)


def _build_registry(cache: Any) -> pint.UnitRegistry[Any]:
    import pint

    ureg: pint.UnitRegistry[Any] = pint.UnitRegistry(on_redefinition="raise", cache_folder=cache)
    source = resources.files(_DATA_PACKAGE).joinpath(_DEFINITIONS_FILE)
    with resources.as_file(source) as path:
        try:
            ureg.load_definitions(path)
        except (pint.errors.DefinitionSyntaxError, pint.errors.RedefinitionError, ValueError) as exc:
            raise VocabularyError(f"{_DEFINITIONS_FILE}: cannot load unit definitions: {exc}") from exc
    return ureg


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
def _aliases() -> _AliasData:
    """Parse and check unit_aliases.yaml once; keys are normalised like the text they will match."""
    text = resources.files(_DATA_PACKAGE).joinpath(_ALIASES_FILE).read_text(encoding="utf-8")
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
        key = _normalise(written, substitutions)[0]
        if units.setdefault(key, canonical) != canonical:
            raise VocabularyError(
                f"{_ALIASES_FILE}: '{written}' normalises to '{key}', which already maps to "
                f"'{units[key]}', not '{canonical}'"
            )
    units_lower: dict[str, set[str]] = {}
    for key, canonical in units.items():
        units_lower.setdefault(key.lower(), set()).add(canonical)

    atoms = {_superscripts_to_powers(k): v for k, v in _string_table(raw, "atoms").items()}
    return _AliasData(
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


# --------------------------------------------------------------------------------------------
# Text -> canonical spelling
# --------------------------------------------------------------------------------------------


def _superscripts_to_powers(text: str) -> str:
    """'10⁹' -> '10^9', 'm²' -> 'm^2': one notation for powers before any matching."""
    return _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPT_DIGITS), text)


def _normalise(text: str, substitutions: tuple[tuple[str, str], ...]) -> tuple[str, bool]:
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


class _Unreadable(Exception):
    """Internal: why the generic reader could not read a unit (becomes part of a UnitError)."""


def _canonical_atom(atom: str, data: _AliasData) -> str:
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


def _read_compound(s: str, data: _AliasData) -> str:
    """Read '[10^N]atom[·atom]/atom/atom' into its canonical spelling (left-associative division)."""
    multiplier = ""
    match = _MULTIPLIER.match(s)
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
    from .unit_memo import remembered

    return remembered("canonical", text, lambda: _canonical_unit(text), str, _kept_text)


def _kept_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a unit")
    return value


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


def _canonical_unit(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise UnitError(f"empty unit {text!r}: a value needs a unit (use '1' for a pure number)")
    data = _aliases()
    s, had_annotation = _normalise(text, data.substitutions)
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
    _quantity(canonical)  # every canonical spelling must be readable by the registry
    return canonical


def _fallback_case_insensitive(text: str, s: str, data: _AliasData, reason: _Unreadable) -> str:
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


# --------------------------------------------------------------------------------------------
# Canonical spelling -> pint quantity, and conversion
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _quantity(canonical: str) -> pint.Quantity[Any]:
    """The pint quantity one canonical unit stands for (``10^9/L`` -> 1e9 / litre)."""
    expr = canonical
    for spelling, pint_name in _aliases().pint_spelling.items():
        expr = expr.replace(spelling, pint_name)
    multiplier = ""
    match = _MULTIPLIER.match(expr)
    if match:
        multiplier = f"1e{int(match.group(1))}"
        expr = expr[match.end() :]
    expr = expr.replace("²", "**2").replace("³", "**3").replace("^", "**").replace("·", "*")
    if expr.startswith("/"):
        expr = (multiplier or "1") + expr
    elif multiplier:
        expr = f"{multiplier}*{expr}" if expr else multiplier
    from .gcpause import gc_paused

    with gc_paused():  # the first unit read imports pint (see registry)
        import pint

    try:
        quantity: pint.Quantity[Any] = registry().Quantity(expr)
    except (pint.errors.PintError, ValueError, TypeError, SyntaxError, AttributeError, ArithmeticError) as exc:
        raise UnitError(f"unit '{canonical}' is not defined in the clinical unit registry: {exc}") from exc
    return quantity


def _label(written: str, canonical: str) -> str:
    """Name a unit in a message as the user wrote it, plus its canonical reading when different."""
    return f"'{written}'" if written == canonical else f"'{written}' (read as '{canonical}')"


def _dimensions(quantity: pint.Quantity[Any]) -> str:
    dims = str(quantity.dimensionality)
    return dims if dims else "dimensionless"


@lru_cache(maxsize=256)
def _is_offset(canonical: str) -> bool:
    """Temperatures in °C/°F have a zero offset, so no multiplicative factor exists for them."""
    ureg = registry()
    zero = ureg.Quantity(0, _quantity(canonical).units)
    return bool(zero.to_base_units().magnitude != 0)


@lru_cache(maxsize=256)
def _ratio_kind(canonical: str) -> str:
    """What a dimensionless unit is a ratio *of*: '[substance]' for mmol/mol, '[mass]' for mg/g, '' for % or 1.

    Two ratio units convert by a factor only when they compare the same kind of quantity (mmol/mol and
    µmol/mol, mg/g and g/kg). A percent, per-mille or bare number does not say what it is a fraction
    of, so reading 48 mmol/mol as 4.8 % (a per-mille ratio) is refused: HbA1c IFCC and NGSP values
    are related by an affine calibration, which must be stated (see :class:`Affine`).
    """
    ureg = registry()
    units: dict[str, Any] = dict(_quantity(canonical).units._units)
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
    q_from, q_to = _quantity(c_from), _quantity(c_to)
    name_from, name_to = _label(from_unit, c_from), _label(to_unit, c_to)
    offset = _is_offset(c_from) or _is_offset(c_to)
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
    if c_from != c_to and (_is_offset(c_from) or _is_offset(c_to)):
        import pint

        q_from, q_to = _quantity(c_from), _quantity(c_to)
        try:
            converted = registry().Quantity(value, q_from.units).to(q_to.units)
        except pint.errors.DimensionalityError as exc:
            raise UnitError(
                f"cannot convert {_label(from_unit, c_from)} [{_dimensions(q_from)}] to "
                f"{_label(to_unit, c_to)} [{_dimensions(q_to)}]: different dimensions"
            ) from exc
        return float(converted.magnitude)
    return value * conversion_factor(c_from, c_to, molar_mass)


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
    from .unit_memo import remembered

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
    if _is_offset(c_from) or _is_offset(c_to):
        convert(0.0, c_from, c_to)  # raises the dimension error
        raise UnitError(f"no conversion from '{c_from}' to '{c_to}'")  # pragma: no cover - only °C/°F exist
    return Conversion(conversion_factor(c_from, c_to, molar_mass))


def is_convertible(from_unit: str, to_unit: str, molar_mass: float | None = None) -> bool:
    """Whether :func:`convert` would succeed: both units readable and dimensions compatible."""
    try:
        c_from, c_to = canonical_unit(from_unit), canonical_unit(to_unit)
        if c_from != c_to and (_is_offset(c_from) or _is_offset(c_to)):
            return _quantity(c_from).dimensionality == _quantity(c_to).dimensionality
        conversion_factor(c_from, c_to, molar_mass)
    except UnitError:
        return False
    return True
