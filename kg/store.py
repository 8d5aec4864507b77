"""The store on disk: one directory per build, and a ``current`` link swapped atomically.

Layout of ``--store DIR``::

    DIR/current -> builds/20261128T174500Z-1234   (symlink, replaced in one rename)
    DIR/builds/20261128T174500Z-1234/              (a pyoxigraph store + build-report.json)
    DIR/builds/.tmp-...                            (a build in progress; removed on failure
                                                    and by the next build if it was killed)

A build that fails or is interrupted never touches ``current``: the previous graph stays
servable. The previous build is kept (for rollback) and older ones are removed.

>>> import tempfile
>>> layout = StoreLayout(Path(tempfile.mkdtemp()))
>>> layout.current() is None
True
>>> with layout.new_build() as build:
...     build.store.add(ox.Quad(ox.NamedNode("http://a"), ox.NamedNode("http://p"), ox.Literal("1")))
>>> len(open_store(layout.root))
1
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyoxigraph as ox

from kg.errors import BuildError

if TYPE_CHECKING:
    from kg.config import Settings
    from kg.remote_store import Endpoints

REPORT_FILE = "build-report.json"


@dataclass
class BuildDir:
    """A build in progress: its id, its directory and its writable store."""

    build_id: str
    path: Path
    store: ox.Store


class StoreLayout:
    """The directory structure of a store (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.builds = root / "builds"
        self.link = root / "current"

    def current(self) -> Path | None:
        """The directory of the graph being served, or None before the first build."""
        if not self.link.is_symlink():
            return None
        target = self.link.resolve()
        return target if target.is_dir() else None

    def clean_stale(self) -> list[Path]:
        """Remove the leftovers of killed builds; return what was removed."""
        removed = []
        if self.builds.is_dir():
            for path in self.builds.glob(".tmp-*"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        for path in self.root.glob(".current-*"):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def _new_id(self) -> str:
        """A build id not used yet in this store (two builds may start in the same second)."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"
        build_id, n = stamp, 1
        while (self.builds / build_id).exists() or (self.builds / f".tmp-{build_id}").exists():
            n += 1
            build_id = f"{stamp}-{n}"
        return build_id

    @contextlib.contextmanager
    def new_build(self, copy_of: Path | None = None, optimize: bool = True) -> Iterator[BuildDir]:
        """A fresh store to write into; published atomically when the block succeeds.

        With ``copy_of`` (a build directory), the new store starts as a copy of that build: a
        RocksDB checkpoint (pyoxigraph ``Store.backup``) made of hard links to its immutable
        files, so it costs milliseconds whatever the size, and the copied build is only read.
        Without ``optimize``, the store is not compacted before it is published (an update
        changes little of a large store; compacting it would rewrite all of it).
        """
        self.builds.mkdir(parents=True, exist_ok=True)
        self.clean_stale()
        build_id = self._new_id()
        tmp = self.builds / f".tmp-{build_id}"
        current = self.current()
        try:
            if copy_of is not None:
                source = ox.Store.read_only(str(copy_of))
                source.backup(str(tmp))
                del source
            build = BuildDir(build_id, tmp, ox.Store(str(tmp)))
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BuildError(f"cannot create the new build in {self.builds}: {exc}") from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            yield build
            build.store.flush()
            if optimize:
                build.store.optimize()
        except BaseException as exc:
            # The store must be closed before its directory goes, or RocksDB writes its last
            # files into it again when it closes later: drop the references that the failed
            # block's finished frames (kept by the traceback) still hold.
            traceback.clear_frames(exc.__traceback__)
            del build.store
            gc.collect()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        del build.store  # close the store (RocksDB) before the directory moves
        final = self.builds / build_id
        try:
            tmp.rename(final)
            self._point_current_to(final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BuildError(f"cannot publish the new build in {self.root}: {exc}") from exc
        self._prune(keep={final.resolve(), *([current.resolve()] if current else [])})

    def _point_current_to(self, target: Path) -> None:
        tmp_link = self.root / f".current-{os.getpid()}"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(target.relative_to(self.root))
        os.replace(tmp_link, self.link)

    def _prune(self, keep: set[Path]) -> None:
        kept = {path.resolve() for path in keep}  # a relative --store must not prune the new build
        for path in self.builds.iterdir():
            if path.is_dir() and not path.name.startswith(".") and path.resolve() not in kept:
                shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def scratch_file(workdir: Path | None, prefix: str, suffix: str = ".nt") -> Iterator[Path]:
    """A temporary file in ``workdir`` (named ``.tmp-*`` so that :meth:`StoreLayout.clean_stale`
    removes it if the process is killed), deleted when the block ends.

    >>> with scratch_file(None, "demo") as path:
    ...     path.name.startswith(".tmp-demo-"), path.exists()
    (True, True)
    >>> path.exists()
    False
    """
    fd, name = tempfile.mkstemp(prefix=f".tmp-{prefix}-", suffix=suffix, dir=workdir)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def open_store(root: Path) -> ox.Store:
    """Open the served graph of ``root`` read-only.

    Raises FileNotFoundError with a clear message when nothing was built there yet.
    """
    current = StoreLayout(root).current()
    if current is None:
        raise FileNotFoundError(f"no graph built in {root} yet: run `kg build --store {root}` first")
    return ox.Store.read_only(str(current))


class GraphStore(Protocol):
    """What readers use of a store: a read-only ``pyoxigraph.Store``, a :class:`FollowingStore`
    or a remote store (:class:`kg.remote_store.RemoteStore`) — the one query seam."""

    def query(
        self,
        query: str,
        *,
        prefixes: Any = None,
        substitutions: Any = None,
        default_graph: Any = None,
        named_graphs: Any = None,
    ) -> Any: ...

    def quads_for_pattern(self, subject: Any, predicate: Any, object: Any, graph_name: Any = None) -> Any: ...

    def __len__(self) -> int: ...


def served_version(store: object) -> str | None:
    """The build a reader's store serves (None for a plain store object): the key of caches
    that must follow rebuilds."""
    version = getattr(store, "version", None)
    return version() if callable(version) else None


class FollowingStore:
    """The served graph of ``root``, read-only, reopened when ``current`` moves (a rebuild), so
    that a long-running server answers from the new build on its next request.

    >>> import tempfile
    >>> layout = StoreLayout(Path(tempfile.mkdtemp()))
    >>> with layout.new_build() as build:
    ...     build.store.add(ox.Quad(ox.NamedNode("http://a"), ox.NamedNode("http://p"), ox.Literal("1")))
    >>> served = FollowingStore(layout.root)
    >>> len(served)
    1
    >>> with layout.new_build() as build:
    ...     build.store.extend([ox.Quad(ox.NamedNode("http://a"), ox.NamedNode("http://p"), ox.Literal(v))
    ...                        for v in "12"])
    >>> len(served), served.version() == layout.current().name
    (2, True)
    """

    def __init__(self, root: Path) -> None:
        self.layout = StoreLayout(root)
        self._lock = threading.Lock()
        self._opened: Path | None = None
        self._target: str | None = None  # the link's text when last checked
        self._store: ox.Store | None = None
        self.store  # noqa: B018 - fail now, clearly, when nothing was built there

    @property
    def store(self) -> ox.Store:
        """The read-only store of the current build (opened again after a rebuild)."""
        try:  # one readlink per access: the common case (no rebuild) costs one system call
            target: str | None = os.readlink(self.layout.link)
        except OSError:
            target = None
        if target is not None and target == self._target and self._store is not None:
            return self._store
        with self._lock:
            current = self.layout.current()
            if current is None:
                if self._store is not None:
                    return self._store
                root = self.layout.root
                raise FileNotFoundError(f"no graph built in {root} yet: run `kg build --store {root}` first")
            if current != self._opened or self._store is None:
                self._store = ox.Store.read_only(str(current))
                self._opened = current
            self._target = target
            return self._store

    def version(self) -> str | None:
        """The build served (its directory name)."""
        current = self.layout.current()
        return current.name if current else None

    def query(self, query: str, **options: Any) -> Any:
        return self.store.query(query, **options)

    def quads_for_pattern(self, subject: Any, predicate: Any, object: Any, graph_name: Any = None) -> Any:
        return self.store.quads_for_pattern(subject, predicate, object, graph_name)

    def __len__(self) -> int:
        return len(self.store)


def open_graph(settings: Settings, follow: bool = False) -> GraphStore:
    """The served graph for readers: the remote store when ``settings.store_endpoint`` is set,
    else the embedded store of ``settings.store`` (``follow``: reopened after each rebuild, for
    long-running servers; otherwise opened once, for one command)."""
    if settings.store_endpoint:
        from kg.remote_store import RemoteStore

        return RemoteStore(remote_endpoints(settings), settings.base_iri)
    if follow:
        return FollowingStore(settings.store)
    return open_store(settings.store)


def remote_endpoints(settings: Settings) -> Endpoints:
    """The remote store's URLs from the settings (Oxigraph server paths by default)."""
    from kg.remote_store import Endpoints

    return Endpoints.from_base(
        settings.store_endpoint, settings.store_query_url, settings.store_update_url, settings.store_gsp_url
    )
