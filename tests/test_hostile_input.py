"""Hostile input on the public API, on a real HTTP server (uvicorn in a thread, a small store):

- SPARQL injection strings through every parameter of every stored query (``/queries/{name}``)
  and through the string arguments of GraphQL lookups and lists: refused with 400, or inert (no
  more rows than an unknown value gives; a valid code followed by injection finds nothing);
- SPARQL Update, ``LOAD`` and ``SERVICE`` on ``/sparql`` refused (403) in all their spellings, and
  no request leaves the machine: a listener on loopback, named in every IRI sent, gets no hit;
- path traversal on ``/dumps``, ``/id``, ``/doc``, ``/graph`` and the static files (``..``,
  encoded ``%2e%2e``, encoded slashes, absolute paths) sent byte for byte (no client-side URL
  normalisation): refused with 404 or 400, no file outside the served ones read.

Oversized requests: ``tests/test_load_admission.py``.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pyoxigraph as ox
import pytest

from api.app import create_app
from api.stored_queries import stored_queries
from tests.portal_support import ID, make_store, portal_quads, serve
from tests.reliability_log import log_outcome

PAYLOADS = [
    'I1321" } UNION { ?s ?p ?o } #',
    "I1321' } ; DROP ALL ; #",
    "I1321> } UNION { ?s ?p ?o } #",
    '" . ?s ?p ?o . FILTER("1"="1',
    "' OR '1'='1",
    "I1321\\u0022 } UNION { ?s ?p ?o } #",
    "I1321\n} UNION { ?s ?p ?o } #",
    "?code",
    "*",
    "https://w3id.org/passerelles/id/rome/I1321> } UNION { ?s ?p ?o } #",
    "https://w3id.org/passerelles/id/rome/I1321 ?s ?p ?o",
    "LISTENER } SERVICE <LISTENER> { ?s ?p ?o } #",
]
VALID = {
    "rome": "I1321",
    "domain": "I13",
    "iri": ID + "rome/I1321",
    "decimal": "0.5",
    "integer": "5",
    "date": "2020-01-01",
    "boolean": "true",
    "string": "x",
}
UNKNOWN = {**VALID, "rome": "N9999", "domain": "N99", "iri": ID + "rome/none", "string": "none"}


class Listener(http.server.ThreadingHTTPServer):
    """An HTTP server on loopback that records every request it gets."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("content-type", "application/sparql-results+json")
                self.end_headers()
                self.wfile.write(b'{"head": {"vars": []}, "results": {"bindings": [{}]}}')

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.hits = hits
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    server = Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # the control: a request to it is seen
    httpx.get(server.url + "/control", timeout=5)
    assert server.hits == ["GET /control"]
    server.hits.clear()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_store(tmp_path_factory.mktemp("hostile") / "store")
    store = ox.Store()
    store.extend(portal_quads())
    with serve(create_app(settings, store=store)) as root:
        yield root


def _payloads(listener: Listener) -> list[str]:
    return [p.replace("LISTENER", listener.url + "/hit") for p in PAYLOADS]


def _rows(response: httpx.Response) -> int:
    body = response.json()
    return int(body["boolean"]) if "boolean" in body else len(body["results"]["bindings"])


def _stored_cases() -> list[tuple[str, str]]:
    return [(name, p.name) for name, q in sorted(stored_queries().items()) for p in q.params]


@pytest.mark.parametrize(("name", "param"), _stored_cases())
def test_injection_through_stored_query_parameters(
    url: str, listener: Listener, name: str, param: str
) -> None:
    query = stored_queries()[name]
    kinds = {p.name: p.type for p in query.params}
    base = {p.name: VALID[p.type] for p in query.params}
    accept = {"accept": "application/sparql-results+json"}
    with httpx.Client(base_url=url, timeout=30, headers=accept) as http:
        unknown = http.get(f"/queries/{name}", params={**base, param: UNKNOWN[kinds[param]]})
        assert unknown.status_code == 200, unknown.text
        for payload in _payloads(listener):
            response = http.get(f"/queries/{name}", params={**base, param: payload})
            assert response.status_code in (200, 400), (payload, response.status_code, response.text)
            if response.status_code == 400:
                assert response.json()["error"] == "bad-parameter"
            else:  # taken as a plain value: no more rows than any value unknown to the graph
                assert _rows(response) <= _rows(unknown), payload
            outcome = "400 bad-parameter" if response.status_code == 400 else "200, no extra row"
            log_outcome("hostile", what="stored-query injection", target=f"{name}?{param}", outcome=outcome)
    assert listener.hits == []
    log_outcome("hostile", what="listener", hits=len(listener.hits))


