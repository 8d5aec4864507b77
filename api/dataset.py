"""``/.well-known/void`` and ``/dataset``: VoID + DCAT description of the dataset and of each
named graph (source, version, licence, triples, last build), the SPARQL endpoint and the dumps,
generated from the catalogue graph the build writes (:mod:`kg.provenance`); ``/dumps/``: the
dump files of the served build (:mod:`kg.dumps`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from api import html as h
from api.conneg import best
from api.deps import SettingsDep, StoreDep, served_quads
from api.sparql import error_response
from kg.config import Settings
from kg.dumps import DUMPS_DIR, Dump, read_index
from kg.namespaces import DCAT, DCTERMS, PAS, RDF, VOID, XSD, prefixes_for
from kg.provenance import catalog_iri
from kg.store import GraphStore, StoreLayout

router = APIRouter()
SPDX = "http://spdx.org/rdf/terms#"
FOAF = "http://xmlns.com/foaf/0.1/"
RDF_OUT = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}
DESCRIBED = (  # catalogue properties copied into the description of each graph
    DCTERMS.title,
    DCTERMS.license,
    DCTERMS.publisher,
    DCTERMS.issued,
    DCTERMS.source,
    PAS.sourceVersion,
    VOID.triples,
    DCAT.landingPage,
    RDF.type,
)


def _n(iri: object) -> ox.NamedNode:
    return ox.NamedNode(str(iri))


def served_build(settings: Settings) -> Path | None:
    return StoreLayout(settings.store).current()


def description(
    store: GraphStore, settings: Settings, site: str, dumps: list[Dump], quads: int | None = None
) -> list[ox.Triple]:
    """The VoID/DCAT triples; ``site`` is the public root URL of this application (ends with /);
    ``quads``: the store's size when known (counting scans the whole store)."""
    base = settings.base_iri
    dataset = _n(f"{base}dataset")
    catalog = catalog_iri(base)
    t: list[ox.Triple] = [
        ox.Triple(dataset, _n(RDF.type), _n(VOID.Dataset)),
        ox.Triple(dataset, _n(RDF.type), _n(DCAT.Dataset)),
        ox.Triple(
            dataset,
            _n(DCTERMS.title),
            ox.Literal("Passerelles — emploi et formation en Normandie", language="fr"),
        ),
        ox.Triple(
            dataset,
            _n(DCTERMS.title),
            ox.Literal("Passerelles — employment and training in Normandy", language="en"),
        ),
        ox.Triple(dataset, _n(VOID.sparqlEndpoint), _n(f"{site}sparql")),
        ox.Triple(dataset, _n(VOID.uriSpace), ox.Literal(settings.id_base)),
        ox.Triple(dataset, _n(VOID.vocabulary), _n(PAS)),
        ox.Triple(
            dataset,
            _n(VOID.triples),
            ox.Literal(str(len(store) if quads is None else quads), datatype=_n(XSD.integer)),
        ),
        ox.Triple(dataset, _n(FOAF + "homepage"), _n(f"{site}query")),
    ]
    service = _n(f"{site}sparql#service")
    t += [
        ox.Triple(service, _n(RDF.type), _n(DCAT.DataService)),
        ox.Triple(service, _n(DCAT.endpointURL), _n(f"{site}sparql")),
        ox.Triple(service, _n(DCAT.servesDataset), dataset),
        ox.Triple(dataset, _n(DCAT.distribution), service),
    ]
    for dump in dumps:
        url = _n(f"{site}dumps/{dump.name}")
        checksum = ox.BlankNode()
        t += [
            ox.Triple(dataset, _n(VOID.dataDump), url),
            ox.Triple(dataset, _n(DCAT.distribution), url),
            ox.Triple(url, _n(RDF.type), _n(DCAT.Distribution)),
            ox.Triple(url, _n(DCAT.downloadURL), url),
            ox.Triple(
                url, _n(DCAT.mediaType), _n(f"https://www.iana.org/assignments/media-types/{dump.media_type}")
            ),
            ox.Triple(
                url,
                _n(DCAT.compressFormat),
                _n("https://www.iana.org/assignments/media-types/application/gzip"),
            ),
            ox.Triple(
                url, _n(DCAT.byteSize), ox.Literal(str(dump.bytes), datatype=_n(XSD.nonNegativeInteger))
            ),
            ox.Triple(url, _n(DCTERMS.description), ox.Literal(dump.content, language="en")),
            ox.Triple(url, _n(SPDX + "checksum"), checksum),
            ox.Triple(checksum, _n(SPDX + "algorithm"), _n(SPDX + "checksumAlgorithm_sha256")),
            ox.Triple(checksum, _n(SPDX + "checksumValue"), ox.Literal(dump.sha256)),
        ]
    graphs = {q.subject for q in store.quads_for_pattern(None, _n(RDF.type), _n(PAS.SourceGraph), catalog)}
    for graph in sorted(graphs, key=str):
        t += [
            ox.Triple(dataset, _n(VOID.subset), graph),
            ox.Triple(graph, _n(RDF.type), _n(VOID.Dataset)),
            ox.Triple(graph, _n(RDF.type), _n(DCAT.Dataset)),
            ox.Triple(graph, _n(f"{VOID}inDataset"), dataset),
        ]
        for prop in DESCRIBED:
            for quad in store.quads_for_pattern(graph, _n(prop), None, catalog):
                t.append(ox.Triple(graph, quad.predicate, quad.object))
        for quad in store.quads_for_pattern(
            graph, _n("http://www.w3.org/ns/prov#wasGeneratedBy"), None, catalog
        ):
            t.append(ox.Triple(graph, quad.predicate, quad.object))
            if not isinstance(quad.object, ox.NamedNode):
                continue
            for ended in store.quads_for_pattern(
                quad.object, _n("http://www.w3.org/ns/prov#endedAtTime"), None, catalog
            ):
                t.append(ox.Triple(ended.subject, ended.predicate, ended.object))
                t.append(ox.Triple(graph, _n(DCTERMS.modified), ended.object))
    return t


