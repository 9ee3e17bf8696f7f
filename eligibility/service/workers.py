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

Why the workers shed connections (:class:`Balance`): a kept-alive connection stays with the worker that
accepted it, and an EHR's few connections are accepted at once when every worker is idle, so 4 clients on
2 workers were split 2/2, 3/1 or 4/0 by chance; a 3/1 or 4/0 split queued three or four calls behind one
another on one core while the other idled (p95 363-812 ms from run to run). Each worker publishes its
count of calls in flight in a shared array; a worker that will still have more calls in flight than the
least busy worker once this answer is sent adds ``Connection: close`` to it, so that client's next call
comes in on a new connection, which the idle worker (blocked in accept, not in screening) usually takes.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CLOSE = (b"connection", b"close")


class Counts(Protocol):
    """One int per worker (a ``multiprocessing.RawArray`` of ``c_int``, or a list in tests)."""

    def __getitem__(self, index: int, /) -> int: ...
    def __setitem__(self, index: int, value: int, /) -> None: ...
    def __len__(self) -> int: ...


class Balance:
    """ASGI layer of worker ``me``: counts its calls in flight in ``load`` (shared by the workers, one slot
    each, written only by its own worker) and closes a connection whose worker is busier than another
    (see the module docstring). Answers are otherwise untouched."""

    def __init__(self, app: ASGIApp, load: Counts, me: int):
        self.app = app
        self.load = load
        self.me = me

    def shed(self) -> bool:
        """Whether the answer being sent should close its connection: after it, this worker still has more
        calls in flight than the least busy other worker."""
        others = [self.load[i] for i in range(len(self.load)) if i != self.me]
        return bool(others) and self.load[self.me] - 1 > min(others)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and self.shed():
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"connection" for name, _ in headers):
                    message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        self.load[self.me] += 1
        try:
            await self.app(scope, receive, sending)
        finally:
            self.load[self.me] -= 1


def serve_forked(make_app: Callable[[], Any], host: str, port: int, workers: int, **uvicorn_options: Any) -> int:
    """Serve ``make_app()`` (called in each worker) with ``workers`` forked processes; the exit status."""
    import uvicorn

    config = uvicorn.Config("unused:app", host=host, port=port)  # only for bind_socket (IPv4, IPv6, inheritable)
    sock = config.bind_socket()  # bound and listening before the fork: every worker accepts from it
    load = multiprocessing.RawArray(ctypes.c_int, workers)  # calls in flight per worker (shared memory)
    children: list[int] = []
    for me in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                app = Balance(make_app(), load, me)
                server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options))
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
