"""The files a batch run writes, and the guards around them.

A run writes three files beside each other: the results (``OUT``), the rejects report
(``OUT.rejects.csv``, always, header only when nothing was rejected, so a stale one never survives)
and a manifest (``OUT.manifest.json``: what was run, row counts and SHA-256 of the other two). All
three are written to temporary files first and renamed into place with SIGINT/SIGTERM blocked, the
manifest last: a reader who finds a manifest whose digests match knows the results and the rejects
belong to one run.

Why the guards: ``--out REG/patients.csv`` once overwrote an input; two runs on one ``--out``
interleaved their files; an unwritable ``--out`` was found only after all the work; a killed run left
``.tmp`` files. So the target is checked before any work (:func:`check_target`), a lock file in the
output's folder admits one run at a time (:class:`OutputLock`, ``flock``: released by the kernel when
a process dies, even by SIGKILL), and the lock holder removes a dead run's temporary files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from ..errors import InputError
from .registry import lit

REJECTS_SUFFIX = ".rejects.csv"
MANIFEST_SUFFIX = ".manifest.json"


def rejects_path(target: Path) -> Path:
    return target.with_name(target.name + REJECTS_SUFFIX)


def manifest_path(target: Path) -> Path:
    return target.with_name(target.name + MANIFEST_SUFFIX)


def _lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_target(out: Path, registry: Path, inputs: Sequence[Path] = ()) -> Path:
    """The absolute output path, refused before any work when it would overwrite an input, sits inside
    the registry folder, is a folder, or cannot be written."""
    target = Path(os.path.abspath(out))
    reg = Path(os.path.abspath(registry))
    written = (target, rejects_path(target), manifest_path(target))
    if target.is_dir():
        raise InputError("is a folder; --out names the results file (e.g. results.parquet)", str(out))
    if reg == target or reg in target.parents or any(_same(reg, p) for p in target.parents):
        raise InputError(f"is inside the registry folder {registry}: write the results elsewhere", str(out))
    for given in inputs:
        if any(_same(Path(given), w) for w in written):
            raise InputError(f"would overwrite the input {given}", str(out))
    writable_folder(target.parent, "output")
    return target


def writable_folder(folder: Path, what: str) -> Path:
    """``folder``, created if missing, or an InputError naming it when it cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the {what} folder: {exc.strerror or exc}", str(folder)) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"the {what} folder is not writable", str(folder))
    return folder


class OutputLock:
    """One run per output file: an exclusive ``flock`` on ``.OUT.lock`` beside it.

    On entry, the temporary files of an earlier run on the same output (killed before it could remove
    them) are deleted: only the lock holder writes them, so any that exist are stale.
    """

    def __init__(self, target: Path):
        self.target = target
        self.path = _lock_path(target)
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot create the lock file: {exc.strerror or exc}", str(self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise InputError(
                f"another batch run (pid {holder}) is writing these results; wait for it or choose another --out",
                str(self.target),
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        for stale in self.target.parent.glob(f".{self.target.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            # Unlink while holding the lock: a run waiting on the old file then fails its own flock
            # check on a fresh file, never two holders of one lock.
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


def _temp(target: Path, what: str) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{what}.tmp")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT/SIGTERM wait until the renames are done (they are then delivered)."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass(frozen=True)
class Written:
    results: Path
    rejects: Path
    manifest: Path
    rows: int
    reject_rows: int


def write_outputs(
    con: duckdb.DuckDBPyConnection,
    results_sql: str | Callable[[Path], None],
    rejects_sql: str,
    target: Path,
    run: Mapping[str, Any],
) -> Written:
    """Results (Parquet), rejects (CSV) and the manifest, each through a temporary file; renamed together."""
    tmp = {what: _temp(target, what) for what in ("results", "rejects", "manifest")}
    final = {"results": target, "rejects": rejects_path(target), "manifest": manifest_path(target)}
    try:
        if callable(results_sql):  # a writer that streams the results into the temporary file
            results_sql(tmp["results"])
        else:
            con.execute(f"COPY ({results_sql}) TO {lit(str(tmp['results']))} (FORMAT parquet)")
        con.execute(f"COPY ({rejects_sql}) TO {lit(str(tmp['rejects']))} (HEADER)")
        rows = _count(con, f"SELECT COUNT(*) FROM read_parquet({lit(str(tmp['results']))})")
        reject_rows = _count(con, f"SELECT COUNT(*) FROM ({rejects_sql})")
        manifest = {
            **run,
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {
                "results": {"name": target.name, "rows": rows, "sha256": _sha256(tmp["results"])},
                "rejects": {"name": final["rejects"].name, "rows": reject_rows, "sha256": _sha256(tmp["rejects"])},
            },
        }
        tmp["manifest"].write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        with _signals_blocked():
            for what in ("results", "rejects", "manifest"):  # the manifest last: it vouches for the others
                os.replace(tmp[what], final[what])
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return Written(final["results"], final["rejects"], final["manifest"], rows, reject_rows)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
