"""How often Python's cyclic garbage collector runs while leadflow does bulk work.

The collector's default thresholds (700 allocations, then 10 and 10) suit small scripts. An import or a
serving process keeps hundreds of thousands of long-lived objects (the account index, the duplicate
search's row and name caches, compiled statements, the playbook), and every full collection walks all of
them: measured on a 22,000-row import into SQLite, 25 full collections took 11.1 s and the young ones 3.4 s,
15 % of the run (tests/ have no timing assertions; the figures are in the closing notes and bench/). Almost
everything leadflow allocates is freed by reference counting the moment it is dropped; the collector is
only needed for reference cycles (an ORM session with its objects), which die young.

`relaxed()` raises the thresholds for the duration of a block (an import), `serving()` raises them for a
server process and freezes what start-up allocated (the modules, the playbook, the compiled statements) so
that full collections no longer walk it. Young collections still run every 50,000 allocations, so cycles
are still collected; full ones are rarer, not gone.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLDS = (50_000, 20, 100)

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def relaxed() -> Iterator[None]:
    """Bulk-work thresholds inside the block; the previous ones after it (nested and concurrent blocks
    restore them once the last one ends)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*_raised(_saved))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None


_served = False


def serving() -> None:
    """For a long-running server, once per process: freeze what is allocated so far (start-up's objects),
    and keep the bulk thresholds from then on."""
    global _served
    with _lock:
        if _served:
            return
        _served = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(*_raised(gc.get_threshold()))


def _raised(current: tuple[int, int, int]) -> tuple[int, int, int]:
    """The bulk thresholds, never lower than the ones in force (a deployment may have raised them more);
    a collector switched off by a zero threshold stays off."""
    if current[0] == 0:
        return current
    return (max(current[0], BULK_THRESHOLDS[0]), max(current[1], BULK_THRESHOLDS[1]),
            max(current[2], BULK_THRESHOLDS[2]))