def _site(request: Request) -> str:
    return str(request.base_url)


def _rdf(triples: list[ox.Triple], media: str, settings: Settings) -> Response:
    fmt = RDF_OUT[media]
    prefixes = {**prefixes_for(settings.base_iri), "spdx": SPDX, "foaf": FOAF}
    body = ox.serialize(triples, format=fmt, prefixes=None if fmt == ox.RdfFormat.N_TRIPLES else prefixes)
    return Response(body or b"", media_type=media, headers={"Vary": "Accept"})


def _html(triples: list[ox.Triple], dumps: list[Dump], settings: Settings) -> str:
    by_graph: dict[str, dict[str, str]] = {}
    for t in triples:
        if isinstance(t.subject, ox.NamedNode) and "/graph/" in t.subject.value:
            row = by_graph.setdefault(t.subject.value, {})
            row.setdefault(t.predicate.value, t.object.value if not isinstance(t.object, ox.Triple) else "")
    rows: list[list[h.Html | str]] = [
        [
            h.text(g),
            p.get(str(DCTERMS.title), ""),
            p.get(str(PAS.sourceVersion), ""),
            p.get(str(VOID.triples), ""),
            h.link(p[str(DCTERMS.license)], p[str(DCTERMS.license)]) if str(DCTERMS.license) in p else "",
            p.get(str(DCTERMS.modified), ""),
        ]
        for g, p in sorted(by_graph.items())
    ]
    dump_rows: list[list[h.Html | str]] = [
        [h.link(f"/dumps/{d.name}", d.name), d.content, str(d.bytes), h.tag("code", d.sha256)] for d in dumps
    ]
    return h.page(
        "Dataset",
        h.p(
            "SPARQL endpoint: ",
            h.link("/sparql", "/sparql"),
            " · VoID: ",
            h.link("/.well-known/void", "/.well-known/void"),
        ),
        h.tag("h2", "Named graphs"),
        h.table(["graph", "source", "version", "triples", "licence", "last build"], rows, id="graphs"),
        h.tag("h2", "Dumps"),
        h.table(["file", "content", "bytes", "sha256"], dump_rows, id="dumps")
        if dumps
        else h.p("No dumps in this build."),
        alternates={m: "/.well-known/void" for m in RDF_OUT},
    )


async def _describe(request: Request, store: GraphStore, settings: Settings, html: bool) -> Response:
    offers = (["text/html"] if html else []) + list(RDF_OUT)
    media = best(request.headers.get("accept"), offers)
    if media is None:
        return error_response(406, "not-acceptable", "offered: " + ", ".join(offers), {"Vary": "Accept"})
    build = served_build(settings)
    dumps = read_index(build) if build else []
    triples = await asyncio.to_thread(
        description, store, settings, _site(request), dumps, served_quads(request.app)
    )
    if media == "text/html":
        return HTMLResponse(_html(triples, dumps, settings), headers={"Vary": "Accept"})
    return _rdf(triples, media, settings)


@router.get("/.well-known/void", include_in_schema=False)
async def void(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The VoID/DCAT description in RDF (Turtle unless asked otherwise)."""
    return await _describe(request, store, settings, html=False)


@router.get("/dataset", include_in_schema=False)
async def dataset(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The same description, as an HTML page for browsers."""
    return await _describe(request, store, settings, html=True)


@router.get("/dumps/", include_in_schema=False)
async def dumps_index(request: Request, settings: SettingsDep) -> Response:
    """The dump files of the served build (HTML, or JSON for ``Accept: application/json``)."""
    build = served_build(settings)
    dumps = read_index(build) if build else []
    if best(request.headers.get("accept"), ["text/html", "application/json"]) == "application/json":
        return JSONResponse([d.__dict__ for d in dumps], headers={"Vary": "Accept"})
    rows: list[list[h.Html | str]] = [
        [h.link(d.name, d.name), d.content, str(d.bytes), h.link(f"{d.name}.sha256", d.sha256)] for d in dumps
    ]
    body = (
        h.table(["file", "content", "bytes", "sha256"], rows, id="dumps")
        if dumps
        else h.p("No dumps in this build.")
    )
    return HTMLResponse(h.page("Dumps", body), headers={"Vary": "Accept"})


@router.get("/dumps/{name}", include_in_schema=False)
async def dump_file(name: str, settings: SettingsDep) -> Response:
    """One dump or its ``.sha256``: only names listed in the build's index are served (no paths)."""
    build = served_build(settings)
    dumps = {d.name: d for d in read_index(build)} if build else {}
    allowed = {
        **{n: d.media_type for n in dumps for d in [dumps[n]]},
        **{f"{n}.sha256": "text/plain" for n in dumps},
    }
    if build is None or name not in allowed:
        return error_response(404, "not-found", f"no dump named {name!r}")
    path = build / DUMPS_DIR / name
    if name.endswith(".sha256"):
        return Response(path.read_bytes(), media_type="text/plain; charset=utf-8")
    # The gzip file is the representation (not a transfer encoding): no Content-Encoding header.
    return FileResponse(path, media_type="application/gzip", filename=name)
