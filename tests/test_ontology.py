"""The ontology is the one source of terms, the shapes the one source of structure: they agree."""

from __future__ import annotations

import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SH

from kg.namespaces import PAS
from kg.validate import ontology_graph, shapes_graph


def ontology() -> Graph:
    return ontology_graph()


def shapes() -> Graph:
    return shapes_graph()


TERM_KINDS = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty, RDF.Property)


def declared() -> set[URIRef]:
    """Classes, properties and named individuals (code-list concepts) of the ontology."""
    return {s for s in ontology().subjects(RDF.type, None) if isinstance(s, URIRef)}


def declared_terms() -> set[URIRef]:
    return {s for k in TERM_KINDS for s in ontology().subjects(RDF.type, k) if isinstance(s, URIRef)}


def pas_terms_used_in_shapes() -> set[URIRef]:
    """pas: terms the shapes constrain or target (shape names themselves excluded)."""
    shape_nodes = (
        set(shapes().subjects(RDF.type, SH.NodeShape))
        | set(shapes().subjects(RDF.type, SH.PropertyShape))
        | set(shapes().subjects(SH.declare, None))  # prefix declarations of SPARQL constraints
        | set(shapes().subjects(RDF.type, OWL.Ontology))
    )
    used = set()
    for _s, p, o in shapes():
        for term in (p, o):
            if isinstance(term, URIRef) and term.startswith(str(PAS)) and term not in shape_nodes:
                used.add(term)
    return used


def test_shapes_use_only_declared_terms() -> None:
    undeclared = sorted(str(t) for t in pas_terms_used_in_shapes() - declared())
    assert not undeclared, f"shapes use pas: terms the ontology does not declare: {undeclared}"


@pytest.mark.parametrize("predicate", [RDFS.label, RDFS.comment], ids=["label", "comment"])
def test_every_term_is_documented_in_french_and_english(predicate: URIRef) -> None:
    missing = []
    for term in sorted(t for t in declared_terms() if t.startswith(str(PAS))):
        languages = {getattr(o, "language", None) for o in ontology().objects(term, predicate)}
        if not {"fr", "en"} <= languages:
            missing.append(str(term).rsplit("#", 1)[-1])
    assert not missing, f"terms without {predicate.n3()} in fr and en: {missing}"


def test_every_class_has_a_node_shape() -> None:
    targeted = set(shapes().objects(None, SH.targetClass))
    internal = {
        PAS.SourceGraph,
        PAS.QuarantineGraph,
        PAS.Build,
        PAS.QuarantinedRecord,
        PAS.SourceVersion,
        PAS.VersionChange,  # catalogue descriptions (ontology/provenance.ttl)
    }
    classes = {c for c in ontology().subjects(RDF.type, OWL.Class) if c.startswith(str(PAS))}
    missing = sorted(str(c).rsplit("#", 1)[-1] for c in classes - targeted - internal)
    assert not missing, f"classes without a NodeShape: {missing}"


def test_every_shape_has_bilingual_messages() -> None:
    """Each property shape of a node shape, each SPARQL constraint and each node-level logical
    constraint (sh:or, sh:xone...) carries sh:message in French and English."""
    g = shapes()
    holders = []
    for node_shape in g.subjects(RDF.type, SH.NodeShape):
        holders += [[p] for p in g.objects(node_shape, SH.property)]
        holders += [[node_shape, c] for c in g.objects(node_shape, SH.sparql)]
        if any(g.value(node_shape, k) is not None for k in (SH["or"], SH.xone, SH["and"], SH["not"])):
            holders.append([node_shape])
    missing = []
    for nodes in holders:
        langs = {getattr(m, "language", None) for n in nodes for m in g.objects(n, SH.message)}
        if not {"fr", "en"} <= langs:
            path = g.value(nodes[0], SH.path)
            missing.append(f"{nodes[0].n3(g.namespace_manager)} path {path}")
    assert not missing, f"constraints without sh:message in fr and en: {missing[:10]}"
