"""The app's heap after start-up: its long-lived objects kept out of the garbage collector's walks.

The store's wrappers, the GraphQL schema, the parsed-document and analysis caches and the search
index live as long as the process; each full collection would walk them all (hundreds of
milliseconds on the full graph's index). ``gc.freeze()`` moves them into the collector's permanent
generation. Setting ``PASSERELLES_GC_FREEZE`` (``Settings.gc_freeze``) turns it off; see
docs/readme/gql.md for its measured effect and its cost (objects frozen are never collected: a
cycle among them that becomes garbage stays in memory).
"""

from __future__ import annotations

import gc


def freeze_heap() -> int:
    """Collect, then move every object the collector tracks into its permanent generation
    (``gc.freeze()``): the app's long-lived objects (schema, caches, stores' wrappers, search index)
    are no longer walked by each full collection. Returns how many objects are frozen.

    >>> freeze_heap() > 0 and gc.get_freeze_count() > 0
    True
    >>> gc.unfreeze()
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
