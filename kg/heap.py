"""A process's long-lived objects kept out of the garbage collector's walks (``gc.freeze()``).

The app's store wrappers, GraphQL schema, parsed-document and analysis caches and search index, and
``kg extract``'s loaded models, live as long as the process; each full collection would walk them
all (hundreds of milliseconds on the full graph's index; ~6 % of a cold extraction pass).
``gc.freeze()`` moves them into the collector's permanent generation. For the app, setting
``PASSERELLES_GC_FREEZE`` (``Settings.gc_freeze``) turns it off; see docs/guides/graphql-light-records.md
and docs/guides/extraction-speed-gc-reposts.md for the measured effects and the cost (objects frozen
are never collected: a cycle among them that becomes garbage stays in memory).
"""

from __future__ import annotations

import gc


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
