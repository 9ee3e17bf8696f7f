"""Canonical spelling -> pint: the one application registry (pint's defaults plus ``data/units.txt``) and the
quantity each canonical unit stands for, and whether it is an offset scale (°C, °F: no factor exists).

pint is imported on first use, never when this module is: a criterion without units never needs it, and a
screening whose unit answers are kept (:mod:`eligibility.unit_memo`) never imports it at all.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from eligibility.errors import UnitError, VocabularyError

from .aliases import DATA_PACKAGE, MULTIPLIER, alias_data

if TYPE_CHECKING:
    import pint

_DEFINITIONS_FILE = "units.txt"


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
    from ..gcpause import gc_paused

    with gc_paused():  # about a third of pint's import and registry build was garbage collection
        return _registry()


def _registry() -> pint.UnitRegistry[Any]:
    import pint

    from ..usercache import cache_folder

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
    source = resources.files(DATA_PACKAGE).joinpath(_DEFINITIONS_FILE)
    with resources.as_file(source) as path:
        try:
            ureg.load_definitions(path)
        except (pint.errors.DefinitionSyntaxError, pint.errors.RedefinitionError, ValueError) as exc:
            raise VocabularyError(f"{_DEFINITIONS_FILE}: cannot load unit definitions: {exc}") from exc
    return ureg


@lru_cache(maxsize=1024)
def unit_quantity(canonical: str) -> pint.Quantity[Any]:
    """The pint quantity one canonical unit stands for (``10^9/L`` -> 1e9 / litre)."""
    expr = canonical
    for spelling, pint_name in alias_data().pint_spelling.items():
        expr = expr.replace(spelling, pint_name)
    multiplier = ""
    match = MULTIPLIER.match(expr)
    if match:
        multiplier = f"1e{int(match.group(1))}"
        expr = expr[match.end() :]
    expr = expr.replace("²", "**2").replace("³", "**3").replace("^", "**").replace("·", "*")
    if expr.startswith("/"):
        expr = (multiplier or "1") + expr
    elif multiplier:
        expr = f"{multiplier}*{expr}" if expr else multiplier
    from ..gcpause import gc_paused

    with gc_paused():  # the first unit read imports pint (see registry)
        import pint

    try:
        quantity: pint.Quantity[Any] = registry().Quantity(expr)
    except (pint.errors.PintError, ValueError, TypeError, SyntaxError, AttributeError, ArithmeticError) as exc:
        raise UnitError(f"unit '{canonical}' is not defined in the clinical unit registry: {exc}") from exc
    return quantity


@lru_cache(maxsize=256)
def is_offset(canonical: str) -> bool:
    """Temperatures in °C/°F have a zero offset, so no multiplicative factor exists for them."""
    ureg = registry()
    zero = ureg.Quantity(0, unit_quantity(canonical).units)
    return bool(zero.to_base_units().magnitude != 0)