GRAPHQL_LOOKUPS = [  # (query, path to the answer): a valid code followed by injection finds nothing
    ("query($v: String!) { occupation(code: $v) { code } }", "occupation"),
    ("query($v: String!) { skill(code: $v) { code } }", "skill"),
    ("query($v: String!) { certification(code: $v) { code } }", "certification"),
    ("query($v: String!) { territory(code: $v) { code } }", "territory"),
    ("query($v: ID!) { node(id: $v) { id } }", "node"),
]
GRAPHQL_LISTS = [  # a filter given injection: no more items than an unknown value
    "query($v: String) { occupations(domain: $v) { totalCount } }",
    "query($v: String) { occupations(v3: $v) { totalCount } }",
    "query($v: String) { certifications(rome: $v) { totalCount } }",
    "query($v: String) { certifications(formacode: $v) { totalCount } }",
    "query($v: String) { trainingCourses(formacode: $v) { totalCount } }",
    "query($v: String) { skills(category: $v) { totalCount } }",
    "query($v: String) { jobOffers(occupation: $v) { totalCount } }",
    "query($v: String) { occupations(after: $v) { totalCount } }",
]


def _graphql(http: httpx.Client, query: str, value: object) -> dict[str, object]:
    response = http.post("/graphql", json={"query": query, "variables": {"v": value}})
    assert response.status_code < 500, response.text
    body: dict[str, object] = response.json()
    for error in body.get("errors", []):  # type: ignore[attr-defined]
        assert error["extensions"]["code"], error
    return body


def _graphql_outcome(body: dict[str, object]) -> str:
    errors = body.get("errors")
    if errors:
        return "error " + str(errors[0]["extensions"]["code"])  # type: ignore[index]
    return "no extra item"


def test_injection_through_graphql_strings(url: str, listener: Listener) -> None:
    with httpx.Client(base_url=url, timeout=30, headers={"accept": "application/json"}) as http:
        found = _graphql(http, GRAPHQL_LOOKUPS[0][0], "I1321")
        assert found["data"] == {"occupation": {"code": "I1321"}}  # the control: the code exists
        for query, field in GRAPHQL_LOOKUPS:
            for payload in _payloads(listener):
                body = _graphql(http, query, payload)
                assert (body.get("data") or {}).get(field) is None, (query, payload, body)  # type: ignore[attr-defined]
                log_outcome("hostile", what="graphql injection", target=field, outcome=_graphql_outcome(body))
        for query in GRAPHQL_LISTS:
            field = query.split("{ ")[1].split("(")[0]
            unknown = _graphql(http, query, "Z9999")
            for payload in _payloads(listener):
                body = _graphql(http, query, payload)
                if body.get("data"):
                    got = body["data"][field]["totalCount"]  # type: ignore[index]
                    assert got <= unknown["data"][field]["totalCount"], (query, payload)  # type: ignore[index]
                log_outcome("hostile", what="graphql injection", target=field, outcome=_graphql_outcome(body))
    assert listener.hits == []
    log_outcome("hostile", what="listener", hits=len(listener.hits))


def _refused_updates(target: str) -> list[tuple[str, dict[str, object]]]:
    insert = "INSERT DATA { <http://evil> <http://evil> <http://evil> }"
    return [
        ("GET", {"params": {"update": insert}}),
        ("GET", {"params": {"query": insert}}),
        ("GET", {"params": {"query": f"PREFIX a: <http://a#>\n# a comment\n load <{target}/load>"}}),
        ("GET", {"params": {"query": "CLEAR ALL"}}),
        ("GET", {"params": {"query": "DROP GRAPH <http://x>"}}),
        ("GET", {"params": {"query": "DELETE WHERE { ?s ?p ?o }"}}),
        (
            "POST",
            {"content": f"LOAD <{target}/load>", "headers": {"content-type": "application/sparql-update"}},
        ),
        ("POST", {"data": {"update": f"LOAD SILENT <{target}/load> INTO GRAPH <http://g>"}}),
        ("POST", {"data": {"query": f"LOAD <{target}/load>"}}),
        ("POST", {"content": insert, "headers": {"content-type": "application/sparql-query"}}),
    ]


