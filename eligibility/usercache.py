"""The start-up cache: what every process would otherwise rebuild from the same package files.

Building the grammar's LALR table, the pint unit registry and parsing the YAML data files took most of
``eligibility screen``'s start-up (about 1.2 s CPU of 2.5 s). Each is a pure function of files that ship with
the package, so its result is kept on disk under a name that is a hash of *everything it depends on*: the
source text (grammar, YAML document, pint definitions), the library's version and Python's. A changed grammar
or data file therefore has a different name and is built afresh; a cache file is never stale, only unused.

- where: ``$ELIGIBILITY_CACHE_DIR``, else ``$XDG_CACHE_HOME/eligibility``, else ``~/.cache/eligibility``
  (the same folder as the trial library cache), in a ``startup`` sub-folder;
- off: ``ELIGIBILITY_NO_CACHE=1`` (the benchmarks' cold runs, and a check that results do not depend on it);
- a folder that cannot be created or written, or a file that cannot be read back, is skipped and the result
  built as without a cache: never an error, never a different result;
- files are written atomically (a temporary file renamed into place), so a concurrent process never reads
  half a file;
- YAML documents are kept as JSON (data only). The grammar table (Lark's own ``Lark.save``) and pint's
  definitions cache are pickles, which can run code when read: they are used only from a folder that
  belongs to the current user and that nobody else can write (the same trust as the user's own files).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = ["cache_folder", "cached_json", "cached_pickle", "digest"]

_T = TypeVar("_T")
_FORMAT = "1"  # bump when the layout of cache files changes


def cache_root() -> Path:
    explicit = os.environ.get("ELIGIBILITY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eligibility"


def _private(path: Path) -> bool:
    """Whether ``path`` is a folder of the current user that no one else can write."""
    try:
        info = path.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        return False
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return False
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def cache_folder(sub: str = "startup") -> Path | None:
    """The start-up cache folder (created, private to the user), or None when caching is off or impossible.

    Not memoised: tests and the benchmark change the environment between calls; the cost is one ``stat``.
    """
    if os.environ.get("ELIGIBILITY_NO_CACHE", "").strip() not in ("", "0"):
        return None
    folder = cache_root() / sub
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    if not _private(folder) or not os.access(folder, os.W_OK | os.X_OK):
        return None
    return folder


def digest(*parts: str | bytes) -> str:
    """A hash of the parts (each delimited), plus the cache format and Python's version."""
    h = hashlib.sha256(f"{_FORMAT}\0{sys.version_info[:3]}\0".encode())
    for part in parts:
        h.update(part.encode("utf-8") if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:40]


def _write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except Exception:  # a cache that cannot be written is skipped, whatever the reason
        with contextlib.suppress(OSError):
            tmp.unlink()


def _write_all(fh: IO[bytes], payload: bytes) -> None:
    fh.write(payload)


def cached_pickle(
    name: str, key: str, build: Callable[[], _T], save: Callable[[_T, IO[bytes]], None], load: Callable[[IO[bytes]], _T]
) -> _T:
    """``build()``'s result, read back with ``load`` from ``<folder>/<name>-<key>.pickle`` when present."""
    folder = cache_folder()
    if folder is None:
        return build()
    path = folder / f"{name}-{key}.pickle"
    try:
        with open(path, "rb") as fh:
            return load(fh)
    except Exception:  # missing or unreadable: rebuilt (and overwritten) below
        pass
    result = build()
    _write_atomically(path, lambda fh: save(result, fh))
    return result


def _plain(value: Any) -> bool:
    """Whether JSON gives ``value`` back exactly (same types, so str keys only, no dates, sets or tuples)."""
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def cached_json(name: str, key: str, build: Callable[[], Any]) -> Any:
    """``build()``'s result kept as JSON; a result that JSON would not give back exactly is never cached."""
    folder = cache_folder()
    if folder is None:
        return build()
    path = folder / f"{name}-{key}.json"
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):  # missing or unreadable: rebuilt (and overwritten) below
        pass
    result = build()
    if _plain(result):
        payload = json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        _write_atomically(path, lambda fh: _write_all(fh, payload))
    return result
