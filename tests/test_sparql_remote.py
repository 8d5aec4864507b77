"""/sparql on a SPARQL endpoint over HTTP (``PASSERELLES_QUERY_ENDPOINT``), against a real
``oxigraph serve-read-only`` on the same store: same answers, formats, cap, parameters, and the
endpoint's own timeout reported as the timeout limit."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from kg.config import Settings
from tests.portal_support import make_store

OXIGRAPH = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
ENDLESS = (
    "SELECT (COUNT(*) AS ?n) WHERE { ?a pas:code ?b . ?c pas:code ?d . ?e pas:code ?f . ?g pas:code ?h }"
)

if not Path(OXIGRAPH).exists():
    pytest.skip(
        "the oxigraph server (PyPI package oxigraph, a dev dependency) is not installed",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    local = make_store(tmp_path_factory.mktemp("remote") / "store")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            OXIGRAPH,
            "serve-read-only",
            "--location",
            str((local.store / "current").resolve()),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout-s",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}/query"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.post(endpoint, data={"query": "ASK {}"}, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield dataclasses.replace(local, query_endpoint=endpoint, query_timeout_s=10)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        assert client.app.state.backend.name == "remote"  # type: ignore[attr-defined]
        yield client


def test_same_answers_and_formats(client: TestClient) -> None:
    response = client.get("/sparql", params={"query": "SELECT ?c { ?o a pas:Occupation ; pas:code ?c }"})
    assert [b["c"]["value"] for b in response.json()["results"]["bindings"]] == ["I1321"]
    csv = client.get(
        "/sparql", params={"query": "SELECT ?l { ?s skos:prefLabel ?l } ORDER BY ?l", "format": "csv"}
    )
    assert csv.text.splitlines()[1:] == [
        "<script>window.hacked = true</script> & co",
        "Installation et maintenance télécom",
        "Rouen",
    ]
    ttl = client.get(
        "/sparql",
        params={
            "query": "DESCRIBE id:rome/I1321".replace("id:rome/", "<https://w3id.org/passerelles/id/rome/")
            + ">"
        },
        headers={"accept": "text/turtle"},
    )
    assert ttl.status_code == 200 and ttl.headers["content-type"].startswith("text/turtle")


def test_cap_syntax_and_parameters(client: TestClient) -> None:
    assert client.get("/sparql", params={"query": "SELECT * { ?s ?p ?o }"}).status_code == 413
    bad = client.get("/sparql", params={"query": "SELECT * {"})
    assert bad.status_code == 400 and bad.json()["error"] == "malformed-query"
    rows = client.get("/queries/skills-of-occupation", params={"code": "I1321"}).json()["results"]["bindings"]
    assert [r["skillCode"]["value"] for r in rows] == ["100038"]


def test_endpoint_timeout_is_the_timeout_limit(client: TestClient) -> None:
    started = time.monotonic()
    response = client.get("/sparql", params={"query": ENDLESS})
    assert response.status_code == 503 and response.json()["error"] == "timeout"
    assert time.monotonic() - started < 8  # the endpoint's 1 s, not the app's 10 s
