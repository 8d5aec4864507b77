"""The portal around /sparql: Linked Data (303 + documents by conneg, escaping, provenance, 404),
/ontology and /shapes, VoID/DCAT description, dumps (sha256, no path traversal), stored queries
(documentation, typed parameters, conneg) and the query page."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator

import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.stored_queries import parse_stored_query, stored_queries
from kg.config import Settings
from tests.conftest import TEST_BASE, on_test_backend
from tests.portal_support import EVIL, ID, make_store

VOID = "http://rdfs.org/ns/void#"
DCAT = "http://www.w3.org/ns/dcat#"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return on_test_backend(make_store(tmp_path_factory.mktemp("portal") / "store"))


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


# --- Linked Data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "location"),
    [
        ("text/html", "/doc/rome/I1321"),
        ("text/turtle", "/doc/rome/I1321.ttl"),
        ("application/ld+json", "/doc/rome/I1321.jsonld"),
        ("application/n-triples", "/doc/rome/I1321.nt"),
        ("text/html;q=0.5, text/turtle", "/doc/rome/I1321.ttl"),
    ],
)
def test_resource_iri_303(client: TestClient, accept: str, location: str) -> None:
    response = client.get("/id/rome/I1321", headers={"accept": accept}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == location and "Accept" in response.headers["vary"]


@pytest.mark.parametrize(
    ("ext", "fmt"),
    [("ttl", ox.RdfFormat.TURTLE), ("jsonld", ox.RdfFormat.JSON_LD), ("nt", ox.RdfFormat.N_TRIPLES)],
)
def test_resource_documents(client: TestClient, ext: str, fmt: ox.RdfFormat) -> None:
    response = client.get(f"/doc/rome/I1321.{ext}")
    assert response.status_code == 200
    triples = list(ox.parse(response.content, format=fmt))
    iri = ox.NamedNode(ID + "rome/I1321")
    assert {t.predicate.value.rsplit("#", 1)[-1] for t in triples if t.subject == iri} >= {
        "type",
        "code",
        "prefLabel",
        "hasSkill",
    }


def test_document_without_extension_negotiates(client: TestClient) -> None:
    response = client.get("/doc/rome/I1321", headers={"accept": "text/turtle"})
    assert response.headers["content-type"].startswith("text/turtle")
    assert response.headers["content-location"] == "/doc/rome/I1321.ttl"


def test_resource_page(client: TestClient) -> None:
    page = client.get("/id/rome/I1321", headers={"accept": "text/html"}).text
    assert "<h1>Installation et maintenance télécom</h1>" in page
    assert 'href="/id/skill/100038"' in page  # the linked skill, served here
    assert "rome-occupations/v460" in page and "France Travail" in page  # provenance
    assert 'href="https://www.etalab.gouv.fr/licence-ouverte-open-licence"' in page


def test_source_text_is_escaped(client: TestClient) -> None:
    page = client.get("/doc/skill/100038").text
    assert "<script>" not in page
    assert "&lt;script&gt;window.hacked = true&lt;/script&gt; &amp; co" in page
    incoming = client.get("/doc/rome/I1321").text  # the label shown as a link text elsewhere
    assert EVIL not in incoming


def test_incoming_links(client: TestClient) -> None:
    page = client.get("/doc/skill/100038").text
    assert 'id="incoming"' in page and 'href="/id/rome/I1321"' in page


def test_unknown_resource_404(client: TestClient) -> None:
    for path in ("/id/rome/Z9999", "/doc/rome/Z9999", "/doc/rome/Z9999.ttl"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404 and response.json()["error"] == "not-found"


def test_base_iri_is_configurable(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = make_store(tmp_path_factory.mktemp("base") / "store")
    import dataclasses

    moved = dataclasses.replace(other, base_iri="https://data.example.org/")
    with TestClient(create_app(moved)) as client:  # the same graph under another base: nothing there
        assert client.get("/id/rome/I1321", follow_redirects=False).status_code == 404


# --- ontology and shapes ---------------------------------------------------------------------


def test_ontology(client: TestClient) -> None:
    page = client.get("/ontology", headers={"accept": "text/html"}).text
    assert 'id="Occupation"' in page and "pas:hasSkill" in page
    turtle = client.get("/ontology", headers={"accept": "text/turtle"})
    assert turtle.headers["content-type"].startswith("text/turtle")
    terms = {t.subject.value for t in ox.parse(turtle.content, format=ox.RdfFormat.TURTLE)}
    assert "https://w3id.org/passerelles/ontology#Occupation" in terms
    assert client.get("/ontology.ttl").status_code == 200


def test_shapes(client: TestClient) -> None:
    page = client.get("/shapes").text
    assert 'id="shapes"' in page and "Occupation" in page
    turtle = client.get("/shapes", headers={"accept": "text/turtle"}).content
    shapes = list(ox.parse(turtle, format=ox.RdfFormat.TURTLE))
    assert any(t.object.value == "http://www.w3.org/ns/shacl#NodeShape" for t in shapes)


# --- dataset description and dumps -----------------------------------------------------------


def test_void(client: TestClient) -> None:
    response = client.get("/.well-known/void")
    assert response.headers["content-type"].startswith("text/turtle")
    triples = list(ox.parse(response.content, format=ox.RdfFormat.TURTLE))
    graph = ox.NamedNode(TEST_BASE + "graph/rome-occupations/v460")
    about = {t.predicate.value: t.object for t in triples if t.subject == graph}
    assert about[VOID + "triples"].value == "9"
    assert about["http://purl.org/dc/terms/license"].value.startswith("https://www.etalab.gouv.fr/")
    assert about["https://w3id.org/passerelles/ontology#sourceVersion"].value == "v460"
    assert "http://purl.org/dc/terms/modified" in about
    dataset = ox.NamedNode(TEST_BASE + "dataset")
    props = {(t.predicate.value, t.object.value) for t in triples if t.subject == dataset}
    assert (VOID + "sparqlEndpoint", "http://testserver/sparql") in props
    assert (VOID + "dataDump", "http://testserver/dumps/passerelles.nq.gz") in props
    assert (VOID + "subset", graph.value) in props
    jsonld = client.get("/.well-known/void", headers={"accept": "application/ld+json"})
    assert len(list(ox.parse(jsonld.content, format=ox.RdfFormat.JSON_LD))) == len(triples)


def test_dataset_page(client: TestClient) -> None:
    page = client.get("/dataset", headers={"accept": "text/html"}).text
    assert "rome-occupations/v460" in page and "passerelles.ttl.gz" in page


def test_dumps(client: TestClient, settings: Settings) -> None:
    listing = client.get("/dumps/", headers={"accept": "application/json"}).json()
    assert {d["name"] for d in listing} == {"passerelles.nq.gz", "passerelles.ttl.gz"}
    for dump in listing:
        data = client.get(f"/dumps/{dump['name']}").content
        assert hashlib.sha256(data).hexdigest() == dump["sha256"]
        sha_line = client.get(f"/dumps/{dump['name']}.sha256").text
        assert sha_line == f"{dump['sha256']}  {dump['name']}\n"
    quads = list(
        ox.parse(gzip.decompress(client.get("/dumps/passerelles.nq.gz").content), format=ox.RdfFormat.N_QUADS)
    )
    store = ox.Store.read_only(str(settings.store / "current"))
    assert len(quads) == len(store)
    turtle = gzip.decompress(client.get("/dumps/passerelles.ttl.gz").content)
    assert len(list(ox.parse(turtle, format=ox.RdfFormat.TURTLE))) == len(
        list(store.quads_for_pattern(None, None, None, ox.DefaultGraph()))
    )


@pytest.mark.parametrize(
    "path",
    [
        "/dumps/..%2Fbuild-report.json",
        "/dumps/dumps.json",
        "/dumps/%2Fetc%2Fpasswd",
        "/dumps/../../etc/passwd",
        "/dumps/.tmp-passerelles.nq.gz",
    ],
)
def test_dumps_no_traversal(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"root:" not in response.content


# --- stored queries --------------------------------------------------------------------------


def test_stored_query_list(client: TestClient) -> None:
    listing = client.get("/queries", headers={"accept": "application/json"}).json()
    names = {q["name"] for q in listing}
    assert {"skills-of-occupation", "occupations-of-trade"} <= names
    skills = next(q for q in listing if q["name"] == "skills-of-occupation")
    assert skills["params"] == [
        {
            "name": "code",
            "type": "rome",
            "default": "I1407",
            "description": "the ROME 4.0 code of the occupation, e.g. I1407",
        }
    ]
    assert "skills-of-occupation" in client.get("/queries", headers={"accept": "text/html"}).text


def test_stored_query_runs_with_parameter(client: TestClient) -> None:
    response = client.get("/queries/skills-of-occupation", params={"code": "I1321", "format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == "code,skillCode,label,kind,core" and lines[1].startswith("I1321,100038,")
    json_rows = client.get("/queries/skills-of-occupation", params={"code": "I1321"}).json()
    assert [b["skillCode"]["value"] for b in json_rows["results"]["bindings"]] == ["100038"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"code": "I1321' } ; DROP ALL ; #"}, "must be a ROME 4.0 fiche code"),
        ({"code": "<http://x>"}, "must be a ROME 4.0 fiche code"),
        ({"nope": "1"}, "unknown parameter"),
    ],
)
def test_stored_query_validates_parameters(client: TestClient, params: dict[str, str], message: str) -> None:
    response = client.get("/queries/skills-of-occupation", params=params)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_stored_query_doc_and_404(client: TestClient) -> None:
    page = client.get("/queries/skills-of-occupation", headers={"accept": "text/html"}).text
    assert "Parameters" in page and "I1407" in page and "SELECT" in page
    assert client.get("/queries/nothing-here").status_code == 404


# Values for the required parameters of the reports, on the demo graph.
REPORT_EXAMPLES = {
    "trade": f"{TEST_BASE}id/trade/maintenance-eolien-en-mer",
    "occupation": f"{TEST_BASE}id/rome/I1321",
    "target": f"{TEST_BASE}id/rome/I1321",
    "fiche": f"{TEST_BASE}id/rome/I1321",
    "v3": f"{TEST_BASE}id/rome-v3/I1304",
    "appellation": f"{TEST_BASE}id/appellation/509441",
    "skill": f"{TEST_BASE}id/competence/100023",
    "departement": f"{TEST_BASE}id/departement/76",
    "startsAfter": "2026-01-01",
    "south": "48",
    "north": "51",
    "west": "-2",
    "east": "2",
}


def test_every_report_query_parses_and_runs(client: TestClient) -> None:
    for name, query in stored_queries().items():
        assert query.summary, f"{name} has no #+ summary"
        params = {p.name: REPORT_EXAMPLES[p.name] for p in query.params if p.default is None}
        response = client.get(
            f"/queries/{name}", params=params, headers={"accept": "application/sparql-results+json"}
        )
        assert response.status_code == 200, (name, response.text)


def test_parameter_must_be_a_query_variable() -> None:
    with pytest.raises(ValueError, match="cannot be bound"):
        parse_stored_query("x", "#+ params:\n#+   - code (rome): a code\nSELECT * { ?s ?p ?o }")


# --- query page ------------------------------------------------------------------------------


def test_query_page_and_examples(client: TestClient) -> None:
    page = client.get("/query").text
    assert "/static/query.js" in page and "http" not in page.replace("http-equiv", "")
    examples = client.get("/query/examples").json()
    assert examples["base"] == TEST_BASE
    names = {e["name"] for e in examples["examples"]}
    assert {
        "occupations-of-trade",
        "skills-of-occupation",
        "certifications-covering-skill",
        "courses-near-commune",
    } <= names
    assert client.get("/static/query.js").status_code == 200


def test_named_graph_page(client: TestClient) -> None:
    page = client.get("/doc/rome/I1321").text
    assert 'href="/graph/rome-occupations/v460"' in page
    graph = client.get("/graph/rome-occupations/v460", headers={"accept": "text/html"})
    assert graph.status_code == 200 and "Fiches ROME" in graph.text
    turtle = client.get("/graph/rome-occupations/v460.ttl")
    assert turtle.headers["content-type"].startswith("text/turtle")
    assert client.get("/graph/nothing/v1").status_code == 404
