"""A remote triple store over HTTP: SPARQL 1.1 Query, Update and the Graph Store Protocol.

One setting (``PASSERELLES_STORE_ENDPOINT``, e.g. ``http://127.0.0.1:7878``) puts the served
graph in a SPARQL server (Oxigraph server, Virtuoso, QLever, GraphDB, Neptune...) instead of
the embedded pyoxigraph directory. The three URLs follow the Oxigraph server's conventions
(``/query``, ``/update``, ``/store``) unless given one by one (:class:`Endpoints`).

- Readers use :class:`RemoteStore` where they used a read-only ``pyoxigraph.Store``: the same
  ``query`` (prefixes, substitutions, dataset), ``quads_for_pattern`` and ``len`` — the query
  seam of ``kg serve``, ``kg query``, ``kg gaps`` and ``kg paths``.
- ``kg build`` still maps and validates locally, then :func:`publish` loads the named graphs
  through the Graph Store Protocol, switches them in one SPARQL Update and drops old versions.
- When the server does not answer, :class:`StoreUnavailable` (the API answers 503 with
  ``Retry-After``); the next request tries again (recovery without restart).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pyoxigraph as ox

from kg.config import DEFAULT_BASE_IRI, Settings
from kg.provenance import catalog_iri

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
GraphName = ox.NamedNode | ox.BlankNode | ox.DefaultGraph
RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
RETRY_AFTER_S = 5
CHUNK_BYTES = 32 * 1024 * 1024  # one Graph Store POST: large enough for speed, bounded in memory


class StoreUnavailable(OSError):
    """The remote store did not answer (refused connection, network error, 502/503/504)."""


@dataclass(frozen=True)
class Endpoints:
    """The query, update and Graph Store URLs of a remote store.

    >>> e = Endpoints.from_base("http://127.0.0.1:7878/")
    >>> e.query, e.update, e.store
    ('http://127.0.0.1:7878/query', 'http://127.0.0.1:7878/update', 'http://127.0.0.1:7878/store')
    >>> Endpoints.from_base("http://h/ds", query="http://h/ds/sparql").query
    'http://h/ds/sparql'
    """

    query: str
    update: str
    store: str

    @classmethod
    def from_base(cls, base: str, query: str = "", update: str = "", store: str = "") -> Endpoints:
        """Oxigraph server's paths under ``base``, each overridable."""
        root = base.rstrip("/")
        return cls(query or f"{root}/query", update or f"{root}/update", store or f"{root}/store")


def _skip_string(text: str, i: int) -> int:
    """The index after the string literal starting at ``text[i]``."""
    quote_char = text[i]
    if text.startswith(quote_char * 3, i):
        end = text.find(quote_char * 3, i + 3)
        return len(text) if end < 0 else end + 3
    j = i + 1
    while j < len(text) and text[j] != quote_char:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def _where_brace(query: str) -> int:
    """The index of the ``{`` opening the query's outermost WHERE group (strings, IRIs and
    comments skipped; a CONSTRUCT template is not the WHERE group).

    >>> q = 'PREFIX a: <http://a#> CONSTRUCT { ?s a:p "{" } WHERE { ?s a:q ?o }'
    >>> q[_where_brace(q):]
    '{ ?s a:q ?o }'
    >>> _where_brace("SELECT ?x # {\\n { ?x ?p ?o }")
    15
    """
    i, depth, template = 0, 0, False
    upper = query.upper()
    while i < len(query):
        c = query[i]
        if c == "#":
            end = query.find("\n", i)
            i = len(query) if end < 0 else end + 1
            continue
        if c in "\"'":
            i = _skip_string(query, i)
            continue
        if c == "<" and (m := re.match(r"<[^<>\"{}|^`\\\s]*>", query[i:])):
            i += m.end()
            continue
        if c == "{":
            if depth == 0:
                before = upper[:i].rstrip()
                if before.endswith("CONSTRUCT") and not template:
                    template = True
                    depth = 1
                    i += 1
                    continue
                return i
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    raise ValueError("no WHERE group in the query")


