"""Objects computed from one store build (the gazetteer, the occupation model), pickled under
``var/cache/nlp`` so that the next command on the same build loads them instead of rebuilding."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def per_build(directory: Path, kind: str, key: str, build: Path, make: Callable[[], T], cls: type[T]) -> T:
    """The ``cls`` object of store build ``build``: loaded from ``directory`` when a pickle of the
    same ``kind`` and ``key`` is there and not older than the build, else ``make()``'s result,
    written there for the next time (atomically; a read-only checkout works without the cache).

    >>> import tempfile
    >>> folder, build = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> per_build(folder, "demo", "v1", build, lambda: [1, 2], list)
    [1, 2]
    >>> per_build(folder, "demo", "v1", build, lambda: [3], list)  # the cached object
    [1, 2]
    """
    name = hashlib.sha1(f"{key}|{build.resolve()}".encode()).hexdigest()[:16]
    path = directory / f"{kind}-{name}.pickle"
    if path.is_file() and path.stat().st_mtime >= build.stat().st_mtime:
        with path.open("rb") as handle:
            loaded = pickle.load(handle)
        if isinstance(loaded, cls):
            return loaded
    made = make()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(made)}.tmp")  # one per writer: two processes may fill it
        with tmp.open("wb") as handle:
            pickle.dump(made, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError:
        pass
    return made
