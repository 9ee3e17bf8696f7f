"""Where a batch run's staged registry lives, and removing what dead runs left there.

Staged registries (a DuckDB database file plus its spill folder, hundreds of MB for a large registry)
are folders named ``eligibility-registry-<pid>-<random>`` in the work folder (``--work-dir``, else the
temp folder). The process id lets a later run tell a dead run's leftovers (SIGKILL, power loss) from a
live run's, and remove them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

STAGING_PREFIX = "eligibility-registry-"


def remove_stale_staging(directory: str | Path | None = None) -> list[Path]:
    """Remove staged registries left in ``directory`` (default: the temp folder) by processes that are gone."""
    folder = Path(directory or tempfile.gettempdir())
    removed = []
    for child in folder.glob(f"{STAGING_PREFIX}*-*"):
        pid = child.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not child.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(child, ignore_errors=True)
        removed.append(child)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def duckdb_message(exc: Exception) -> str:
    """DuckDB's first line, without the 'Invalid Input Error:' style prefix (the rest points into our SQL)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first.split(" Error: ", 1)[-1]
