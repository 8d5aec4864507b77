"""/sparql against the SPARQL 1.1 Protocol: the query tests of the W3C suite
(w3c/rdf-tests, sparql/sparql11/protocol/manifest.ttl, ported as pytest cases named after the
suite's entries), content negotiation, and the refusals (update, method, media type, charset)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote

import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import on_test_backend
from tests.portal_support import KASEI, make_store

D1, D2, D3 = (f"{KASEI}data{i}.rdf" for i in (1, 2, 3))
ASK_BOTH = f"ASK {{ <{D1}> a ?type . <{D2}> a ?type . }}"
ASK_NAMED = f"ASK {{ GRAPH ?g1 {{ <{D1}> a ?type }} GRAPH ?g2 {{ <{D2}> a ?type }} }}"
ASK_FULL = f"ASK {{ <{D3}> a ?type GRAPH ?g1 {{ <{D1}> a ?type }} GRAPH ?g2 {{ <{D2}> a ?type }} }}"
SPARQL_QUERY = {"content-type": "application/sparql-query"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = on_test_backend(make_store(tmp_path_factory.mktemp("protocol") / "store"))
    with TestClient(create_app(settings)) as client:
        yield client


def _boolean(response: object) -> bool:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"head", "boolean"}
    return bool(body["boolean"])


def _q(**params: str | list[str]) -> str:
    parts = []
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            parts.append(f"{key.replace('_', '-')}={quote(v, safe='')}")
    return "/sparql?" + "&".join(parts)


# --- W3C protocol suite: query tests ---------------------------------------------------------


def test_query_post_form(client: TestClient) -> None:
    """query_post_form: query via URL-encoded POST (with a protocol default graph)."""
    response = client.post(
        _q(default_graph_uri=f"{KASEI}data0.rdf"), content="query=ASK%20%7B%7D", headers=FORM
    )
    assert response.status_code == 200 and _boolean(response) is True


def test_query_dataset_default_graphs_get(client: TestClient) -> None:
    """query_dataset_default_graphs_get: GET query with protocol-specified default graphs."""
    response = client.get(_q(query=ASK_BOTH, default_graph_uri=[D1, D2]))
    assert response.status_code == 200 and _boolean(response) is True
    # without them, the store's default graph does not hold those triples
    assert _boolean(client.get(_q(query=ASK_BOTH))) is False


def test_query_dataset_default_graphs_post(client: TestClient) -> None:
    """query_dataset_default_graphs_post: direct POST with protocol-specified default graphs."""
    response = client.post(_q(default_graph_uri=[D1, D2]), content=ASK_BOTH, headers=SPARQL_QUERY)
    assert response.status_code == 200 and _boolean(response) is True


def test_query_dataset_named_graphs_post(client: TestClient) -> None:
    """query_dataset_named_graphs_post: direct POST with protocol-specified named graphs."""
    response = client.post(_q(named_graph_uri=[D1, D2]), content=ASK_NAMED, headers=SPARQL_QUERY)
    assert response.status_code == 200 and _boolean(response) is True


def test_query_dataset_named_graphs_get(client: TestClient) -> None:
    """query_dataset_named_graphs_get: GET with protocol-specified named graphs."""
    response = client.get(_q(query=ASK_NAMED, named_graph_uri=[D1, D2]))
    assert response.status_code == 200 and _boolean(response) is True
    # the named graphs are limited to those given
    assert _boolean(client.get(_q(query=ASK_NAMED, named_graph_uri=[D1]))) is False


def test_query_dataset_full(client: TestClient) -> None:
    """query_dataset_full: both default and named graphs given by the protocol."""
    url = _q(default_graph_uri=D3, named_graph_uri=[D1, D2])
    response = client.post(url, content=ASK_FULL, headers=SPARQL_QUERY)
    assert response.status_code == 200 and _boolean(response) is True


def test_query_multiple_dataset(client: TestClient) -> None:
    """query_multiple_dataset: the protocol dataset overrides the query's FROM."""
    query = f"ASK FROM <{D1}> {{ <{D3}> a ?type }}"
    response = client.post(_q(default_graph_uri=D3), content=query, headers=SPARQL_QUERY)
    assert response.status_code == 200 and _boolean(response) is True
    assert _boolean(client.post("/sparql", content=query, headers=SPARQL_QUERY)) is False


def test_query_get(client: TestClient) -> None:
    """query_get: a SELECT by GET."""
    response = client.get(_q(query="SELECT (1 AS ?x) {}"))
    assert response.status_code == 200
    assert response.json()["results"]["bindings"] == [
        {"x": {"type": "literal", "value": "1", "datatype": "http://www.w3.org/2001/XMLSchema#integer"}}
    ]


