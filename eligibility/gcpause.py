"""Building a large structure with the cyclic garbage collector paused.

CPython runs a collection every 700 new container objects, and the older generations walk every object
of the process. Loading the ICD-10-CM index (100,000 lists of strings) or pint's unit registry at start-up
ran dozens of collections that found nothing to free, about a third of that loading's CPU time. Pausing
the collector changes only when garbage is looked for, never what a program computes: any cycle left
is found by the next collection after the pause.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector inside the block (nested pauses and a collector already off are kept)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
