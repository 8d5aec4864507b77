"""Overload on a real HTTP server: admission control answers 503 + Retry-After at once past its
bound (never a queue without end, never a crash or a hang), the rate limit counts per client
behind a reverse proxy (X-Forwarded-For from loopback), and oversized requests are refused.

One server for the module (uvicorn in a thread, the store in memory: no worker processes to
start), with a small bound: 4 requests at once, bodies of 4 KiB, 30 queries a minute (burst 2).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pyoxigraph as ox
import pytest

from api.app import create_app
from tests.portal_support import make_store, portal_quads, serve
from tests.reliability_log import log_outcome

BOUND = 4


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_store(tmp_path_factory.mktemp("admission") / "store")
    settings = dataclasses.replace(
        settings, max_inflight=BOUND, max_body_bytes=4096, rate_limit=30, rate_burst=2
    )
    store = ox.Store()
    store.extend(portal_quads())
    with serve(create_app(settings, store=store)) as root:
        yield root


@contextlib.contextmanager
def held_requests(url: str, count: int) -> Iterator[None]:
    """``count`` requests that stay in flight: headers and half of the declared body sent, then
    nothing (a slow client)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(
                b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
                b"Content-Length: 100\r\n\r\nASK {"
            )
            sockets.append(sock)
        time.sleep(0.3)
        yield
    finally:
        for sock in sockets:
            sock.close()
        time.sleep(0.3)


def _forwarded(i: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{i}"}  # each test client its own rate-limit bucket


def test_past_the_bound_503_with_retry_after_at_once(url: str) -> None:
    with held_requests(url, BOUND):
        started = time.monotonic()
        refused = httpx.get(
            url + "/sparql",
            params={"query": "ASK {}"},
            headers={"Origin": "https://example.org", **_forwarded(1)},
            timeout=10,
        )
        assert time.monotonic() - started < 1.0  # refused, not queued
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "overloaded"
        assert refused.headers["access-control-allow-origin"] == "*"  # CORS wraps the refusal
        assert httpx.post(url + "/graphql", json={"query": "{ __typename }"}, timeout=10).status_code == 503
        assert httpx.get(url + "/health", timeout=5).status_code == 200  # exempt: the process is alive
    # the slow clients gone, their places are free again
    assert (
        httpx.get(url + "/sparql", params={"query": "ASK {}"}, headers=_forwarded(2), timeout=10).status_code
        == 200
    )


def test_flood_every_answer_is_a_result_or_a_503_with_retry_after(url: str) -> None:
    """24 clients at once against a bound of 4: each gets an answer, quickly; refusals say when
    to retry; the server is still healthy afterwards."""
    query = "SELECT (COUNT(*) AS ?n) WHERE { ?a pas:code ?b . ?c pas:code ?d }"
    barrier = threading.Barrier(24)

    def client(i: int) -> tuple[int, str | None, float]:
        with httpx.Client(timeout=30, headers=_forwarded(10 + i)) as http:
            barrier.wait()
            started = time.monotonic()
            if i % 2:
                response = http.get(url + "/sparql", params={"query": query})
            else:
                response = http.post(
                    url + "/graphql", json={"query": "{ occupations(first: 5) { totalCount } }"}
                )
            return response.status_code, response.headers.get("retry-after"), time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(client, range(24)))
    statuses = {status for status, _, _ in outcomes}
    assert statuses <= {200, 503}, outcomes
    assert 503 in statuses and 200 in statuses
    assert all(retry == "1" for status, retry, _ in outcomes if status == 503)
    assert max(elapsed for _, _, elapsed in outcomes) < 20
    for status, _, _ in outcomes:
        log_outcome(
            "overload", what="flood", outcome=f"{status} + Retry-After" if status == 503 else str(status)
        )
    assert httpx.get(url + "/health", timeout=5).json()["status"] == "ok"


