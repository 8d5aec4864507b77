"""``QueryRunner.joined``: an inverse hop runs in the calling thread only once it is known to be small
(the most resources met pointing to one node, times the nodes, at most ``INLINE_ROWS``)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyoxigraph as ox
import pytest

from api.graphql import queries
from api.graphql.queries import Hop, QueryRunner

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _runner() -> QueryRunner:
    store = ox.Store()
    x = lambda n: ox.NamedNode(f"http://x/{n}")  # noqa: E731
    for s, o in [(4, 1), (5, 1), (6, 3)]:
        store.add(ox.Quad(x(s), x("link"), x(o)))
        store.add(ox.Quad(x(s), ox.NamedNode(RDF_TYPE), x("C")))
    return QueryRunner(store, {}, executor=ThreadPoolExecutor(max_workers=1))


def _threads(runner: QueryRunner, monkeypatch: pytest.MonkeyPatch, times: int) -> list[tuple[bool, Any]]:
    """Whether each of ``times`` joined queries ran in the calling thread, with its answer."""
    seen: list[int] = []
    original = runner.joined_sync

    def spied(*args: Any) -> Any:
        seen.append(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(runner, "joined_sync", spied)
    back = Hop(False, "http://x/link", of="http://x/C")

    async def main() -> list[tuple[bool, Any]]:
        out = []
        for _ in range(times):
            answer = await runner.joined(["http://x/1", "http://x/3"], [], [back])
            out.append((seen[-1] == threading.get_ident(), answer))
        return out

    return asyncio.run(main())


def test_a_small_inverse_hop_runs_inline_once_known(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _runner()
    runs = _threads(runner, monkeypatch, 3)
    assert [inline for inline, _ in runs] == [False, True, True]  # the first: not known yet
    expected = {
        ("http://x/1", "http://x/link", "http://x/C"): ["http://x/4", "http://x/5"],
        ("http://x/3", "http://x/link", "http://x/C"): ["http://x/6"],
    }
    assert all(answer == ({}, expected) for _, answer in runs)
    assert runner.fan_in == {("http://x/link", "http://x/C"): 2}


def test_a_large_inverse_hop_stays_in_the_thread_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "INLINE_ROWS", 3)  # two resources point to http://x/1, two nodes: 4
    runs = _threads(_runner(), monkeypatch, 3)
    assert [inline for inline, _ in runs] == [False, False, False]