def _refused_services(target: str) -> list[str]:
    return [
        f"SELECT * WHERE {{ SERVICE <{target}/service> {{ ?s ?p ?o }} }}",
        f"select * where {{ service silent <{target}/silent> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?x ?y ?z OPTIONAL {{ SERVICE <{target}/optional> {{ ?s ?p ?o }} }} }}",
        f"SELECT * WHERE {{ ?x ?y ?z FILTER EXISTS {{ SERVICE <{target}/exists> {{ ?s ?p ?o }} }} }}",
        f"SELECT * WHERE {{ {{ SELECT * WHERE {{ SERVICE <{target}/sub> {{ ?s ?p ?o }} }} }} }}",
        f"SELECT * WHERE {{ \\u0053ERVICE <{target}/escaped> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ BIND(<{target}/var> AS ?e) SERVICE ?e {{ ?s ?p ?o }} }}",
        f"PREFIX r: <{target}/>\nSELECT * WHERE {{ SERVICE r:prefixed {{ ?s ?p ?o }} }}",
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{target}/construct> {{ ?s ?p ?o }} }}",
        f"ASK {{ SERVICE <{target}/ask> {{ ?s ?p ?o }} }}",
    ]


def test_update_load_and_service_refused_nothing_leaves(url: str, listener: Listener) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        for method, kwargs in _refused_updates(listener.url):
            response = http.request(method, "/sparql", **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 403, (kwargs, response.text)
            assert response.json()["error"] == "update-refused"
            log_outcome("hostile", what="update/LOAD", target=method, outcome="403 update-refused")
        for query in _refused_services(listener.url):
            for response in (
                http.get("/sparql", params={"query": query}),
                http.post("/sparql", data={"query": query}),
            ):
                assert response.status_code == 403, (query, response.text)
                assert response.json()["error"] == "service-refused"
                log_outcome("hostile", what="SERVICE", target=query[:30], outcome="403 service-refused")
        # IRIs of the listener in a dataset, a graph pattern, a DESCRIBE: names, never fetched
        for params in (
            {"query": f"SELECT * FROM <{listener.url}/from> WHERE {{ ?s ?p ?o }}"},  # noqa: S608 (hostile on purpose)
            {"query": f"SELECT * WHERE {{ GRAPH <{listener.url}/graph> {{ ?s ?p ?o }} }}"},
            {"query": f"DESCRIBE <{listener.url}/describe>"},
            {"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 1", "default-graph-uri": listener.url + "/dg"},
            {"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 1", "named-graph-uri": listener.url + "/ng"},
            {"query": 'SELECT * WHERE { ?s ?p "SERVICE <x> { }" }'},  # the word in a string: a query
        ):
            assert http.get("/sparql", params=params).status_code == 200, params
            log_outcome(
                "hostile", what="listener IRI named", target=params["query"][:20], outcome="200, not fetched"
            )
        stored = http.get("/queries/path-skills", params={"occupation": listener.url + "/iri"})
        assert stored.status_code == 200
        node = http.post("/graphql", json={"query": f'{{ node(id: "{listener.url}/node") {{ id }} }}'})
        assert node.status_code == 200 and node.json()["data"]["node"] is None
    assert listener.hits == []
    log_outcome("hostile", what="listener", hits=len(listener.hits))


TRAVERSALS = [
    "/dumps/../../../../etc/passwd",
    "/dumps/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/dumps/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/dumps/%2Fetc%2Fpasswd",
    "/dumps//etc/passwd",
    "/dumps/..%5c..%5c..%5cetc%5cpasswd",
    "/dumps/..%252f..%252fetc%252fpasswd",
    "/dumps/build-report.json",
    "/dumps/..%2fbuild-report.json",
    "/id/../../../../etc/passwd",
    "/id/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/id/..%2f..%2f..%2fkg%2fconfig.py",
    "/id//etc/passwd",
    "/id/%00",
    "/id/rome/I1321%0d%0aX-Injected:%201",
    "/doc/%2e%2e/%2e%2e/%2e%2e/etc/passwd.ttl",
    "/doc/..%2f..%2fapi%2fapp.py",
    "/graph/..%2f..%2f..%2fetc%2fpasswd",
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fkg%2fconfig.py",
    "/graphql/static/..%2frouter.py",
    "/graphql/static/%2e%2e%2f%2e%2e%2fapp.py",
    "/queries/..%2f..%2fkg%2fconfig",
    "/queries/%2e%2e%2fexamples%2fskills-of-occupation",
]
LEAKS = (b"root:x:0", b"def create_app", b"PROJECT_ROOT", b"import ", b"build_id", b"X-Injected")


def _raw_get(url: str, target: str) -> tuple[int, bytes, bytes]:
    """A GET sent byte for byte (no client normalises the path): status, head, body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head, body


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_refused(url: str, target: str) -> None:
    status, head, body = _raw_get(url, target)
    assert status in (400, 404), (target, status, body[:200])
    assert not any(leak in head + body for leak in LEAKS), (target, body[:300])
    if body.startswith(b"{"):
        json.loads(body)  # a readable error, not a stack trace
    log_outcome("hostile", what="path traversal", target=target, outcome=str(status))
    assert _raw_get(url, "/health")[0] == 200
