"""NAF rév. 2 mapped from the real Insee files in ../shared/data (skipped when absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyoxigraph as ox
from pyshacl import validate
from rdflib import Graph

from kg.mapping import MappingStats, map_file
from tests.conftest import ROOT, TEST_BASE

ID = TEST_BASE + "id/"
SKOS = "http://www.w3.org/2004/02/skos/core#"
PAS = "https://w3id.org/passerelles/ontology#"


def _v(term: object) -> str:
    """The lexical value of an RDF term (IRI or literal)."""
    return str(getattr(term, "value", term))


def _map(
    mapping: str, data: Path, options: dict[str, str] | None = None
) -> tuple[list[ox.Triple], MappingStats]:
    stats = MappingStats()
    triples = list(map_file(ROOT / "mappings" / mapping, data, TEST_BASE, options, stats=stats))
    return triples, stats


def _objects(triples: list[ox.Triple], s: str, p: str) -> set[str]:
    return {_v(t.object) for t in triples if _v(t.subject) == s and _v(t.predicate) == p}


def test_naf_labels(shared_data: Path) -> None:
    triples, stats = _map("naf-labels.rq", shared_data / "companies" / "int_courts_naf_rev_2.csv")
    assert len(stats.entities) == 1728
    assert set(stats.skipped.values()) == {'blank separator row of the INSEE layout ("1;;;;")'}
    levels = Counter(_v(t.object) for t in triples if _v(t.predicate) == PAS + "nafLevel")
    assert levels == {
        "section": 21,
        "division": 88,
        "groupe": 272,
        "classe": 615,
        "sous-classe": 732,
    }
    assert _objects(triples, ID + "naf/95.12Z", SKOS + "prefLabel") == {
        "Réparation d'équipements de communication"
    }
    assert _objects(triples, ID + "naf/F", PAS + "code") == {"F"}
    # Windows-1252, not Latin-1: a right single quote, no C1 control character; line breaks folded
    (label,) = _objects(triples, ID + "naf/88.99A", SKOS + "prefLabel")
    assert label == "Autre accueil ou accompagnement sans hébergement d’enfants et d’adolescents"
    assert "œuvre" in next(iter(_objects(triples, ID + "naf/43.99C", SKOS + "prefLabel")))


def test_naf_hierarchy_and_shapes(shared_data: Path) -> None:
    folder = shared_data / "companies"
    links, stats = _map("naf-hierarchy.rq", folder / "naf2008_5_niveaux.csv")
    assert len(stats.records) == 732 and len(stats.entities) == 732
    broader = {_v(t.subject): _v(t.object) for t in links if _v(t.predicate) == SKOS + "broader"}
    assert len(broader) == 1728 - 21  # every item but the sections has one parent
    chain, node = [], ID + "naf/43.99C"
    while node in broader:
        node = broader[node]
        chain.append(node.rsplit("/", 1)[1])
    assert chain == ["43.99", "43.9", "43", "F"]
    # validate the labels and links of one section (S) against all shapes
    labels, _ = _map("naf-labels.rq", folder / "int_courts_naf_rev_2.csv")
    section = {ID + "naf/S"} | {s for s, o in broader.items() if o.startswith(ID + "naf/9")}
    for _ in range(3):
        section |= {s for s, o in broader.items() if o in section}
    sample = [t for t in labels + links if _v(t.subject) in section]
    graph = Graph().parse(data="\n".join(f"{t} ." for t in sample), format="nt")
    shapes = Graph()
    for path in (ROOT / "shapes").glob("*.ttl"):
        shapes.parse(path)
    conforms, _, text = validate(graph, shacl_graph=shapes, advanced=True, allow_warnings=True)
    assert conforms, text