def test_rate_limit_counts_each_client_behind_a_proxy(url: str) -> None:
    """uvicorn trusts X-Forwarded-For from loopback (``--forwarded-allow-ips``): a reverse proxy
    on the same machine passes each end client's address, and each has its own bucket."""

    def ask(client: int) -> httpx.Response:
        return httpx.get(url + "/sparql", params={"query": "ASK {}"}, headers=_forwarded(client), timeout=10)

    assert [ask(100).status_code for _ in range(3)] == [200, 200, 429]
    limited = ask(100)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate-limit"
    assert ask(101).status_code == 200  # another client, its own budget


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("GET", {"params": {"query": "ASK {} #" + "x" * 9000}}, 414),
        ("GET", {"params": {"query": "ASK {}"}, "headers": {"X-Big": "y" * 9000}}, 431),
        ("GET", {"params": {"query": "ASK {}"}, "headers": {f"X-H{i}": "z" * 500 for i in range(20)}}, 431),
        ("POST", {"content": b"query=ASK%20%7B%7D%20%23" + b"x" * 5000}, 413),
        ("POST", {"content": iter([b"query=ASK%20%7B%7D%20%23", b"x" * 3000, b"x" * 3000])}, 413),
        ("POST", {"content": b"query=ASK%20%7B%7D%20%23" + b"x" * 3000}, 200),
    ],
    ids=["url-9KiB", "header-9KiB", "headers-10KiB", "body-5KB", "chunked-6KB", "body-3KB-ok"],
)
def test_oversized_requests_refused(url: str, method: str, kwargs: dict[str, object], status: int) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"} if method == "POST" else {}
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    headers.update(_forwarded(200 + len(str(kwargs)) % 50))
    response = httpx.request(method, url + "/sparql", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    if status != 200:
        assert response.json()["error"] in ("uri-too-long", "headers-too-large", "body-too-large")
    log_outcome("hostile", what="oversized", target=str(kwargs)[:40], outcome=str(response.status_code))
    assert httpx.get(url + "/health", timeout=5).status_code == 200


def test_graphql_past_its_execution_places_is_shed_not_timed_out(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GraphQL runs in the app process: past ``graphql_concurrency`` executions, a request waits at
    most ``graphql_queue_s`` for a place, then gets 503 + Retry-After (code OVERLOADED) without
    starting — instead of sharing the core with the others until all pass the GraphQL timeout.
    Regression: under overload the load benchmark saw 66 GraphQL TIMEOUT answers."""
    router = importlib.import_module("api.graphql.router")  # the package exports its APIRouter as `router`
    settings = dataclasses.replace(
        make_store(tmp_path / "store"), graphql_concurrency=1, graphql_queue_s=0.3, rate_limit=0
    )
    store = ox.Store()
    store.extend(portal_quads())
    gate = threading.Event()
    execute = router._execute

    async def held_while_gate_closed(document, variables, operation, context):  # type: ignore[no-untyped-def]
        while variables.get("hold") and not gate.is_set():
            await asyncio.sleep(0.01)
        return await execute(document, variables, operation, context)

    monkeypatch.setattr(router, "_execute", held_while_gate_closed)
    holding = {
        "query": "query($hold: Boolean!) { __typename @include(if: $hold) }",
        "variables": {"hold": True},
    }
    accept = {"Accept": "application/graphql-response+json"}
    with serve(create_app(settings, store=store)) as root, concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(httpx.post, root + "/graphql", json=holding, timeout=10)
        time.sleep(0.3)
        started = time.monotonic()
        shed = httpx.post(root + "/graphql", json={"query": "{ __typename }"}, headers=accept, timeout=10)
        waited = time.monotonic() - started
        gate.set()
        assert shed.status_code == 503, shed.text
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["errors"][0]["extensions"]["code"] == "OVERLOADED"
        assert 0.3 <= waited < 2.0  # waited for a place, then refused before any work
        assert held.result().status_code == 200  # the admitted one finished normally
        again = httpx.post(root + "/graphql", json={"query": "{ __typename }"}, headers=accept, timeout=10)
        assert again.status_code == 200 and again.json()["data"] == {"__typename": "Query"}
        log_outcome("overload", what="graphql past its execution places", outcome="503 + Retry-After")


def test_search_while_its_index_builds_is_503_with_retry_after_not_a_timeout(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh server builds the search index in the background (about 20 s on the real graph): a
    search meanwhile waits at most INDEX_WAIT_S, then gets 503 + Retry-After, code
    SEARCH_INDEX_NOT_READY. Regression: the overload run sent searches to a fresh server and got
    TIMEOUT errors after 13–16 s."""
    from api.graphql import search

    gate = threading.Event()
    build = search.SearchIndex.build.__func__  # type: ignore[attr-defined]

    def slow_build(cls: type, runner: object) -> object:
        gate.wait(30)
        return build(cls, runner)

    monkeypatch.setattr(search.SearchIndex, "build", classmethod(slow_build))
    settings = dataclasses.replace(make_store(tmp_path / "store"), rate_limit=0)
    store = ox.Store()
    store.extend(portal_quads())
    query = {"query": '{ search(text: "soudeur", first: 3) { code } }'}
    accept = {"Accept": "application/graphql-response+json"}
    with serve(create_app(settings, store=store)) as root:
        started = time.monotonic()
        warming = httpx.post(root + "/graphql", json=query, headers=accept, timeout=30)
        assert time.monotonic() - started < 5
        assert warming.status_code == 503, warming.text
        assert warming.headers["retry-after"] == "10"
        assert warming.json()["errors"][0]["extensions"]["code"] == "SEARCH_INDEX_NOT_READY"
        old = httpx.post(root + "/graphql", json=query, timeout=30)  # application/json: still 503
        assert old.status_code == 503 and old.headers["retry-after"] == "10"
        gate.set()
        deadline = time.monotonic() + 20
        while (
            ready := httpx.post(root + "/graphql", json=query, headers=accept, timeout=30)
        ).status_code == 503:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
        assert ready.status_code == 200 and "data" in ready.json(), ready.text
        log_outcome("overload", what="search while the index builds", outcome="503 + Retry-After")
