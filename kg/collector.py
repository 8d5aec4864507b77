"""Fewer garbage collections while a source is mapped.

Mapping allocates millions of short-lived objects (records, cells, N-Triples lines) and makes
no reference cycles of its own; CPython's default thresholds still run a young-generation
collection every 700 net allocations and promote a batch's live lines and records to the older
generations, whose collections then walk them again, and a full collection also walks every
object the imports made. On 10,000 LHEO sessions that was ~6 % of the map's CPU time (184 young,
17 middle and one full collection, the full one alone 64 ms). Inside :func:`fewer_collections`
the objects that exist are frozen (:func:`gc.freeze`: out of every collection) and the young
generation's threshold raised to :data:`YOUNG_THRESHOLD`: a handful of collections per map, and
cyclic garbage, if any, is still collected (within that many allocations).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000
_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Freeze the existing objects and raise the young generation's threshold for the block;
    nested or concurrent blocks (maps run in threads) share one setting, restored when the last
    one exits.

    >>> before = gc.get_threshold()
    >>> with fewer_collections():
    ...     gc.get_threshold()[0] >= YOUNG_THRESHOLD, gc.get_freeze_count() > 0
    (True, True)
    >>> gc.get_threshold() == before
    True
    """
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(_saved[0], YOUNG_THRESHOLD), *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
