"""``eligibility serve --workers N``: N processes answering on one listening socket, forked after the library
is loaded.

Why fork and not uvicorn's own ``workers=``: uvicorn's workers import the app afresh, so each would load and
compile the library again (seconds, and its memory N times). Forked after loading (and after ``gc.freeze``),
the workers share the compiled library's pages copy-on-write, and each builds its own app (database
connections, HTTP clients and locks must not cross a fork). A hook call is CPU work under one interpreter
lock, so one process answers one call at a time; N workers answer N at once.

What the workers share is on disk in the state folder: the replay cache and the feedback (SQLite, safe across
processes) and the audit trail (one ``write`` per line, appended). So more than one worker needs a state
folder; without one each worker would keep its own replay cache and a token could be replayed against
another worker. The parent only supervises: SIGTERM or SIGINT stops every worker, and a worker that dies
stops the others (a supervisor such as systemd restarts the service).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any


def serve_forked(make_app: Callable[[], Any], host: str, port: int, workers: int, **uvicorn_options: Any) -> int:
    """Serve ``make_app()`` (called in each worker) with ``workers`` forked processes; the exit status."""
    import uvicorn

    config = uvicorn.Config("unused:app", host=host, port=port)  # only for bind_socket (IPv4, IPv6, inheritable)
    sock = config.bind_socket()  # bound and listening before the fork: every worker accepts from it
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                server = uvicorn.Server(uvicorn.Config(make_app(), **uvicorn_options))
                server.run(sockets=[sock])
                status = 0
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children.append(pid)
    sock.close()
    return _supervise(children)


class _Stop(Exception):
    """SIGTERM or SIGINT reached the supervisor (raised from the handler so that ``waitpid`` returns)."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stop


def _supervise(children: list[int]) -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    status = 0
    alive = set(children)
    try:
        while alive:
            pid, code = os.waitpid(-1, 0)
            if pid in alive:
                alive.discard(pid)
                status = os.waitstatus_to_exitcode(code) or 1
                break  # one worker gone: stop the others rather than serve with fewer, silently
    except (_Stop, ChildProcessError):
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while alive and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
        else:
            alive.discard(pid)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return status
