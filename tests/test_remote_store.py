"""The remote store back-end (kg/remote_store.py) against a real, writable ``oxigraph serve``:
``kg build`` loads it through the Graph Store Protocol and switches versions atomically, readers
get the same answers as from the embedded store, a stopped store gives 503 + Retry-After and
service resumes without restart when it is back, and Linked Data pages follow a rebuild."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from kg.build import build
from kg.config import Settings
from kg.manifest import load_manifest
from kg.namespaces import prefixes_for
from kg.remote_store import Endpoints, RemoteStore, StoreUnavailable, bind, publish
from kg.store import StoreLayout, open_store
from kg.update import run as run_build
from tests.conftest import ROOT, TEST_BASE, OxigraphServer
from tests.reliability_log import log_outcome

FIXTURE = ROOT / "tests" / "fixtures" / "build"
ID = TEST_BASE + "id/"
GRAPH = TEST_BASE + "graph/"
LABEL = "http://www.w3.org/2004/02/skos/core#prefLabel"


def _manifest(tmp_path: Path, version: str = "t1", label_suffix: str = "") -> object:
    """The mini fixture manifest, with its sources at ``version`` (and labels changed)."""
    data = tmp_path / f"data-{version}{label_suffix}"
    data.mkdir(exist_ok=True)
    for csv in (FIXTURE / "data").iterdir():
        text = csv.read_text(encoding="utf-8")
        if label_suffix and csv.name == "occupations.csv":  # every label changes
            rows = [line.split(";") for line in text.splitlines()]
            for row in rows[1:]:
                row[1] += label_suffix if row[1] else ""
            text = "\n".join(";".join(row) for row in rows) + "\n"
        (data / csv.name).write_text(text, encoding="utf-8")
    toml = (FIXTURE / "sources.toml").read_text(encoding="utf-8")
    toml = toml.replace('data_dir = "data"', f'data_dir = "{data}"').replace(
        'version = "t1"', f'version = "{version}"'
    )
    path = tmp_path / f"sources-{version}{label_suffix}.toml"
    path.write_text(toml, encoding="utf-8")
    return load_manifest(path, mappings_dir=FIXTURE / "mappings")


def _settings(tmp_path: Path, server: OxigraphServer) -> Settings:
    return dataclasses.replace(
        Settings(),
        store=tmp_path / "store",
        base_iri=TEST_BASE,
        store_endpoint=server.url,
        rate_limit=0,
        query_workers=1,
    )


def _quads(store: object) -> set[str]:
    """Every quad without blank nodes, as text (blank node names differ between stores)."""
    if isinstance(store, RemoteStore):
        data = httpx.get(store.endpoints.store, headers={"accept": "application/n-quads"}).content
        quads = ox.parse(data, format=ox.RdfFormat.N_QUADS)
    else:
        assert isinstance(store, ox.Store)
        quads = iter(store)
    return {str(q) for q in quads if "_:" not in str(q)}


def _served_view(remote: RemoteStore) -> set[str]:
    """What readers see: the default graph (the published union) and the catalogue."""
    data = httpx.get(remote.endpoints.store, headers={"accept": "application/n-quads"}).content
    return {
        str(q)
        for q in ox.parse(data, format=ox.RdfFormat.N_QUADS)
        if "_:" not in str(q) and q.graph_name in (ox.DefaultGraph(), remote.catalog)
    }


def _graphs(remote: RemoteStore) -> set[str]:
    return {g.value for g in remote.named_graphs()}


def _rows(store: object, query: str) -> list[tuple[str, ...]]:
    result = store.query(query, prefixes=prefixes_for(TEST_BASE))  # type: ignore[attr-defined]
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    return sorted(tuple(str(row[n]) for n in names) for row in result)


def test_build_loads_the_graph_over_gsp_same_content_same_answers(
    tmp_path: Path, oxigraph_server: OxigraphServer
) -> None:
    settings = _settings(tmp_path, oxigraph_server)
    result = build(_manifest(tmp_path), settings, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
    assert result.timings["remote_load"] > 0
    local = open_store(settings.store)
    remote = RemoteStore(Endpoints.from_base(oxigraph_server.url), TEST_BASE)
    assert len(remote) == len(local) > 0
    assert _quads(remote) == _quads(local)
    assert not any(g.startswith("urn:passerelles:staging:") for g in _graphs(remote))
    assert remote.version() == result.build_id
    for query in (
        "SELECT ?o ?l WHERE { ?o a pas:Occupation ; skos:prefLabel ?l }",
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
        "SELECT ?o ?c WHERE { ?o pas:code ?c } ORDER BY ?c LIMIT 3",
    ):
        assert _rows(remote, query) == _rows(local, query)
    # substitutions bind like pyoxigraph's (VALUES first in the WHERE group)
    query = "SELECT ?o ?c WHERE { ?o pas:code ?c }"
    for value in ("A1101", "nothing"):
        subs = {ox.Variable("c"): ox.Literal(value)}
        answers = [
            [str(r["o"]) for r in store.query(query, prefixes=prefixes_for(TEST_BASE), substitutions=subs)]
            for store in (remote, local)
        ]
        assert answers[0] == answers[1] == ([f"<{ID}rome/A1101>"] if value == "A1101" else [])


def test_new_version_switches_atomically_and_old_is_dropped(
    tmp_path: Path, oxigraph_server: OxigraphServer
) -> None:
    settings = _settings(tmp_path, oxigraph_server)
    build(_manifest(tmp_path), settings, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
    remote = RemoteStore(Endpoints.from_base(oxigraph_server.url), TEST_BASE)
    before = _served_view(remote)
    assert GRAPH + "mini-occupations/t1" in _graphs(remote)
    # a publish that fails at the switch leaves the served graph as it was
    layout = StoreLayout(settings.store)
    served = layout.current()
    failing = _manifest(tmp_path, "t2")

    class Refusing(RemoteStore):
        def update(self, text: str) -> None:
            if "MOVE" in text:
                raise StoreUnavailable("switch refused (test)")
            super().update(text)

    import kg.remote_store as module

    original = module.RemoteStore
    module.RemoteStore = Refusing  # type: ignore[misc]
    try:
        with pytest.raises(StoreUnavailable):
            build(failing, settings, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
    finally:
        module.RemoteStore = original  # type: ignore[misc]
    assert layout.current() == served  # the local side did not move either
    assert _served_view(remote) == before  # new versions may be there, unnamed by the catalogue
    # the next build succeeds: new versions in, old versions and leftover staging graphs out
    build(_manifest(tmp_path, "t2"), settings, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
    graphs = _graphs(remote)
    assert GRAPH + "mini-occupations/t2" in graphs and GRAPH + "mini-occupations/t1" not in graphs
    assert not any(g.startswith("urn:passerelles:staging:") for g in graphs)
    assert _quads(remote) == _quads(open_store(settings.store))
    # `kg build --only`: the update is published the same way
    changed = _manifest(tmp_path, "t2", label_suffix=" (bis)")
    run_build(changed, settings, only=["mini-occupations"], force=True, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
    assert _quads(remote) == _quads(open_store(settings.store))
    assert any("(bis)" in q for q in _quads(remote))


def test_blank_nodes_are_followed_and_counted(oxigraph_server: OxigraphServer, tmp_path: Path) -> None:
    store = ox.Store()
    a, p, q = ox.NamedNode("https://x/a"), ox.NamedNode("https://x/p"), ox.NamedNode("https://x/q")
    b1, b2 = ox.BlankNode(), ox.BlankNode()
    store.extend(
        [
            ox.Quad(a, p, b1),
            ox.Quad(a, p, b2),
            ox.Quad(b1, q, ox.Literal("one")),
            ox.Quad(b2, q, ox.Literal("two")),
        ]
    )
    remote = RemoteStore(Endpoints.from_base(oxigraph_server.url))
    publish(store, remote, "blank", tmp_path)
    assert len(remote) == 4
    objects = [quad.object for quad in remote.quads_for_pattern(a, p, None, ox.DefaultGraph())]
    values = sorted(
        quad.object.value
        for node in objects
        for quad in remote.quads_for_pattern(node, q, None, ox.DefaultGraph())
    )
    assert values == ["one", "two"]  # each blank node's own statement, not both
    with pytest.raises(SyntaxError):
        remote.query("SELECT WHERE")


def test_a_failed_first_load_leaves_the_server_empty(oxigraph_server: OxigraphServer, tmp_path: Path) -> None:
    """A first load posts every graph in place (nothing is served yet); if it fails half-way the
    server is cleared, as it was before, instead of serving a partial graph."""
    store = ox.Store()
    p = ox.NamedNode("https://x/p")
    for n in range(3):
        graph = ox.NamedNode(f"https://x/graph/{n}")
        store.add(ox.Quad(ox.NamedNode(f"https://x/s{n}"), p, ox.Literal(str(n)), graph))
    store.add(ox.Quad(ox.NamedNode("https://x/s"), p, ox.Literal("default")))

    class FailingThirdPost(RemoteStore):
        posts = 0

        def post_graph(
            self, graph: ox.NamedNode | ox.DefaultGraph, chunks: Iterable[bytes], bulk: bool = False
        ) -> None:
            FailingThirdPost.posts += 1
            if FailingThirdPost.posts == 3:
                raise StoreUnavailable("the Graph Store did not answer (test)")
            super().post_graph(graph, chunks, bulk)

    remote = FailingThirdPost(Endpoints.from_base(oxigraph_server.url))
    with pytest.raises(StoreUnavailable):
        publish(store, remote, "first", tmp_path)
    assert FailingThirdPost.posts == 3  # two graphs were in place before the failure
    assert len(remote) == 0 and not _graphs(remote)
    publish(store, RemoteStore(Endpoints.from_base(oxigraph_server.url)), "again", tmp_path)
    assert len(remote) == 4


def test_bind_refuses_a_query_without_where_group() -> None:
    with pytest.raises(ValueError, match="no WHERE group"):
        bind("DESCRIBE <http://a>", {ox.Variable("x"): ox.Literal("1")})
    assert bind("ASK { ?x ?p ?o }", None) == "ASK { ?x ?p ?o }"


# --- faults (issue #9): the remote store stops while the API serves, then comes back ------------


def test_store_down_gives_503_and_service_resumes_without_restart(
    tmp_path: Path, oxigraph_server: OxigraphServer
) -> None:
    settings = _settings(tmp_path, oxigraph_server)
    build(_manifest(tmp_path), settings, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
    code = _rows(open_store(settings.store), "SELECT ?c WHERE { ?o a pas:Occupation ; pas:code ?c }")[0][0]
    code = code.strip('"')
    page = f"/doc/rome/{code}"
    gql = {"query": f'{{ occupation(code: "{code}") {{ code }} }}'}
    sparql = {"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"}
    with TestClient(create_app(settings)) as client:
        assert client.app.state.backend.name == "remote"  # type: ignore[attr-defined]
        assert client.get(page).status_code == 200
        assert client.get("/sparql", params=sparql).status_code == 200
        assert client.post("/graphql", json=gql).status_code == 200
        oxigraph_server.kill()
        for method, url, kwargs in (
            ("GET", "/sparql", {"params": sparql}),
            ("GET", page, {}),
            ("GET", "/dataset", {"headers": {"accept": "text/turtle"}}),
            ("POST", "/graphql", {"json": gql, "headers": {"accept": "application/json"}}),
            ("GET", "/queries/skills-of-occupation", {"params": {"code": code}}),
        ):
            response = client.request(method, url, **kwargs)
            assert response.status_code == 503, (url, response.status_code, response.text)
            assert int(response.headers["retry-after"]) > 0
            assert "unavailable" in response.text.lower() or "did not answer" in response.text
            log_outcome(
                "fault",
                fault="remote store stopped",
                what=f"{method} /{url.split('/')[1]}",
                outcome=f"{response.status_code} + Retry-After",
            )
        oxigraph_server.start()  # same port, same data: no restart of the API
        assert client.get(page).status_code == 200
        assert client.get("/sparql", params=sparql).json()["results"]["bindings"]
        body = client.post("/graphql", json=gql).json()
        assert body["data"]["occupation"]["code"] == code, body
        log_outcome(
            "fault", fault="remote store restarted", what="3 endpoints", outcome="answered, no API restart"
        )


# --- Linked Data pages follow a rebuild (embedded: reopened; remote: immediate) -------------------


@pytest.mark.parametrize("backend", ["embedded", "remote"])
def test_linked_data_pages_follow_a_rebuild(
    tmp_path: Path, oxigraph_server: OxigraphServer, backend: str
) -> None:
    settings = _settings(tmp_path, oxigraph_server)
    if backend == "embedded":
        settings = dataclasses.replace(settings, store_endpoint="")
    build(_manifest(tmp_path), settings, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
    rows = _rows(open_store(settings.store), "SELECT ?o WHERE { ?o a pas:Occupation } LIMIT 1")
    path = rows[0][0].strip("<>").removeprefix(ID)
    with TestClient(create_app(settings)) as client:
        first = client.get(f"/doc/{path}", headers={"accept": "text/html"})
        assert first.status_code == 200 and "(bis)" not in first.text
        build(_manifest(tmp_path, "t1", label_suffix=" (bis)"), settings, shapes_dir=FIXTURE / "shapes")  # type: ignore[arg-type]
        second = client.get(f"/doc/{path}", headers={"accept": "text/html"})
        assert second.status_code == 200 and "(bis)" in second.text
        served = StoreLayout(settings.store).current()
        assert served is not None and client.get("/health").json()["build"] == served.name
