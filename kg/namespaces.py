"""Every IRI constant, once."""

from __future__ import annotations

from rdflib import Namespace
from rdflib.namespace import DCAT, DCTERMS, OWL, PROV, RDF, RDFS, SH, SKOS, XSD

PAS = Namespace("https://w3id.org/passerelles/ontology#")
ESCO = Namespace("http://data.europa.eu/esco/model#")
SCHEMA = Namespace("https://schema.org/")
ORG = Namespace("http://www.w3.org/ns/org#")
VOID = Namespace("http://rdfs.org/ns/void#")
LHEO = Namespace("http://lheo.gouv.fr/2.3#")

# Prefixes known to every mapping and stored query (the id/graph prefixes depend on settings).
PREFIXES: dict[str, str] = {
    "pas": str(PAS),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "skos": str(SKOS),
    "dct": str(DCTERMS),
    "dcat": str(DCAT),
    "prov": str(PROV),
    "sh": str(SH),
    "esco": str(ESCO),
    "schema": str(SCHEMA),
    "org": str(ORG),
    "void": str(VOID),
}


def prefixes_for(base_iri: str) -> dict[str, str]:
    """All prefixes, with ``id:`` and ``graph:`` under the configured base IRI.

    >>> prefixes_for("https://example.org/")["id"]
    'https://example.org/id/'
    """
    return {**PREFIXES, "id": base_iri + "id/", "graph": base_iri + "graph/"}


def sparql_prologue(base_iri: str) -> str:
    """PREFIX declarations for a query."""
    return "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in prefixes_for(base_iri).items())
