"""A throwaway PostgreSQL cluster on loopback for tests (Debian's postgresql 15 binaries).

Started by a fixture, stopped by it; skipped with the reason when the binaries are absent. As root,
initdb refuses to run, so the cluster runs as the ``postgres`` system user (via ``su``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runner() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("su") is None:
        pytest.skip("running as root and no 'su' to start PostgreSQL as another user")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the cluster")
    return ["su", "postgres", "-s", "/bin/sh", "-c"]


def _run(prefix: list[str], argv: list[str]) -> None:
    import shlex

    cmd = [*prefix, shlex.join(argv)] if prefix else argv
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
    prefix = _runner()
    base = Path(tempfile.mkdtemp(prefix="elig-pg-"))
    os.chmod(base, 0o777)
    data = base / "data"
    port = _free_port()
    _run(prefix, [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"])
    _run(
        prefix,
        [
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
            f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off", "start",
        ],
    )
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        _run(prefix, [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)
