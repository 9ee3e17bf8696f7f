"""Unit answers kept between processes, so a screening whose units were seen before never imports pint.

:func:`units.canonical_unit` and :func:`units.conversion` check every unit against pint's registry; importing
pint and building the registry was 0.12-0.16 s CPU of ``eligibility screen``'s start-up (issue 11: under 1 s),
for the handful of unit strings one trial and its patients use. Their answers (a canonical spelling, a
conversion, or the :class:`UnitError` message refusing one) are pure functions of the arguments, of the
``units`` package's modules, ``unit_aliases.yaml`` and ``units.txt``, and of pint's version, so they are kept in
one small JSON file in the start-up cache (:mod:`eligibility.usercache`) named by a hash of all of those: never
stale, only unused.

- read once, at the first unit a process reads; new answers are written back when the process exits
  (atomically: two processes ending together keep the answers of one of them, never a mix);
- at most ``_LIMIT`` answers of each kind are kept (beyond that they are computed, not kept);
- only a ``UnitError`` is kept as a refusal; any other exception propagates and is never kept;
- an entry that is not of the expected shape is computed again;
- ``ELIGIBILITY_NO_CACHE=1``, an unusable folder, or pint's version not found: every answer is computed
  as without this module.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
from collections.abc import Callable
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TypeVar

from .errors import UnitError
from .usercache import cache_folder, digest

__all__ = ["remembered"]

_T = TypeVar("_T")
_KINDS = ("canonical", "conversion")
_LIMIT = 4096


def _pint_version() -> str | None:
    """pint's installed version from its dist-info folder's name (``importlib.metadata`` costs 0.1 s)."""
    spec = find_spec("pint")
    if spec is None or spec.origin is None:
        return None
    names = sorted(p.name for p in Path(spec.origin).parent.parent.glob("pint-*.dist-info"))
    return names[-1] if len(names) == 1 else None


def _key() -> str | None:
    version = _pint_version()
    if version is None:
        return None
    data = resources.files("eligibility.data")
    parts = [path.read_bytes() for path in sorted(Path(__file__).with_name("units").glob("*.py"))]
    parts += [data.joinpath(name).read_bytes() for name in ("unit_aliases.yaml", "units.txt")]
    return digest(version, *parts)


class _Memo:
    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] | None = None
        self.path: Path | None = None
        self.dirty = False

    def table(self, kind: str) -> dict[str, Any]:
        if self.answers is None:
            self.answers = {k: {} for k in _KINDS}
            folder = cache_folder()
            key = _key() if folder is not None else None
            if folder is not None and key is not None:
                self.path = folder / f"units-{key}.json"
                with contextlib.suppress(OSError, ValueError):
                    data = json.loads(self.path.read_bytes())
                    for k in _KINDS:
                        if isinstance(data, dict) and isinstance(data.get(k), dict):
                            self.answers[k] = data[k]
                atexit.register(self.save)
        return self.answers[kind]

    def keep(self, kind: str, key: str, value: list[Any]) -> None:
        table = self.table(kind)
        if self.path is not None and len(table) < _LIMIT:
            table[key] = value
            self.dirty = True

    def save(self) -> None:
        if not self.dirty or self.path is None or self.answers is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(json.dumps(self.answers, ensure_ascii=False).encode("utf-8"))
            os.replace(tmp, self.path)
        except (OSError, TypeError, ValueError):
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.dirty = False


_MEMO = _Memo()


def remembered(
    kind: str, key: str, compute: Callable[[], _T], encode: Callable[[_T], Any], decode: Callable[[Any], _T]
) -> _T:
    """``compute()``'s answer for ``key``, or the one a process kept (a kept refusal raises its UnitError)."""
    found = _MEMO.table(kind).get(key)
    if isinstance(found, list) and len(found) == 2:
        if found[0] == "ok":
            with contextlib.suppress(TypeError, ValueError, KeyError):
                return decode(found[1])
        elif found[0] == "error" and isinstance(found[1], str):
            raise UnitError(found[1])
    try:
        answer = compute()
    except UnitError as exc:
        if type(exc) is UnitError and len(exc.args) == 1 and isinstance(exc.args[0], str):
            _MEMO.keep(kind, key, ["error", exc.args[0]])
        raise
    _MEMO.keep(kind, key, ["ok", encode(answer)])
    return answer
