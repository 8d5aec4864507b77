"""Linked Data: resource IRIs dereference under the application.

Convention (httpRange-14, "303 See Other"): a resource IRI ``{base}id/{kind}/{code}``, served at
``/id/{kind}/{code}``, names a thing (an occupation, a commune), not a document; it answers
**303** to the document describing it, chosen by content negotiation:

- ``/doc/{kind}/{code}`` — HTML page (label, types, properties with links, incoming links,
  provenance: the named graphs and sources stating it);
- ``/doc/{kind}/{code}.ttl`` / ``.jsonld`` / ``.nt`` — the description in RDF.

``/doc/{kind}/{code}`` without an extension negotiates too (``Vary: Accept``) and names the
specific document in ``Content-Location``. Unknown resources are 404.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import html as h
from api.conneg import best
from api.deps import SettingsDep, StoreDep
from api.sparql import error_response
from kg.config import Settings
from kg.namespaces import DCTERMS, PREFIXES, RDF, RDFS, SKOS, prefixes_for
from kg.provenance import catalog_iri
from kg.store import GraphStore

router = APIRouter()
Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple

DOC_FORMATS: dict[str, tuple[str, ox.RdfFormat | None]] = {
    "html": ("text/html", None),
    "ttl": ("text/turtle", ox.RdfFormat.TURTLE),
    "jsonld": ("application/ld+json", ox.RdfFormat.JSON_LD),
    "nt": ("application/n-triples", ox.RdfFormat.N_TRIPLES),
}
_BY_MEDIA = {media: ext for ext, (media, _) in DOC_FORMATS.items()}
LABELS = (str(SKOS.prefLabel), str(RDFS.label), str(DCTERMS.title), "https://schema.org/name")
MAX_INCOMING = 200
VARY = {"Vary": "Accept"}


@dataclass
class Description:
    """What the store says about one resource."""

    iri: str
    triples: list[ox.Triple] = field(default_factory=list)  # outgoing, blank nodes closed
    incoming: list[ox.Triple] = field(default_factory=list)
    incoming_truncated: bool = False
    graphs: list[str] = field(default_factory=list)  # named graphs with a statement about it
    labels: dict[str, str] = field(default_factory=dict)  # IRI → best label
    catalog: dict[str, dict[str, list[Term]]] = field(default_factory=dict)  # graph → property → values

    @property
    def exists(self) -> bool:
        return bool(self.triples or self.graphs)


def _best_label(store: GraphStore, node: ox.NamedNode) -> str | None:
    found: dict[str, str] = {}
    for predicate in LABELS:
        for quad in store.quads_for_pattern(node, ox.NamedNode(predicate), None, ox.DefaultGraph()):
            literal = quad.object
            if isinstance(literal, ox.Literal):
                found.setdefault(literal.language or "", literal.value)
        if found:
            break
    return found.get("fr") or found.get("") or found.get("en") or next(iter(found.values()), None)


def describe(store: GraphStore, iri: str, base_iri: str) -> Description:
    """Outgoing statements (default graph, blank nodes followed), incoming links, provenance.

    >>> s = ox.Store()
    >>> a, b = ox.NamedNode("https://x/id/a/1"), ox.NamedNode("https://x/id/b/2")
    >>> g = ox.NamedNode("https://x/graph/src/v1")
    >>> s.extend([ox.Quad(a, ox.NamedNode("http://p"), b), ox.Quad(a, ox.NamedNode("http://p"), b, g),
    ...           ox.Quad(b, ox.NamedNode(str(RDFS.label)), ox.Literal("Bee"))])
    >>> d = describe(s, a.value, "https://x/")
    >>> len(d.triples), d.graphs, d.labels[b.value]
    (1, ['https://x/graph/src/v1'], 'Bee')
    >>> describe(s, b.value, "https://x/").incoming[0].subject == a
    True
    """
    node = ox.NamedNode(iri)
    out = Description(iri)
    todo: list[ox.NamedNode | ox.BlankNode] = [node]
    seen: set[str] = set()
    while todo:
        subject = todo.pop()
        if str(subject) in seen:
            continue
        seen.add(str(subject))
        for quad in store.quads_for_pattern(subject, None, None, ox.DefaultGraph()):
            out.triples.append(ox.Triple(quad.subject, quad.predicate, quad.object))
            if isinstance(quad.object, ox.BlankNode):
                todo.append(quad.object)
    for quad in store.quads_for_pattern(None, None, node, ox.DefaultGraph()):
        if len(out.incoming) >= MAX_INCOMING:
            out.incoming_truncated = True
            break
        out.incoming.append(ox.Triple(quad.subject, quad.predicate, quad.object))
    graphs: set[str] = set()
    for quad in store.quads_for_pattern(node, None, None, None):
        if isinstance(quad.graph_name, ox.NamedNode):
            graphs.add(quad.graph_name.value)
    out.graphs = sorted(graphs)
    catalog = catalog_iri(base_iri)
    for graph in out.graphs:
        props: dict[str, list[Term]] = {}
        for quad in store.quads_for_pattern(ox.NamedNode(graph), None, None, catalog):
            props.setdefault(quad.predicate.value, []).append(quad.object)
        out.catalog[graph] = props
    linked = {t.object for t in out.triples} | {t.predicate for t in out.triples}
    linked |= {t.subject for t in out.incoming} | {t.predicate for t in out.incoming} | {node}
    for term in linked:
        if isinstance(term, ox.NamedNode) and (label := _best_label(store, term)):
            out.labels[term.value] = label
    return out


def local_path(iri: str, base_iri: str) -> str | None:
    """The path under this application that serves an IRI of the graph, or None.

    >>> local_path("https://w3id.org/passerelles/id/rome/A1101", "https://w3id.org/passerelles/")
    '/id/rome/A1101'
    >>> local_path("https://w3id.org/passerelles/ontology#Occupation", "https://w3id.org/passerelles/")
    '/ontology#Occupation'
    >>> local_path("http://example.org/", "https://w3id.org/passerelles/") is None
    True
    """
    if iri.startswith(base_iri):
        rest = iri[len(base_iri) :]
        if rest.startswith(("id/", "ontology", "graph/")):
            return "/" + rest
    return None


def _curie(iri: str, settings: Settings) -> str:
    for prefix, ns in sorted(prefixes_for(settings.base_iri).items(), key=lambda kv: -len(kv[1])):
        if iri.startswith(ns) and len(iri) > len(ns):
            return f"{prefix}:{iri[len(ns) :]}"
    return iri


def _term_html(term: Term, d: Description, settings: Settings) -> h.Html:
    if isinstance(term, ox.NamedNode):
        label = d.labels.get(term.value) or _curie(term.value, settings)
        href = local_path(term.value, settings.base_iri) or term.value
        return h.link(href, label, title=term.value)
    if isinstance(term, ox.Literal):
        lang = h.tag("span", f"@{term.language}", class_="lang") if term.language else h.Html("")
        if term.datatype.value not in ("http://www.w3.org/2001/XMLSchema#string",) and not term.language:
            lang = h.tag("span", f"^^{_curie(term.datatype.value, settings)}", class_="lang")
        return h.join([h.text(term.value), lang], " ")
    return h.text(str(term))


def render_page(d: Description, settings: Settings, doc_path: str) -> str:
    """The HTML page of a resource (every source text escaped)."""
    label = d.labels.get(d.iri) or d.iri
    types = [
        t.object for t in d.triples if t.subject == ox.NamedNode(d.iri) and t.predicate.value == str(RDF.type)
    ]
    rows: list[list[h.Html | str]] = []
    for t in sorted(
        d.triples, key=lambda t: (isinstance(t.subject, ox.BlankNode), t.predicate.value, str(t.object))
    ):
        subject = "" if t.subject == ox.NamedNode(d.iri) else h.text(str(t.subject))
        rows.append([subject, _term_html(t.predicate, d, settings), _term_html(t.object, d, settings)])
    incoming: list[list[h.Html | str]] = [
        [_term_html(t.subject, d, settings), _term_html(t.predicate, d, settings)]
        for t in sorted(d.incoming, key=lambda t: (t.predicate.value, str(t.subject)))
    ]
    prov_rows: list[list[h.Html | str]] = []
    for graph in d.graphs:
        props = d.catalog.get(graph, {})
        graph_link = local_path(graph, settings.base_iri)

        def first(prop: str, props: dict[str, list[Term]] = props) -> h.Html | str:
            values = props.get(prop)
            return _term_html(values[0], d, settings) if values else ""

        prov_rows.append(
            [
                h.link(graph_link, graph) if graph_link else h.text(graph),
                first(str(DCTERMS.title)),
                first(PREFIXES["pas"] + "sourceVersion"),
                first(str(DCTERMS.publisher)),
                first(str(DCTERMS.license)),
            ]
        )
    formats = h.join(
        [
            h.link(f"{doc_path}.{ext}", ext.upper(), type=media)
            for ext, (media, _) in DOC_FORMATS.items()
            if ext != "html"
        ],
        " · ",
    )
    body = [
        h.p(h.tag("code", d.iri), class_="iri"),
        h.p("Types: ", h.join([_term_html(t, d, settings) for t in types], ", ")) if types else h.Html(""),
        h.p("Formats: ", formats),
        h.tag("h2", "Properties"),
        h.table(["", "property", "value"], rows, id="properties"),
        h.tag("h2", "Incoming links"),
        h.table(["from", "property"], incoming, id="incoming") if incoming else h.p("None."),
        h.p(f"Only the first {MAX_INCOMING} are shown.") if d.incoming_truncated else h.Html(""),
        h.tag("h2", "Provenance"),
        h.table(["named graph", "source", "version", "publisher", "licence"], prov_rows, id="provenance"),
    ]
    alternates = {media: f"{doc_path}.{ext}" for ext, (media, _) in DOC_FORMATS.items() if ext != "html"}
    return h.page(label, *body, alternates=alternates)


def rdf_document(d: Description, fmt: ox.RdfFormat, settings: Settings) -> bytes:
    prefixes = prefixes_for(settings.base_iri) if fmt != ox.RdfFormat.N_TRIPLES else None
    return ox.serialize(d.triples, format=fmt, prefixes=prefixes) or b""


def _not_an_iri(iri: str) -> Response | None:
    """A 404 for a path that cannot make an IRI (space, ``<``, control character...), else None."""
    try:
        ox.NamedNode(iri)
    except ValueError:
        return error_response(404, "not-found", f"not a resource IRI: {iri!r}")
    return None


def _split_ext(path: str) -> tuple[str, str | None]:
    stem, dot, ext = path.rpartition(".")
    if dot and ext in DOC_FORMATS:
        return stem, ext
    return path, None


@router.get("/id/{path:path}", include_in_schema=False)
async def resource(path: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """A resource IRI: 303 to the document describing it, in the negotiated format."""
    iri = settings.id_base + path
    if refusal := _not_an_iri(iri):
        return refusal
    d = await asyncio.to_thread(describe, store, iri, settings.base_iri)
    if not d.exists:
        return error_response(404, "not-found", f"no resource {iri} in the graph")
    media = best(request.headers.get("accept"), [m for m, _ in DOC_FORMATS.values()])
    if media is None:
        return error_response(406, "not-acceptable", "offered: " + ", ".join(_BY_MEDIA), {"Vary": "Accept"})
    ext = _BY_MEDIA[media]
    target = f"/doc/{path}" + ("" if ext == "html" else f".{ext}")
    return RedirectResponse(target, status_code=303, headers={"Vary": "Accept"})


@router.get("/graph/{path:path}", include_in_schema=False)
async def named_graph(path: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """A named graph's IRI (a document: answered directly, by conneg): its catalogue description."""
    stem, ext = _split_ext(path)
    if ext is None:
        media = best(request.headers.get("accept"), [m for m, _ in DOC_FORMATS.values()])
        if media is None:
            return error_response(406, "not-acceptable", "offered: " + ", ".join(_BY_MEDIA), VARY)
        ext = _BY_MEDIA[media]
    iri = settings.graph_base + stem
    if refusal := _not_an_iri(iri):
        return refusal
    d = await asyncio.to_thread(describe, store, iri, settings.base_iri)
    if not d.triples:
        return error_response(404, "not-found", f"no graph {iri} in the catalogue")
    media, fmt = DOC_FORMATS[ext]
    if fmt is None:
        return HTMLResponse(render_page(d, settings, f"/graph/{stem}"), headers={"Vary": "Accept"})
    return Response(rdf_document(d, fmt, settings), media_type=media, headers={"Vary": "Accept"})


@router.get("/doc/{path:path}", include_in_schema=False)
async def document(path: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The document describing ``/id/{path}``: HTML or RDF."""
    stem, ext = _split_ext(path)
    headers = {}
    if ext is None:
        media = best(request.headers.get("accept"), [m for m, _ in DOC_FORMATS.values()])
        if media is None:
            return error_response(
                406, "not-acceptable", "offered: " + ", ".join(_BY_MEDIA), {"Vary": "Accept"}
            )
        ext = _BY_MEDIA[media]
        headers = {
            "Vary": "Accept",
            "Content-Location": f"/doc/{stem}" + ("" if ext == "html" else f".{ext}"),
        }
    iri = settings.id_base + stem
    if refusal := _not_an_iri(iri):
        return refusal
    d = await asyncio.to_thread(describe, store, iri, settings.base_iri)
    if not d.exists:
        return error_response(404, "not-found", f"no resource {iri} in the graph")
    media, fmt = DOC_FORMATS[ext]
    if fmt is None:
        return HTMLResponse(render_page(d, settings, f"/doc/{stem}"), headers=headers)
    return Response(rdf_document(d, fmt, settings), media_type=media, headers=headers)
