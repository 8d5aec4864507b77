"""``/ontology`` (HTML documentation or Turtle) and ``/shapes`` (HTML listing or Turtle), by
content negotiation or an explicit extension (``/ontology.ttl``, ``/shapes.ttl``)."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from rdflib import BNode, Graph, Literal, URIRef

from api import html as h
from api.conneg import best
from api.deps import SettingsDep
from api.linked_data import local_path
from kg.namespaces import OWL, PAS, RDF, RDFS, SH
from kg.validate import ontology_graph, shapes_graph

router = APIRouter()
TURTLE = "text/turtle"


@cache
def _ontology() -> Graph:
    return ontology_graph()


@cache
def _shapes() -> Graph:
    return shapes_graph()


def _text(graph: Graph, node: URIRef | BNode, prop: URIRef, lang: str) -> str:
    values = [o for o in graph.objects(node, prop) if isinstance(o, Literal)]
    chosen = [v for v in values if v.language == lang] or values
    return str(chosen[0]) if chosen else ""


def _ref(term: object, base_iri: str) -> h.Html:
    if isinstance(term, URIRef):
        iri = str(term)
        if iri.startswith(str(PAS)):
            return h.link("#" + iri[len(str(PAS)) :], "pas:" + iri[len(str(PAS)) :])
        return h.link(local_path(iri, base_iri) or iri, iri)
    return h.text(str(term))


def ontology_html(graph: Graph, base_iri: str) -> str:
    """One section per class and property of the ontology, anchored by its local name."""
    sections: list[h.Html] = [
        h.p("Turtle: ", h.link("/ontology.ttl", "/ontology.ttl"), f" — namespace {PAS}"),
    ]
    for title, kinds in (
        ("Classes", [OWL.Class, RDFS.Class]),
        ("Properties", [OWL.ObjectProperty, OWL.DatatypeProperty, RDF.Property, OWL.AnnotationProperty]),
    ):
        terms = sorted(
            {s for k in kinds for s in graph.subjects(RDF.type, k) if str(s).startswith(str(PAS))}, key=str
        )
        sections.append(h.tag("h2", title))
        for term in terms:
            assert isinstance(term, URIRef)
            name = str(term)[len(str(PAS)) :]
            facts: list[h.Html] = []
            for label, prop in (
                ("subclass of", RDFS.subClassOf),
                ("domain", RDFS.domain),
                ("range", RDFS.range),
                ("subproperty of", RDFS.subPropertyOf),
            ):
                values = [_ref(o, base_iri) for o in graph.objects(term, prop)]
                if values:
                    facts.append(h.tag("li", f"{label}: ", h.join(values, ", ")))
            sections.append(
                h.tag(
                    "section",
                    h.tag("h3", f"pas:{name}"),
                    h.p(
                        h.tag("b", _text(graph, term, RDFS.label, "fr")),
                        " — ",
                        _text(graph, term, RDFS.label, "en"),
                    ),
                    h.p(_text(graph, term, RDFS.comment, "fr")),
                    h.p(_text(graph, term, RDFS.comment, "en"), class_="en"),
                    h.tag("ul", *facts),
                    id=name,
                    class_="term",
                )
            )
    return h.page("Ontology", *sections, alternates={TURTLE: "/ontology.ttl"})


def shapes_html(graph: Graph, base_iri: str) -> str:
    """A table of the node shapes: target class and the constrained paths."""
    rows: list[list[h.Html | str]] = []
    for shape in sorted(graph.subjects(RDF.type, SH.NodeShape), key=str):
        targets = [_ref(o, base_iri) for o in graph.objects(shape, SH.targetClass)]
        paths = sorted(
            str(path).split("#")[-1]
            for prop in graph.objects(shape, SH.property)
            for path in graph.objects(prop, SH.path)
            if isinstance(path, URIRef)
        )
        rows.append([h.text(str(shape).split("#")[-1]), h.join(targets, ", "), ", ".join(paths)])
    return h.page(
        "SHACL shapes",
        h.p("Turtle: ", h.link("/shapes.ttl", "/shapes.ttl")),
        h.table(["shape", "target class", "constrained properties"], rows, id="shapes"),
        alternates={TURTLE: "/shapes.ttl"},
    )


def _serve(request: Request, graph: Graph, html: str, turtle: bool | None) -> Response:
    if turtle is None:
        chosen = best(request.headers.get("accept"), ["text/html", TURTLE])
        if chosen is None:
            return Response("offered: text/html, text/turtle", status_code=406, headers={"Vary": "Accept"})
        turtle = chosen == TURTLE
    headers = {"Vary": "Accept"}
    if turtle:
        return Response(graph.serialize(format="turtle"), media_type=TURTLE, headers=headers)
    return HTMLResponse(html, headers=headers)


@router.get("/ontology", include_in_schema=False)
async def ontology(request: Request, settings: SettingsDep) -> Response:
    return _serve(request, _ontology(), ontology_html(_ontology(), settings.base_iri), None)


@router.get("/ontology.ttl", include_in_schema=False)
async def ontology_ttl(request: Request, settings: SettingsDep) -> Response:
    return _serve(request, _ontology(), "", True)


@router.get("/shapes", include_in_schema=False)
async def shapes(request: Request, settings: SettingsDep) -> Response:
    return _serve(request, _shapes(), shapes_html(_shapes(), settings.base_iri), None)


@router.get("/shapes.ttl", include_in_schema=False)
async def shapes_ttl(request: Request, settings: SettingsDep) -> Response:
    return _serve(request, _shapes(), "", True)
