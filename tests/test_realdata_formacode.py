"""Formacode V14 / V13 mapped from the real files in ../shared/data (skipped when absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyoxigraph as ox

from kg.mapping import MappingStats, map_file
from tests.conftest import ROOT, TEST_BASE

ID = TEST_BASE + "id/"
SKOS = "http://www.w3.org/2004/02/skos/core#"
PAS = "https://w3id.org/passerelles/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _v(term: object) -> str:
    """The lexical value of an RDF term (IRI or literal)."""
    return str(getattr(term, "value", term))


def _map(mapping: str, data: Path) -> tuple[ox.Store, MappingStats]:
    stats = MappingStats()
    store = ox.Store()
    store.extend(
        ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph())
        for t in map_file(ROOT / "mappings" / mapping, data, TEST_BASE, stats=stats)
    )
    return store, stats


def _objects(store: ox.Store, s: str, p: str) -> set[str]:
    return {_v(q.object) for q in store.quads_for_pattern(ox.NamedNode(s), ox.NamedNode(p), None)}


def test_v14_descriptors(shared_data: Path) -> None:
    store, stats = _map("formacode-v14-terms.rq", shared_data / "formacode" / "formacode_v14.csv")
    assert len(stats.records) == 2775 and not stats.skipped
    assert 2700 <= len(stats.entities) <= 2900
    term = ID + "formacode/24303"
    assert _objects(store, term, SKOS + "prefLabel") == {"Réparation appareil mobile"}
    assert _objects(store, term, SKOS + "broader") == {ID + "formacode/24340"}
    assert _objects(store, term, PAS + "semanticField") == {ID + "formacode-champ/243"}
    assert _objects(store, term, PAS + "treeCode") == {"J0A4A2A0"}
    fields = {
        _v(q.subject)
        for q in store.quads_for_pattern(None, ox.NamedNode(RDF_TYPE), ox.NamedNode(PAS + "SemanticField"))
    }
    assert len(fields) == 65
    # the 65 top terms have only their broad domain's label as TG: no broader from this file
    broader = {_v(q.subject) for q in store.quads_for_pattern(None, ox.NamedNode(SKOS + "broader"), None)}
    assert len(broader) == 2775 - 65
    # "Dessin construction " ends with a space in the file; notes lose their hard line breaks
    assert _objects(store, ID + "formacode/22398", SKOS + "prefLabel") == {"Dessin construction"}
    notes = [_v(q.object) for q in store.quads_for_pattern(None, ox.NamedNode(SKOS + "definition"), None)]
    assert notes and not any("\n" in n for n in notes)


def test_v14_associated_terms_drop_self_links(shared_data: Path) -> None:
    store, _ = _map("formacode-v14-related.rq", shared_data / "formacode" / "formacode_v14.csv")
    links = [
        (_v(q.subject), _v(q.object))
        for q in store.quads_for_pattern(None, ox.NamedNode(SKOS + "related"), None)
    ]
    assert 3000 <= len(links) <= 3400
    assert not [s for s, o in links if s == o]


def test_v14_hierarchy_reaches_the_broad_domain(shared_data: Path) -> None:
    data = shared_data / "formacode"
    terms, _ = _map("formacode-v14-terms.rq", data / "formacode_v14.csv")
    tops, stats = _map("formacode-v14-domains-terms.rq", data / "formacode_v14_grands_domaines.csv")
    assert len(stats.entities) == 14
    # offshore wind → wind → renewable energy → energy (top term) → broad domain 00114
    chain, node = [], ID + "formacode/24106"
    while True:
        parents = _objects(terms, node, SKOS + "broader") | _objects(tops, node, SKOS + "broader")
        if not parents:
            break
        (node,) = parents
        chain.append(node.rsplit("/", 1)[1])
    assert chain == ["24136", "24147", "24154", "00114"]


def test_v13_tree(shared_data: Path) -> None:
    store, stats = _map("formacode-v13-tree.rq", shared_data / "formacode" / "formacode_v13_arborescence.csv")
    assert len(stats.records) == 2632 and not stats.skipped
    assert len(stats.entities) == 2632
    tops = _objects(store, ID + "scheme/formacode-v13", SKOS + "hasTopConcept")
    assert len(tops) == 65
    assert _objects(store, ID + "formacode/31676", PAS + "formacodeV13Label") == {"BUREAU ETUDES"}
    fields = Counter(
        _v(q.object) for q in store.quads_for_pattern(None, ox.NamedNode(PAS + "semanticField"), None)
    )
    assert len(fields) == 65
