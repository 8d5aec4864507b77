"""How the process's two allocators keep freed memory: reused, not handed back to the kernel.

A CSV map (``kg.sources.csv_blocks``, ``kg.mapping_columnar``) allocates the same large pieces
for every 4 MiB block: the block's bytes and its slices (Python, glibc's malloc), numpy arrays,
polars columns and row texts (polars' bundled jemalloc). With the allocators' defaults, a third
of a DGEFP 20,000-row map's CPU seconds was the kernel's: ~13,800 minor page faults, first
touches of memory mapped afresh (``docs/guides/dgefp-fixed-costs.md``, "Page faults"). Two
settings cut them by a fifth without raising the peak memory:

- **jemalloc** (polars): one arena (``narenas:1``), so that the Python thread and polars'
  worker reuse the same freed pages instead of each growing its own arena. polars reads
  ``_RJEM_MALLOC_CONF`` from the environment when it is imported (it appends it to its own
  defaults), so the value goes into ``os.environ`` before any ``kg`` module imports polars:
  ``kg/__init__.py`` applies it, next to ``kg.polars_threads``.
- **glibc malloc** (Python's ``bytes``, numpy): blocks up to 32 MiB come from the heap instead
  of their own ``mmap`` (``M_MMAP_THRESHOLD``), and the heap's free top is handed back to the
  kernel only past 64 MiB (``M_TRIM_THRESHOLD``). Setting one without the other makes it worse
  (either turns off glibc's sliding threshold): both are set, with ``mallopt`` at import time.

``PASSERELLES_ALLOCATOR``: ``reuse`` (default) or ``off`` (both allocators keep their
defaults). A ``_RJEM_MALLOC_CONF`` the user set is left alone, and so is glibc when the user set
``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` (their values win). A process that
imported polars before ``kg`` keeps the jemalloc it has; on a C library without ``mallopt``
(not glibc) only the jemalloc part applies. Any other value raises ``ValueError`` when ``kg``
is imported; the ``kg`` command then stops with that one line (exit status 2).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import MutableMapping

SETTING = "PASSERELLES_ALLOCATOR"
JEMALLOC = "_RJEM_MALLOC_CONF"
JEMALLOC_CONF = "narenas:1"
GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20  # glibc's largest accepted value on 64-bit
TRIM_THRESHOLD = 64 << 20


def wanted(environ: MutableMapping[str, str]) -> bool:
    """Whether the setting asks for the reuse (raises ``ValueError`` on a bad value).

    >>> wanted({}), wanted({"PASSERELLES_ALLOCATOR": " Off "}), wanted({"PASSERELLES_ALLOCATOR": "reuse"})
    (True, False, True)
    >>> wanted({"PASSERELLES_ALLOCATOR": "fast"})
    Traceback (most recent call last):
    ...
    ValueError: PASSERELLES_ALLOCATOR='fast': 'reuse' (the default) or 'off'
    """
    value = environ.get(SETTING, "reuse").strip().lower()
    if value not in ("reuse", "off"):
        raise ValueError(f"{SETTING}={value!r}: 'reuse' (the default) or 'off'")
    return value == "reuse"


def jemalloc_conf(environ: MutableMapping[str, str]) -> str | None:
    """Put polars' jemalloc setting in ``environ`` and return it, or None when it is left alone
    (turned off, or the user's own ``_RJEM_MALLOC_CONF``).

    >>> env = {}
    >>> jemalloc_conf(env), env
    ('narenas:1', {'_RJEM_MALLOC_CONF': 'narenas:1'})
    >>> jemalloc_conf({"_RJEM_MALLOC_CONF": "narenas:4"}), jemalloc_conf({"PASSERELLES_ALLOCATOR": "off"})
    (None, None)
    """
    if not wanted(environ) or JEMALLOC in environ:
        return None
    environ[JEMALLOC] = JEMALLOC_CONF
    return JEMALLOC_CONF


def glibc_thresholds(environ: MutableMapping[str, str]) -> bool:
    """Set glibc malloc's mmap and trim thresholds in this process; whether they were set
    (False: turned off, the user's own ``MALLOC_*_THRESHOLD_``, or no glibc).

    >>> glibc_thresholds({"PASSERELLES_ALLOCATOR": "off"}), glibc_thresholds({"MALLOC_TRIM_THRESHOLD_": "0"})
    (False, False)
    """
    if not wanted(environ) or any(name in environ for name in GLIBC_VARIABLES):
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _libc() -> ctypes.CDLL | None:
    # The process's own symbols, libc's among them: no library search (ctypes.util.find_library
    # imports subprocess and runs ldconfig, ~20 ms at every `import kg`)
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def apply() -> tuple[str | None, bool]:
    """Both settings on this process (``kg/__init__.py``): jemalloc's only if polars is not
    imported yet (it reads its setting once, when imported)."""
    conf = None if "polars" in sys.modules else jemalloc_conf(os.environ)
    return conf, glibc_thresholds(os.environ)
