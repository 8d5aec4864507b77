"""The HTTP API fuzzed: no input gives a 5xx.

- From its OpenAPI description, with schemathesis: every operation of ``/openapi.json`` and the
  portal's routes (``/id``, ``/doc``, ``/graph``, ``/dumps``, ``/queries``... kept out of the
  published description, added here with their path parameters), a few examples each in CI; the
  bigger run: ``PASSERELLES_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/test_fuzz_http.py``.
- The GraphQL schema, with hypothesis-graphql: valid queries built from the schema (any field,
  argument and nesting within the limits) and invalid ones (wrong types, unknown fields, broken
  syntax): never a 5xx, and every error carries ``extensions.code``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import os
from typing import Any

import graphql
import hypothesis.strategies as st
import pyoxigraph as ox
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import Mode, queries
from schemathesis.checks import not_a_server_error

from api import dataset, linked_data, sparql, stored_queries, vocabulary
from api.app import create_app
from api.graphql import router as graphql_router
from api.graphql.schema import schema as graphql_schema
from tests.portal_support import make_store, portal_quads
from tests.reliability_log import log_outcome

# examples per operation / per GraphQL test: a few in CI; the big run sets PASSERELLES_FUZZ_EXAMPLES
BIG = int(os.environ.get("PASSERELLES_FUZZ_EXAMPLES", "0"))
EXAMPLES = BIG or 8
GRAPHQL_EXAMPLES = BIG or 30
SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much]


def _app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    settings_ = make_store(tmp_path_factory.mktemp("fuzz-http") / "store")
    store = ox.Store()
    store.extend(portal_quads())
    # GraphQL's depth, cost and alias limits raised: generated queries reach the resolvers instead
    # of stopping at the limits (the page-size limit stays: it is a constant of the schema)
    relaxed = dataclasses.replace(
        settings_,
        query_timeout_s=5.0,
        graphql_max_depth=100,
        graphql_max_cost=10**9,
        graphql_max_aliases=10**4,
    )
    app = create_app(relaxed, store=store)
    # the portal's GET routes, out of the published description, described here for the fuzzer
    hidden = []
    routers = (linked_data.router, vocabulary.router, dataset.router, stored_queries.router, sparql.router)
    for route in [*app.routes, *(r for router in routers for r in router.routes)]:
        if isinstance(route, APIRoute) and not route.include_in_schema and "GET" in route.methods:
            shown = copy.copy(route)
            shown.include_in_schema = True
            hidden.append(shown)
    published = app.openapi()
    extended = get_openapi(
        title=app.title, version=app.version, routes=[*app.routes, *graphql_router.routes, *hidden]
    )
    assert set(published["paths"]) < set(extended["paths"])
    app.openapi_schema = extended
    return app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return _app(tmp_path_factory)


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _fuzzer(operation: Any) -> Any:
    """A hypothesis test of one operation: schemathesis' cases, no 5xx, each answer logged."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW)
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        log_outcome("fuzz-http", what="openapi", target=operation.label, outcome=str(response.status_code))

    return fuzz


def test_openapi_operations_never_5xx(api_schema: Any) -> None:
    """Each operation in turn, ``EXAMPLES`` cases each (schemathesis' strategies, hypothesis' engine)."""
    tried = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        _fuzzer(operation)()
        tried.append(operation.path)
    for path in ("/sparql", "/graphql", "/id/{path}", "/doc/{path}", "/dumps/{name}", "/queries/{name}"):
        assert path in tried


DATES = st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(
    lambda d: graphql.StringValueNode(value=d.isoformat())
)
# page sizes within the schema's limit (1..100): generated queries then mostly run
PAGES = st.integers(min_value=0, max_value=100).map(lambda n: graphql.IntValueNode(value=str(n)))
SCALARS = {"Date": DATES, "Int": PAGES}
SDL = graphql.print_schema(graphql_schema._schema)


def _check(client: TestClient, query: object, what: str) -> None:
    response = client.post("/graphql", json={"query": query}, headers={"accept": "application/json"})
    assert response.status_code < 500, (query, response.text)
    body = response.json()
    for error in body.get("errors", []):
        assert error.get("extensions", {}).get("code"), (query, error)
    codes = sorted({e["extensions"]["code"] for e in body.get("errors", [])})
    data = "data" if any(v is not None for v in (body.get("data") or {}).values()) else ""
    log_outcome(
        "fuzz-http",
        what=what,
        target="/graphql",
        outcome=" + ".join([*codes, data][: len(codes) + bool(data)]),
    )


@pytest.fixture(scope="module")
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


@settings(max_examples=GRAPHQL_EXAMPLES // 2, deadline=None, suppress_health_check=SLOW)
@given(query=queries(SDL, custom_scalars=SCALARS))
def test_graphql_valid_queries_never_5xx(client: TestClient, query: str) -> None:
    _check(client, query, "graphql valid")


@settings(max_examples=GRAPHQL_EXAMPLES, deadline=None, suppress_health_check=SLOW)
@given(query=queries(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE))
def test_graphql_invalid_queries_never_5xx(client: TestClient, query: str) -> None:
    _check(client, query, "graphql invalid")


@settings(max_examples=GRAPHQL_EXAMPLES // 2, deadline=None, suppress_health_check=SLOW)
@given(
    query=queries(SDL, custom_scalars=SCALARS),
    cut=st.integers(min_value=0, max_value=400),
    noise=st.text(min_size=1, max_size=5),
)
def test_graphql_broken_syntax_never_5xx(client: TestClient, query: str, cut: int, noise: str) -> None:
    """A valid query with a piece replaced by noise: a syntax or validation error with its code."""
    cut = cut % max(1, len(query))
    _check(client, query[:cut] + noise + query[cut + len(noise) :], "graphql broken syntax")


@settings(max_examples=GRAPHQL_EXAMPLES, deadline=None, suppress_health_check=SLOW)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
        max_leaves=8,
    )
)
def test_graphql_any_json_body_never_5xx(client: TestClient, body: object) -> None:
    response = client.post("/graphql", json=body, headers={"accept": "application/json"})
    assert response.status_code < 500, (body, response.text)
    log_outcome(
        "fuzz-http", what="graphql any JSON body", target="/graphql", outcome=str(response.status_code)
    )
