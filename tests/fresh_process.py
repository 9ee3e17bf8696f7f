"""`eligibility` run as on the command line, a fresh Python process each time, with the caches it keeps between
processes in a given folder or switched off: the tests that check a kept cache never changes an answer compare
such runs (without, cold, warm)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cache_env(cache_dir: Path | None) -> dict[str, str]:
    """This process's environment with the caches under ``cache_dir`` (``ELIGIBILITY_CACHE_DIR``), or off (None)."""
    base = {k: v for k, v in os.environ.items() if k not in ("ELIGIBILITY_NO_CACHE", "ELIGIBILITY_CACHE_DIR")}
    if cache_dir is None:
        return {**base, "ELIGIBILITY_NO_CACHE": "1"}
    return {**base, "ELIGIBILITY_CACHE_DIR": str(cache_dir)}


def run_cli(env: dict[str, str], *args: str) -> bytes:
    """The standard output of ``eligibility ARGS`` in a fresh process run from the checkout; a failure raises."""
    done = subprocess.run(
        [sys.executable, "-c", "from eligibility.cli import app; app()", *args],
        capture_output=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    return done.stdout