def bind(query: str, substitutions: Mapping[ox.Variable, Term] | None) -> str:
    """The query with ``substitutions`` as a ``VALUES`` block first in its WHERE group, the
    portable form of pyoxigraph's ``substitutions`` (terms written by pyoxigraph, N-Triples
    escaping: no user text is spliced).

    >>> bind("SELECT ?n WHERE { ?x <http://p> ?n }", {ox.Variable("x"): ox.NamedNode("http://a")})
    'SELECT ?n WHERE { VALUES (?x) { (<http://a>) } ?x <http://p> ?n }'
    """
    if not substitutions:
        return query
    at = _where_brace(query) + 1
    names = " ".join(f"?{v.value}" for v in substitutions)
    values = " ".join(str(t) for t in substitutions.values())
    return f"{query[:at]} VALUES ({names}) {{ ({values}) }}{query[at:]}"


def _dataset_form(default_graph: Any = None, named_graphs: Any = None) -> list[tuple[str, str]]:
    form: list[tuple[str, str]] = []
    if default_graph is not None:
        graphs = default_graph if isinstance(default_graph, list | tuple) else [default_graph]
        form += [("default-graph-uri", g.value) for g in graphs if isinstance(g, ox.NamedNode)]
    if named_graphs is not None:
        form += [("named-graph-uri", g.value) for g in named_graphs if isinstance(g, ox.NamedNode)]
    return form


