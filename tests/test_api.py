"""The HTTP API at this stage: /health and a read-only /sparql with SPARQL JSON results."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from kg.build import build
from kg.config import Settings
from kg.manifest import load_manifest
from tests.conftest import ROOT, TEST_BASE, on_test_backend

FIXTURE = ROOT / "tests" / "fixtures" / "build"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = dataclasses.replace(
        Settings(), store=tmp_path_factory.mktemp("api") / "store", base_iri=TEST_BASE, result_cap=5
    )
    settings = on_test_backend(settings)  # on the remote store, the build loads it over HTTP
    manifest = load_manifest(FIXTURE / "sources.toml", mappings_dir=FIXTURE / "mappings")
    build(manifest, settings, shapes_dir=FIXTURE / "shapes")
    with TestClient(create_app(settings)) as client:
        yield client


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["quads"] > 0 and body["build"]


def test_select_get_and_post(client: TestClient) -> None:
    query = "SELECT ?c WHERE { ?o a pas:Occupation ; pas:code ?c } ORDER BY ?c"
    for response in (
        client.get("/sparql", params={"query": query}),
        client.post("/sparql", data={"query": query}),
        client.post("/sparql", content=query, headers={"content-type": "application/sparql-query"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/sparql-results+json")
        assert [b["c"]["value"] for b in response.json()["results"]["bindings"]] == ["A1101", "I1407"]


def test_quarantined_entities_not_in_default_graph(client: TestClient) -> None:
    response = client.get("/sparql", params={"query": "ASK { ?o pas:code 'ZZ99' }"})
    assert response.json()["boolean"] is False


def test_ask(client: TestClient) -> None:
    response = client.get("/sparql", params={"query": "ASK { ?o a pas:Occupation }"})
    assert response.json() == {"head": {}, "boolean": True}


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"query": "SELEC nothing"}, 400),
        ({"query": "INSERT DATA { <urn:a> <urn:b> <urn:c> }"}, 403),
        ({"query": "  delete where { ?s ?p ?o }"}, 403),
        ({"query": "SELECT * WHERE { ?s ?p ?o }"}, 413),
    ],
    ids=["missing", "malformed", "insert", "delete", "over-cap"],
)
def test_refusals(client: TestClient, params: dict[str, str], status: int) -> None:
    assert client.get("/sparql", params=params).status_code == status


def test_post_wrong_media_type(client: TestClient) -> None:
    assert client.post("/sparql", content="x", headers={"content-type": "text/plain"}).status_code == 415


@pytest.mark.parametrize("enabled", [True, False])
def test_app_freezes_its_heap_after_start(enabled: bool) -> None:
    """With ``gc_freeze`` (PASSERELLES_GC_FREEZE, on by default when read from the environment), the
    app's lifespan collects and ``gc.freeze()``s the heap once started; off, it leaves it alone."""
    import gc

    import pyoxigraph as ox

    settings = dataclasses.replace(Settings(), base_iri=TEST_BASE, gc_freeze=enabled)
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        with TestClient(create_app(settings, store=ox.Store())) as client:
            assert (gc.get_freeze_count() > 0) is enabled
            assert client.get("/health").json()["status"] == "ok"
    finally:
        gc.unfreeze()  # the test process's objects back into the collections
    assert Settings.from_env({}).gc_freeze and not Settings.from_env({"PASSERELLES_GC_FREEZE": "0"}).gc_freeze
