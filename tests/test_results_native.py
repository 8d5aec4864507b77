"""Results written by pyoxigraph's serialisers (api.results): same content as the Python writers,
the row cap exact at its boundary for every format, in SELECT and CONSTRUCT."""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest

from api.results import GRAPH_FORMATS, SELECT_FORMATS, Answer, Job, execute, write_select

EX = "http://example.org/"


@pytest.fixture(scope="module")
def store() -> ox.Store:
    s = ox.Store()
    literals = [
        ox.Literal('tab\there, "quoted"\nnew line'),
        ox.Literal("fr", language="fr"),
        ox.Literal("7", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")),
    ]
    for i in range(5):
        s.add(ox.Quad(ox.NamedNode(f"{EX}s{i}"), ox.NamedNode(f"{EX}p"), literals[i % 3]))
    s.add(ox.Quad(ox.BlankNode("b"), ox.NamedNode(f"{EX}p"), ox.NamedNode(f"{EX}o")))
    return s


SELECT = "SELECT ?s ?o ?none WHERE { ?s ?p ?o OPTIONAL { ?s <http://nothing> ?none } } ORDER BY ?s"


@pytest.mark.parametrize("fmt", list(SELECT_FORMATS))
def test_select_cap_boundary(store: ox.Store, fmt: str) -> None:
    answer = execute(store, Job(SELECT, select_format=fmt, cap=6))
    assert isinstance(answer, Answer) and answer.rows == 6
    refused = execute(store, Job(SELECT, select_format=fmt, cap=5))
    assert not isinstance(refused, Answer) and refused.kind == "result-cap"


@pytest.mark.parametrize("fmt", list(GRAPH_FORMATS))
def test_construct_cap_boundary(store: ox.Store, fmt: str) -> None:
    query = "CONSTRUCT WHERE { ?s ?p ?o }"
    answer = execute(store, Job(query, graph_format=fmt, cap=6))
    assert isinstance(answer, Answer) and answer.rows == 6
    assert len(ox.Dataset(ox.parse(answer.body, format=_RDF[fmt]))) == 6
    refused = execute(store, Job(query, graph_format=fmt, cap=5))
    assert not isinstance(refused, Answer) and refused.kind == "result-cap"


_RDF = {
    "ttl": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
    "jsonld": ox.RdfFormat.JSON_LD,
    "rdfxml": ox.RdfFormat.RDF_XML,
}


def test_native_json_equals_python_writer(store: ox.Store) -> None:
    """Every term kind (IRI, blank node, plain, language and typed literal, unbound) comes out as
    the Python writer wrote it."""
    answer = execute(store, Job(SELECT, select_format="json"))
    assert isinstance(answer, Answer)
    result = store.query(SELECT)
    assert isinstance(result, ox.QuerySolutions)
    variables = [v.value for v in result.variables]
    rows = [[solution[v] for v in variables] for solution in result]
    assert json.loads(answer.body) == json.loads(write_select(variables, rows, "json"))


def test_empty_and_no_variable_results(store: ox.Store) -> None:
    empty = execute(store, Job("SELECT ?s WHERE { ?s <http://nothing> ?o }", cap=0))
    assert isinstance(empty, Answer) and empty.rows == 0
    assert json.loads(empty.body)["results"]["bindings"] == []
    one = execute(store, Job("SELECT * WHERE {}", cap=1))
    assert isinstance(one, Answer) and one.rows == 1
