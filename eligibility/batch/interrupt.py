"""Ctrl-C and SIGTERM stop a batch run promptly and cleanly, also in the middle of a DuckDB query.

Why a worker thread: Python runs signal handlers only in the main thread and only between bytecodes,
so while DuckDB executes one long query a handler never runs (a SIGINT was noticed 40 s late, then
surfaced as a traceback), and SIGTERM's default action killed the process with the staged registry and
``.tmp`` files left behind. Here the work runs in a thread; the main thread waits, and on SIGINT or
SIGTERM it sets a stop flag and calls ``con.interrupt()`` (DuckDB's thread-safe cancel) until the work
gives up. The run then unwinds normally: temporary files are removed by the code that made them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import EligibilityError

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(EligibilityError):
    """The run was stopped by a signal; nothing was written (``signum`` gives the exit code 128 + n)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"interrupted by {signal.Signals(self.signum).name}"


class StopFlag:
    """Set by the signal handler; the work checks it between steps (``check``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    def set(self, signum: int) -> None:
        self.signum = self.signum or signum
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)


def run_interruptible(con: duckdb.DuckDBPyConnection, work: Callable[[StopFlag], T], poll: float = 0.1) -> T:
    """``work(stop)`` in a worker thread; SIGINT/SIGTERM cancel its queries and raise :class:`Interrupted`.

    Work that finished before it noticed the signal is kept (its outputs are complete). Must be called
    from the main thread (signal handlers can only be installed there).
    """
    stop = StopFlag()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work(stop)
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc

    def handler(signum: int, _frame: object) -> None:
        stop.set(signum)
        con.interrupt()

    old = {s: signal.signal(s, handler) for s in _SIGNALS}
    thread = threading.Thread(target=target, name="eligibility-batch", daemon=True)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(poll)
            if stop.is_set():  # a query started after the first interrupt is cancelled too
                con.interrupt()
    except BaseException:  # (an alarm or another exception in the main thread): stop the work first
        while thread.is_alive():
            con.interrupt()
            thread.join(poll)
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if "error" in box:
        if stop.signum is not None:
            raise Interrupted(stop.signum) from None
        raise box["error"]
    value: T = box["value"]
    return value
