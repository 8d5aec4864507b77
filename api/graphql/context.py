"""Per-request context: the query runner, the DataLoaders that batch store reads, the settings.

The two loaders (:class:`BatchLoader`) turn every field read on one GraphQL level into one store
query: all the (resource, property) pairs asked in the same event-loop tick go out as one
``values.rq`` query (its ``VALUES ?s`` and ``VALUES ?p`` hold the whole batch); inverse links
likewise through ``inverse.rq``. A request for 100 occupations' skills thus makes one query for
the skills, not 100.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import pyoxigraph as ox

from api.graphql.queries import QueryRunner, Term
from kg.config import Settings

ValueKey = tuple[str, str]  # (subject IRI, property IRI)
InverseKey = tuple[str, str, str]  # (object IRI, property IRI, class IRI of the subjects)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchLoader(Generic[K, V]):
    """Keys asked for during one turn of the event loop are fetched together, once per request.

    A lean DataLoader: one future per *batch*, not per key (strawberry's ``DataLoader`` made a
    future, a task record and a done-callback per key: thousands for one deep answer, more time
    than the store's work). Answers stay in :attr:`done`, read synchronously by resolvers.

    >>> async def fetch(keys):
    ...     calls.append(sorted(keys))
    ...     return [k * 2 for k in keys]
    >>> calls = []
    >>> async def main():
    ...     loader = BatchLoader(fetch)
    ...     a, b = await asyncio.gather(loader.load_many([1, 2]), loader.load(3))
    ...     return a, b, await loader.load(2)
    >>> asyncio.run(main()), calls
    (([2, 4], 6, 4), [[1, 2, 3]])
    """

    def __init__(self, fetch: Callable[[list[K]], Awaitable[list[V]]]) -> None:
        self.fetch = fetch
        self.done: dict[K, V] = {}
        self._inflight: dict[K, asyncio.Future[None]] = {}
        self._queued: list[K] = []
        self._next: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def load_many(self, keys: Sequence[K]) -> list[V]:
        """The values of ``keys`` (in order), fetched in the current batch if not known yet."""
        done = self.done
        waits: set[asyncio.Future[None]] = set()
        for key in keys:
            if key in done:
                continue
            future = self._inflight.get(key)
            if future is None:
                future = self._next
                if future is None:
                    loop = asyncio.get_running_loop()
                    future = self._next = loop.create_future()
                    loop.call_soon(self._dispatch)
                self._queued.append(key)
                self._inflight[key] = future
            waits.add(future)
        for future in waits:
            await future
        return [done[key] for key in keys]

    def prime(self, known: Mapping[K, V]) -> None:
        """Values read by another query of this request (a page's fields, read with the page)."""
        for key, value in known.items():
            self.done.setdefault(key, value)

    async def load(self, key: K) -> V:
        """The value of one key."""
        return (await self.load_many([key]))[0]

    def _dispatch(self) -> None:
        task = asyncio.get_running_loop().create_task(self._run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        # The batch closes when this task starts, one loop turn after the first key: the resolvers
        # resumed in between (sibling fields, the other branches of a level) join it.
        keys, future = self._queued, self._next
        self._queued, self._next = [], None
        assert future is not None
        try:
            values = await self.fetch(keys)
            self.done.update(zip(keys, values, strict=True))
            if not future.done():  # its waiters may have been cancelled (request timeout)
                future.set_result(None)
        except BaseException as exc:  # every waiter sees the failure (a timeout cancels them all)
            if not future.done():
                future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            for key in keys:
                self._inflight.pop(key, None)


def _values_loader(runner: QueryRunner) -> BatchLoader[ValueKey, list[Term]]:
    async def load(keys: Sequence[ValueKey]) -> list[list[Term]]:
        subjects = sorted({s for s, _ in keys})
        props = sorted({p for _, p in keys})
        found = runner.lookup_sync(subjects, props)
        return [found.get(key, []) for key in keys]

    return BatchLoader(load)


def _inverse_loader(runner: QueryRunner) -> BatchLoader[InverseKey, list[str]]:
    async def load(keys: Sequence[InverseKey]) -> list[list[str]]:
        objects = sorted({o for o, _, _ in keys})
        props = sorted({p for _, p, _ in keys})
        classes = sorted({c for _, _, c in keys})
        rows = await runner.select(
            "inverse",
            values={
                "o": [ox.NamedNode(o) for o in objects],
                "p": [ox.NamedNode(p) for p in props],
                "class": [ox.NamedNode(c) for c in classes],
            },
        )  # in the thread pool: the resources pointing to a batch may be many (all offers of a fiche)
        found: dict[InverseKey, set[str]] = defaultdict(set)
        for row in rows:
            found[(row["o"].value, row["p"].value, row["class"].value)].add(row["s"].value)
        return [sorted(found.get(key, ())) for key in keys]

    return BatchLoader(load)


@dataclass
class Context:
    """What resolvers see as ``info.context``."""

    runner: QueryRunner
    settings: Settings
    build_key: object = None
    values: BatchLoader[ValueKey, list[Term]] = field(init=False)
    inverse: BatchLoader[InverseKey, list[str]] = field(init=False)
    memo: dict[object, object] = field(default_factory=dict)  # per-request results of pure work

    def __post_init__(self) -> None:
        self.values = _values_loader(self.runner)
        self.inverse = _inverse_loader(self.runner)

    @property
    def known(self) -> dict[ValueKey, list[Term]]:
        """Values already read in this request: scalar fields found here resolve without a task."""
        return self.values.done

    @property
    def id_base(self) -> str:
        return self.settings.id_base