class RemoteStore:
    """The read side of a remote store, shaped like a read-only ``pyoxigraph.Store``.

    Blank nodes: a server names them in its answers but a query cannot mention them, so a blank
    node met as the object of a quad is remembered with the path that reached it, and a later
    ``quads_for_pattern`` on it follows that path (Linked Data pages close over blank nodes).
    """

    def __init__(self, endpoints: Endpoints, base_iri: str = DEFAULT_BASE_IRI, timeout: float = 60.0) -> None:
        self.endpoints = endpoints
        self.catalog = catalog_iri(base_iri)
        self.timeout = timeout
        self._client = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=32))
        self._anchors: dict[ox.BlankNode, tuple[Term, ox.NamedNode]] = {}
        self._lock = threading.Lock()
        self._version: tuple[float, str | None] = (0.0, None)
        self._oxigraph: bool | None = None

    def __repr__(self) -> str:
        return f"RemoteStore({self.endpoints.query!r})"

    def _post(
        self, url: str, form: list[tuple[str, str]], accept: str, timeout: float | None
    ) -> httpx.Response:
        try:
            response = self._client.post(
                url,
                content=urlencode(form),
                headers={"accept": accept, "content-type": "application/x-www-form-urlencoded"},
                timeout=timeout or self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"the SPARQL store did not answer within {timeout or self.timeout} s") from exc
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"the SPARQL store at {url} did not answer: {exc}") from exc
        if response.status_code in (502, 503, 504):
            raise StoreUnavailable(f"the SPARQL store at {url} answered {response.status_code}")
        return response

    def query(
        self,
        query: str,
        *,
        prefixes: Mapping[str, str] | None = None,
        substitutions: Mapping[ox.Variable, Term] | None = None,
        default_graph: Any = None,
        named_graphs: Any = None,
        use_default_graph_as_union: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Like ``pyoxigraph.Store.query``: QuerySolutions, QueryBoolean or a list of triples.

        Raises SyntaxError for a query the server refuses (400), :class:`StoreUnavailable`
        when it does not answer, OSError for its other errors.
        """
        if use_default_graph_as_union:
            raise ValueError("use_default_graph_as_union is a server setting on a remote store")
        text = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in (prefixes or {}).items()) + bind(
            query, substitutions
        )
        form = [("query", text), *_dataset_form(default_graph, named_graphs)]
        response = self._post(self.endpoints.query, form, f"{RESULTS_JSON}, {N_TRIPLES};q=0.9", timeout)
        if response.status_code == 400:
            raise SyntaxError(response.text.strip())
        if response.status_code != 200:
            raise OSError(f"the SPARQL store answered {response.status_code}: {response.text[:300]}")
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if media == RESULTS_JSON:
            return ox.parse_query_results(response.content, format=ox.QueryResultsFormat.JSON)
        return list(ox.parse(response.content, format=ox.RdfFormat.N_TRIPLES))

    def quads_for_pattern(
        self,
        subject: ox.NamedNode | ox.BlankNode | None,
        predicate: ox.NamedNode | None,
        object: Term | None,  # pyoxigraph's name
        graph_name: GraphName | None = None,
    ) -> Iterator[ox.Quad]:
        """The quads matching a pattern (``None``: any), as ``pyoxigraph.Store.quads_for_pattern``."""
        path: list[str] = []
        if isinstance(subject, ox.BlankNode):
            chain = self._chain(subject)
            if chain is None:
                return iter(())
            root, predicates = chain
            node = str(root)
            for n, step in enumerate(predicates):
                path.append(f"{node} {step} ?_b{n} .")
                node = f"?_b{n}"
            s = node
        else:
            s = str(subject) if subject is not None else "?s"
        p = str(predicate) if predicate is not None else "?p"
        o = str(object) if object is not None else "?o"
        triple = f"{' '.join(path)} {s} {p} {o} ."
        if graph_name is None:
            where = f"{{ {triple} }} UNION {{ GRAPH ?g {{ {triple} }} }}"
        elif isinstance(graph_name, ox.DefaultGraph):
            where = triple
        else:
            where = f"GRAPH {graph_name} {{ {triple} }}"
        select = " ".join(v for v in ("?s", "?p", "?o", f"?_b{len(path) - 1}" if path else "") if v)
        results = self.query(f"SELECT {select} ?g WHERE {{ {where} }}")
        assert isinstance(results, ox.QuerySolutions)
        quads = []
        for row in results:
            if path and row[f"_b{len(path) - 1}"] != subject:
                continue
            s_term: Any = subject if subject is not None else row["s"]
            p_term: Any = predicate if predicate is not None else row["p"]
            o_term: Any = object if object is not None else row["o"]
            g_term: Any = graph_name if graph_name is not None else (row["g"] or ox.DefaultGraph())
            quad = ox.Quad(s_term, p_term, o_term, g_term)
            if isinstance(o_term, ox.BlankNode):
                self._remember(o_term, s_term, p_term)
            quads.append(quad)
        return iter(quads)

    def _remember(self, node: ox.BlankNode, subject: Term, predicate: ox.NamedNode) -> None:
        with self._lock:
            if len(self._anchors) > 100_000:
                self._anchors.clear()
            self._anchors.setdefault(node, (subject, predicate))

    def _chain(self, node: ox.BlankNode) -> tuple[ox.NamedNode, list[ox.NamedNode]] | None:
        """The IRI and predicates leading to a remembered blank node, or None."""
        predicates: list[ox.NamedNode] = []
        current: Term = node
        while isinstance(current, ox.BlankNode):
            anchor = self._anchors.get(current)
            if anchor is None or len(predicates) > 20:
                return None
            current, predicate = anchor
            predicates.insert(0, predicate)
        return (current, predicates) if isinstance(current, ox.NamedNode) else None

    def __len__(self) -> int:
        """The number of quads (all graphs)."""
        results = self.query(
            "SELECT (SUM(?n) AS ?total) WHERE { { SELECT (COUNT(*) AS ?n) { ?s ?p ?o } } UNION "
            "{ SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } } } }"
        )
        assert isinstance(results, ox.QuerySolutions)
        term = next(iter(results))["total"]
        return int(term.value) if term is not None else 0

    def named_graphs(self) -> list[ox.NamedNode]:
        """The named graphs holding at least one quad."""
        results = self.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
        assert isinstance(results, ox.QuerySolutions)
        return [row["g"] for row in results if isinstance(row["g"], ox.NamedNode)]

    def version(self, max_age_s: float = 1.0) -> str | None:
        """The id of the latest build in the catalogue graph (cached ``max_age_s``): changes when
        a build is published, so that caches keyed on it follow rebuilds."""
        stamp, value = self._version
        if time.monotonic() - stamp < max_age_s:
            return value
        results = self.query(
            "SELECT ?b WHERE { GRAPH ?c { ?b a <https://w3id.org/passerelles/ontology#Build> ; "
            "<http://www.w3.org/ns/prov#endedAtTime> ?t } } ORDER BY DESC(?t) LIMIT 1",
            substitutions={ox.Variable("c"): self.catalog},
        )
        assert isinstance(results, ox.QuerySolutions)
        rows = list(results)
        value = rows[0]["b"].value.rsplit("/", 1)[-1] if rows and rows[0]["b"] is not None else None
        self._version = (time.monotonic(), value)
        return value

    # --- the write side (``kg build``) ---

    def update(self, text: str) -> None:
        """Run a SPARQL Update request (one transaction on Oxigraph server)."""
        response = self._post(self.endpoints.update, [("update", text)], "*/*", None)
        if response.status_code not in (200, 204):
            detail = response.text[:300]
            raise OSError(f"the SPARQL store refused the update ({response.status_code}): {detail}")

    def is_oxigraph(self) -> bool:
        """Whether the server is Oxigraph's (its ``Server`` header), whose Graph Store accepts
        ``no_transaction``: a POST loaded by its bulk loader instead of one transaction."""
        if self._oxigraph is None:
            response = self._post(self.endpoints.query, [("query", "ASK {}")], RESULTS_JSON, None)
            self._oxigraph = response.headers.get("server", "").lower().startswith("oxigraph")
        return self._oxigraph

    def post_graph(
        self, graph: ox.NamedNode | ox.DefaultGraph, chunks: Iterable[bytes], bulk: bool = False
    ) -> None:
        """Append N-Triples to ``graph`` with Graph Store Protocol POSTs, one per chunk.

        ``bulk``: no reader relies on the graph yet (staging, a version the catalogue does not
        name, or a first load): on Oxigraph each POST skips its transaction and goes through the
        bulk loader (``benchmarks/remote_store.py`` measures it on the full graph)."""
        if isinstance(graph, ox.DefaultGraph):
            url = f"{self.endpoints.store}?default"
        else:
            url = f"{self.endpoints.store}?graph={quote(graph.value, safe='')}"
        if bulk and self.is_oxigraph():
            url += "&no_transaction"
        for chunk in chunks:
            try:
                response = self._client.post(
                    url, content=chunk, headers={"content-type": N_TRIPLES}, timeout=max(self.timeout, 600)
                )
            except httpx.HTTPError as exc:
                where = self.endpoints.store
                raise StoreUnavailable(f"the Graph Store at {where} did not answer: {exc}") from exc
            if response.status_code not in (200, 201, 204):
                name = graph.value if isinstance(graph, ox.NamedNode) else "the default graph"
                detail = f"({response.status_code}): {response.text[:300]}"
                raise OSError(f"the Graph Store refused {name} {detail}")

    def close(self) -> None:
        self._client.close()


def _chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    r"""The N-Triples file in pieces of about ``size`` bytes, cut at line ends; the lines with a
    blank node all go in the last piece (a server may give each request's blank nodes fresh
    names: the statements about one blank node must arrive together).

    >>> import tempfile
    >>> f = Path(tempfile.mkstemp()[1]); _ = f.write_bytes(b"<a> <p> _:b .\n<c> <p> <d> .\n_:b <p> <e> .\n")
    >>> list(_chunks(f, size=5))
    [b'<c> <p> <d> .\n', b'<a> <p> _:b .\n_:b <p> <e> .\n']
    """
    blank: list[bytes] = []
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(size)
            if not chunk:
                break
            chunk += handle.readline()
            if b"_:" in chunk:
                lines = chunk.splitlines(keepends=True)
                blank += [line for line in lines if b"_:" in line]
                chunk = b"".join(line for line in lines if b"_:" not in line)
            if chunk:
                yield chunk
    if blank:
        yield b"".join(blank)


def staging_iri(build_id: str, n: int) -> ox.NamedNode:
    """Where a graph waits in the remote store until the build switches it in."""
    return ox.NamedNode(f"urn:passerelles:staging:{build_id}:{n}")


@dataclass
class PublishReport:
    """What :func:`publish` sent: graphs, triples, bytes, and its times."""

    graphs: int = 0
    triples: int = 0
    bytes: int = 0
    load_s: float = 0.0
    switch_s: float = 0.0
    drop_s: float = 0.0


def _post_targets(
    store: ox.Store,
    remote: RemoteStore,
    build_id: str,
    workdir: Path | None,
    targets: list[ox.NamedNode | ox.DefaultGraph],
    served: set[str],
    first: bool,
    moves: list[str],
    report: PublishReport,
) -> None:
    """Step 1 of :func:`publish`: POST each target graph, in place or to a staging graph (then
    add its ``MOVE`` to ``moves``)."""
    for n, graph in enumerate(targets):
        # A graph the server does not have yet (a new version) is loaded in place: no reader
        # asks for it before the catalogue names it. The default graph, the catalogue and a
        # graph being replaced wait in a staging graph until the switch.
        direct = first or (
            isinstance(graph, ox.NamedNode) and graph.value not in served and graph != remote.catalog
        )
        into = graph if direct else staging_iri(build_id, n)
        with tempfile.NamedTemporaryFile(prefix=".tmp-publish-", suffix=".nt", dir=workdir) as tmp:
            store.dump(tmp, format=ox.RdfFormat.N_TRIPLES, from_graph=graph)
            tmp.flush()
            path = Path(tmp.name)
            report.bytes += path.stat().st_size
            # bulk (no transaction per POST): ``into`` is not read yet, or nothing was served before
            remote.post_graph(into, _chunks(path), bulk=True)
        report.graphs += 1
        if not direct:
            target = "DEFAULT" if isinstance(graph, ox.DefaultGraph) else f"GRAPH {graph}"
            # CLEAR first: MOVE SILENT from a graph left empty (nothing posted) would keep the target
            moves.insert(0, f"CLEAR SILENT {target}")
            moves.append(f"MOVE SILENT GRAPH {into} TO {target}")


def publish(
    store: ox.Store,
    remote: RemoteStore,
    build_id: str,
    workdir: Path | None = None,
    changed: set[str] | None = None,
) -> PublishReport:
    """Make the remote store serve the graphs of ``store`` (a finished local build), atomically
    for readers.

    1. Every named graph and the default graph go as N-Triples Graph Store POSTs: a graph the
       server does not have (a new version) straight to its IRI, the others (the default graph,
       the catalogue, a graph of the same version) to staging graphs (``urn:passerelles:staging:…``)
       no reader queries. With ``changed``, only those graphs, the default graph and the
       catalogue are sent; the others are already there.
    2. One SPARQL Update moves the staged graphs in place (``MOVE``: one transaction on
       Oxigraph) — the default graph and the catalogue naming the new versions switch together.
    3. Graphs of the remote store the build does not have (old versions) are dropped after.

    A failure before step 2 leaves the served graph as it was (leftover staging graphs are
    dropped by the next publish). On a server that serves nothing yet (first load), every graph
    goes straight in place, the catalogue last: nothing was served before, so nothing is switched;
    a first load that fails is cleared (best effort: a server that died keeps what it had, and
    the next publish, seeing data, stages and switches as usual).
    """
    report = PublishReport()
    t0 = time.perf_counter()
    served = {g.value for g in remote.named_graphs()}
    stale = [g for g in served if g.startswith("urn:passerelles:staging:")]
    if stale:  # left by a publish that was killed
        remote.update(" ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in stale))
    local = [g for g in store.named_graphs() if isinstance(g, ox.NamedNode)]
    targets: list[ox.NamedNode | ox.DefaultGraph] = [ox.DefaultGraph()]
    targets += [g for g in local if (changed is None or g.value in changed) and g != remote.catalog]
    if remote.catalog in local:
        targets.append(remote.catalog)  # last: on a first load, its arrival marks the graph complete
    # A server that serves nothing yet (no graph, empty default graph) gets every graph in
    # place: there is no previous graph to keep serving, and moving the default graph in (millions
    # of triples in one transaction) was most of the time of a first publish of the full graph.
    first = not served and not remote.query("ASK { ?s ?p ?o }")
    moves: list[str] = []
    try:
        _post_targets(store, remote, build_id, workdir, targets, served, first, moves, report)
    except BaseException:
        if first:  # the server served nothing before: leave it so, not with a partial graph
            with contextlib.suppress(Exception):
                remote.update("CLEAR SILENT ALL")
        raise
    t1 = time.perf_counter()
    report.load_s = t1 - t0
    if moves:
        remote.update(" ;\n".join(moves))
    t2 = time.perf_counter()
    report.switch_s = t2 - t1
    keep = {g.value for g in local}
    old = [g for g in remote.named_graphs() if g.value not in keep]
    if old:
        remote.update(" ;\n".join(f"DROP SILENT GRAPH {g}" for g in old))
    report.drop_s = time.perf_counter() - t2
    with contextlib.suppress(OSError):
        report.triples = len(store)
    return report


def publish_build(store: ox.Store, settings: Settings, build_id: str, workdir: Path | None) -> PublishReport:
    """:func:`publish` a finished local build to ``settings.store_endpoint`` (``kg build``)."""
    from kg.store import remote_endpoints

    remote = RemoteStore(remote_endpoints(settings), settings.base_iri, timeout=600)
    try:
        return publish(store, remote, build_id, workdir)
    finally:
        remote.close()
