"""A small served store for the portal tests (no build: quads written directly), and a real
uvicorn server in a thread for the tests that need concurrency or a browser."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyoxigraph as ox
import uvicorn
from fastapi import FastAPI

from kg.config import Settings
from kg.dumps import write_dumps
from kg.namespaces import prefixes_for
from kg.provenance import SourceReport, describe, graph_iri
from kg.store import StoreLayout
from tests.conftest import TEST_BASE

KASEI = "http://kasei.us/2009/09/sparql/data/"
PAS = "https://w3id.org/passerelles/ontology#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
ID = TEST_BASE + "id/"
EVIL = "<script>window.hacked = true</script> & co"


def _n(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


def portal_quads() -> list[ox.Quad]:
    """The W3C protocol suite's data graphs, a few resources of the graph (one with a hostile
    label), their source graph and its catalogue entry, and filler for limit tests."""
    quads: list[ox.Quad] = []
    for i in (1, 2, 3):  # protocol suite: data{i}.rdf named graphs, each typing its own IRI
        doc = _n(f"{KASEI}data{i}.rdf")
        quads.append(ox.Quad(doc, _n(RDF_TYPE), _n("http://xmlns.com/foaf/0.1/Document"), doc))
    graph = graph_iri(TEST_BASE, "rome-occupations", "v460")
    occupation, skill, commune = _n(ID + "rome/I1321"), _n(ID + "skill/100038"), _n(ID + "commune/76540")
    facts = [
        (occupation, _n(RDF_TYPE), _n(PAS + "Occupation")),
        (occupation, _n(PAS + "code"), ox.Literal("I1321")),
        (
            occupation,
            _n(SKOS + "prefLabel"),
            ox.Literal("Installation et maintenance télécom", language="fr"),
        ),
        (occupation, _n(PAS + "hasSkill"), skill),
        (skill, _n(RDF_TYPE), _n(PAS + "KnowHow")),
        (skill, _n(PAS + "code"), ox.Literal("100038")),
        (skill, _n(SKOS + "prefLabel"), ox.Literal(EVIL, language="fr")),
        (commune, _n(RDF_TYPE), _n(PAS + "Commune")),
        (commune, _n(SKOS + "prefLabel"), ox.Literal("Rouen", language="fr")),
    ]
    for s, p, o in facts:
        quads.append(ox.Quad(s, p, o, graph))
        quads.append(ox.Quad(s, p, o))  # the published default graph
    subclass = "http://www.w3.org/2000/01/rdf-schema#subClassOf"
    quads.append(ox.Quad(_n(PAS + "KnowHow"), _n(subclass), _n(PAS + "Skill")))  # the ontology's part used
    for i in range(60):  # filler: 60 items for the row cap and the endless query
        quads.append(ox.Quad(_n(f"{ID}filler/{i}"), _n(PAS + "code"), ox.Literal(f"F{i:03d}")))
    report = SourceReport(
        name="rome-occupations",
        title="Fiches ROME",
        file="rome.csv",
        version="v460",
        sha256="0" * 64,
        publisher="France Travail",
        licence="https://www.etalab.gouv.fr/licence-ouverte-open-licence",
        dataset_page="https://example.org/rome",
        download_url="https://example.org/rome.csv",
        mappings=[],
        rows_read=1,
        rows_loaded=1,
        triples=len(facts),
    )
    catalog = describe(TEST_BASE, "test-build", datetime.now(UTC), [report])
    quads += catalog + [ox.Quad(q.subject, q.predicate, q.object) for q in catalog]  # as kg build does
    return quads


def make_store(root: Path) -> Settings:
    """A published store at ``root`` (layout of :mod:`kg.store`) with dumps; settings for it."""
    layout = StoreLayout(root)
    with layout.new_build() as build:
        build.store.extend(portal_quads())
        write_dumps(build.store, build.path / "dumps", prefixes_for(TEST_BASE))
    return dataclasses.replace(
        Settings(),
        store=root,
        base_iri=TEST_BASE,
        result_cap=50,
        query_timeout_s=2.0,
        query_workers=2,
        rate_limit=0,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` on a real HTTP server in a thread; yield its root URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