def test_query_post_direct(client: TestClient) -> None:
    """query_post_direct: a query as the body of an application/sparql-query POST."""
    response = client.post("/sparql", content="ASK {}", headers=SPARQL_QUERY)
    assert response.status_code == 200 and _boolean(response) is True


@pytest.mark.parametrize(
    "accept",
    [
        "application/sparql-results+xml",
        "application/sparql-results+json",
        "text/csv",
        "text/tab-separated-values",
    ],
)
def test_query_content_type_select(client: TestClient, accept: str) -> None:
    """query_content_type_select: SELECT results in the requested results format."""
    response = client.get(_q(query="SELECT (1 AS ?x) {}"), headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == accept
    assert "Accept" in response.headers["vary"]


@pytest.mark.parametrize("accept", ["application/sparql-results+xml", "application/sparql-results+json"])
def test_query_content_type_ask(client: TestClient, accept: str) -> None:
    """query_content_type_ask: ASK in a boolean results format."""
    response = client.get(_q(query="ASK {}"), headers={"accept": accept})
    assert response.status_code == 200 and response.headers["content-type"].startswith(accept)


@pytest.mark.parametrize("form", ["DESCRIBE", "CONSTRUCT"])
@pytest.mark.parametrize(
    ("accept", "rdf_format"),
    [
        ("text/turtle", ox.RdfFormat.TURTLE),
        ("application/n-triples", ox.RdfFormat.N_TRIPLES),
        ("application/ld+json", ox.RdfFormat.JSON_LD),
        ("application/rdf+xml", ox.RdfFormat.RDF_XML),
    ],
)
def test_query_content_type_describe_construct(
    client: TestClient, form: str, accept: str, rdf_format: ox.RdfFormat
) -> None:
    """query_content_type_describe / query_content_type_construct: an RDF graph format, parseable."""
    iri = "https://w3id.org/passerelles/id/rome/I1321"
    query = f"DESCRIBE <{iri}>" if form == "DESCRIBE" else f"CONSTRUCT WHERE {{ <{iri}> ?p ?o }}"
    response = client.get(_q(query=query), headers={"accept": accept})
    assert response.status_code == 200 and response.headers["content-type"].startswith(accept)
    triples = list(ox.parse(response.content, format=rdf_format))
    assert len(triples) >= 4 and all(t.subject.value == iri for t in triples)


def test_bad_query_method(client: TestClient) -> None:
    """bad_query_method: a query by PUT is refused."""
    response = client.put(_q(query="ASK {}"))
    assert response.status_code == 405 and response.json()["error"] == "method"


def test_bad_multiple_queries(client: TestClient) -> None:
    """bad_multiple_queries: two query parameters."""
    assert client.get(_q(query=["ASK {}", "SELECT * {}"])).status_code == 400
    assert (
        client.post("/sparql", content="query=ASK%20%7B%7D&query=ASK%20%7B%7D", headers=FORM).status_code
        == 400
    )


def test_bad_query_wrong_media_type(client: TestClient) -> None:
    """bad_query_wrong_media_type: a query POSTed as text/plain."""
    response = client.post("/sparql", content="ASK {}", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_bad_query_missing_form_type(client: TestClient) -> None:
    """bad_query_missing_form_type: a form body without its Content-Type."""
    assert client.post("/sparql", content="query=ASK%20%7B%7D").status_code == 415


def test_bad_query_missing_direct_type(client: TestClient) -> None:
    """bad_query_missing_direct_type: a direct query body without its Content-Type."""
    assert client.post("/sparql", content="ASK {}").status_code == 415


def test_bad_query_non_utf8(client: TestClient) -> None:
    """bad_query_non_utf8: a direct POST declared in another charset than UTF-8."""
    headers = {"content-type": "application/sparql-query; charset=ISO-8859-1"}
    assert (
        client.post("/sparql", content='ASK { ?s ?p "café" }'.encode("latin-1"), headers=headers).status_code
        == 415
    )
    # undeclared but not UTF-8 either
    assert client.post("/sparql", content=b'ASK { ?s ?p "caf\xe9" }', headers=SPARQL_QUERY).status_code == 400


def test_bad_query_syntax(client: TestClient) -> None:
    """bad_query_syntax: a malformed query is 400 with the parser's message."""
    response = client.get(_q(query="ASK {"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed-query" and "error at" in body["detail"]


@pytest.mark.parametrize(
    "request_kind", ["get-update-param", "form-update-param", "direct-update", "update-as-query"]
)
def test_bad_update_on_query_endpoint(client: TestClient, request_kind: str) -> None:
    """bad_update_get / update_post_form / update_post_direct: the public endpoint never writes."""
    update = "INSERT DATA { <urn:a> <urn:b> <urn:c> }"
    response = {
        "get-update-param": lambda: client.get(_q(update=update)),
        "form-update-param": lambda: client.post("/sparql", data={"update": update}),
        "direct-update": lambda: client.post(
            "/sparql", content=update, headers={"content-type": "application/sparql-update"}
        ),
        "update-as-query": lambda: client.get(_q(query="PREFIX a: <urn:a#>\n" + update)),
    }[request_kind]()
    assert response.status_code == 403 and response.json()["error"] == "update-refused"
    assert _boolean(client.get(_q(query="ASK { <urn:a> <urn:b> <urn:c> }"))) is False


# --- charsets and content negotiation --------------------------------------------------------


def test_form_charset(client: TestClient) -> None:
    """A form in ISO-8859-1 (declared) decodes correctly."""
    body = "query=" + quote('SELECT ("café" AS ?x) {}', encoding="latin-1")
    headers = {"content-type": "application/x-www-form-urlencoded; charset=ISO-8859-1"}
    response = client.post("/sparql", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["results"]["bindings"][0]["x"]["value"] == "café"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/csv;q=0.5, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
        ("text/*", "text/csv"),
        ("application/json", "application/sparql-results+json"),
        ("*/*", "application/sparql-results+json"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "application/sparql-results+json"),
    ],
)
def test_conneg_select(client: TestClient, accept: str, expected: str) -> None:
    response = client.get(_q(query="SELECT (1 AS ?x) {}"), headers={"accept": accept})
    assert response.status_code == 200 and response.headers["content-type"].startswith(expected)


def test_conneg_406(client: TestClient) -> None:
    response = client.get(_q(query="SELECT (1 AS ?x) {}"), headers={"accept": "image/png"})
    assert response.status_code == 406 and "Accept" in response.headers["vary"]
    # a graph format for a SELECT: nothing acceptable either
    assert client.get(_q(query="ASK {}"), headers={"accept": "text/turtle"}).status_code == 406


def test_format_parameter(client: TestClient) -> None:
    query = "SELECT ?x { VALUES ?x { 'a,b' 'c\"d' } } ORDER BY ?x"
    response = client.get(_q(query=query, format="csv"), headers={"accept": "text/html"})
    assert response.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(response.text))) == [["x"], ["a,b"], ['c"d']]
    tsv = client.get(_q(query=query, format="tsv")).text.splitlines()
    assert tsv == ["?x", '"a,b"', '"c\\"d"']
    xml = client.get(_q(query=query, format="xml"))
    ns = {"r": "http://www.w3.org/2005/sparql-results#"}
    assert [e.text for e in ET.fromstring(xml.content).findall(".//r:literal", ns)] == ["a,b", 'c"d']
    assert client.get(_q(query=query, format="nope")).status_code == 400


def test_result_cap(client: TestClient) -> None:
    """Over the row cap (50 in this fixture): 413 naming the limit."""
    response = client.get(_q(query="SELECT * { ?s ?p ?o }"))
    assert response.status_code == 413
    assert response.json()["error"] == "result-cap" and "50" in response.json()["detail"]
    assert client.get(_q(query="SELECT * { ?s ?p ?o } LIMIT 50")).status_code == 200


def test_cors(client: TestClient) -> None:
    response = client.get(_q(query="ASK {}"), headers={"origin": "https://portal.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = client.options(
        "/sparql",
        headers={
            "origin": "https://x.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 200


def test_browser_opening_endpoint_gets_the_page(client: TestClient) -> None:
    response = client.get("/sparql", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/query"


def test_prefixes_predeclared(client: TestClient) -> None:
    response = client.get(_q(query="SELECT ?c { ?o a pas:Occupation ; pas:code ?c }"))
    assert [b["c"]["value"] for b in response.json()["results"]["bindings"]] == ["I1321"]


def test_json_results_are_json(client: TestClient) -> None:
    response = client.get(_q(query="SELECT ?l { ?s skos:prefLabel ?l } ORDER BY ?l"))
    labels = [b["l"] for b in json.loads(response.content)["results"]["bindings"]]
    assert {"type": "literal", "value": "Rouen", "xml:lang": "fr"} in labels
