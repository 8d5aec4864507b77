"""A process's long-lived objects kept out of the garbage collector's walks (``gc.freeze()``).

The app's store wrappers, GraphQL schema, parsed-document and analysis caches and search index, and
``kg extract``'s loaded models, live as long as the process; each full collection would walk them
all (hundreds of milliseconds on the full graph's index; ~6 % of a cold extraction pass).
``gc.freeze()`` moves them into the collector's permanent generation. For the app, setting
``PASSERELLES_GC_FREEZE`` (``Settings.gc_freeze``) turns it off; see docs/guides/graphql-light-records.md
and docs/guides/extraction-speed-gc-reposts.md for the measured effects and the cost (objects frozen
are never collected: a cycle among them that becomes garbage stays in memory).

Mapping a source allocates millions of short-lived objects (records, cells, N-Triples lines) and
makes no reference cycles of its own; CPython's default thresholds still run a young-generation
collection every 700 net allocations and promote a batch's live lines and records to the older
generations, whose collections then walk them again, and a full collection also walks every
object the imports made. On 10,000 LHEO sessions that was ~6 % of the map's CPU time (184 young,
17 middle and one full collection, the full one alone 64 ms). Inside :func:`fewer_collections`
the objects that exist are frozen as above and the young generation's threshold raised to
:data:`YOUNG_THRESHOLD`: a handful of collections per map, and cyclic garbage, if any, is still
collected (within that many allocations). See docs/guides/lheo-subject-memo.md.
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
_was_frozen = False


def freeze_heap() -> int:
    """Collect, then move every object the collector tracks into its permanent generation
    (``gc.freeze()``): the process's long-lived objects (the app's schema, caches, stores' wrappers,
    search index; the extractor's models) are no longer walked by each full collection. Returns how
    many objects are frozen.

    >>> freeze_heap() > 0 and gc.get_freeze_count() > 0
    True
    >>> gc.unfreeze()
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Freeze the existing objects and raise the young generation's threshold for the block;
    nested or concurrent blocks (maps run in threads) share one setting, restored when the last
    one exits.

    >>> before, was_frozen = gc.get_threshold(), gc.get_freeze_count() > 0
    >>> with fewer_collections():
    ...     gc.get_threshold()[0] >= YOUNG_THRESHOLD, gc.get_freeze_count() > 0
    (True, True)
    >>> gc.get_threshold() == before, (gc.get_freeze_count() > 0) == was_frozen
    (True, True)
    >>> frozen = freeze_heap()
    >>> with fewer_collections():
    ...     pass
    >>> gc.get_freeze_count() >= frozen  # a heap frozen for good stays frozen
    True
    >>> gc.unfreeze()
    """
    global _depth, _saved, _was_frozen
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            # a process that froze its heap for good (freeze_heap) keeps it frozen after the block:
            # gc.unfreeze() cannot tell its objects from the block's
            _was_frozen = gc.get_freeze_count() > 0
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
                if not _was_frozen:
                    gc.unfreeze()
