"""Derivation rules with ``#+ replaces:`` and ``?source_graph`` (kg/derive.py), on the commune
repair rule (mappings/derive/commune-current.rq) over a small territory graph."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox

from kg.derive import derive, load_rules
from tests.conftest import TEST_BASE

PAS = "https://w3id.org/passerelles/ontology#"
ID = f"{TEST_BASE}id/"
TERRITORY = f"""
<{ID}commune/75056> a <{PAS}Commune> .
<{ID}arrondissement-municipal/75112> a <{PAS}MunicipalArrondissement> ;
    <{PAS}parentCommune> <{ID}commune/75056> .
<{ID}commune/50129> a <{PAS}Commune> ; <{PAS}formerCode> "50001" .
<{ID}commune-deleguee/14001> a <{PAS}DelegatedCommune> ; <{PAS}code> "14001" ;
    <{PAS}parentCommune> <{ID}commune/14027> .
<{ID}commune/14027> a <{PAS}Commune> .
<{ID}commune/61001> a <{PAS}Commune> ; <{PAS}formerCode> "61999" .
<{ID}commune/61002> a <{PAS}Commune> ; <{PAS}formerCode> "61999" .
"""
SITES = {
    "paris12": "arrondissement-municipal/75112",  # → Paris
    "former": "commune/50001",  # → 50129 (formerCode)
    "delegated": "commune/14001",  # → 14027 (commune déléguée)
    "current": "commune/14027",  # unchanged
    "foreign": "commune/99140",  # unresolvable: unchanged
    "split": "commune/61999",  # two candidates: unchanged
}


def _store(tmp_path: Path) -> tuple[ox.Store, ox.NamedNode, Path]:
    store = ox.Store()
    store.load(
        TERRITORY.encode(), format=ox.RdfFormat.TURTLE, to_graph=ox.NamedNode(f"{TEST_BASE}graph/cog/1")
    )
    graph = ox.NamedNode(f"{TEST_BASE}graph/cfa-regional/1")
    lines = "".join(f"<{ID}site/{name}> <{PAS}commune> <{ID}{cited}> .\n" for name, cited in SITES.items())
    other = ox.NamedNode(f"{TEST_BASE}graph/other/1")  # another source's entity: not repaired
    store.load(lines.encode(), format=ox.RdfFormat.N_TRIPLES, to_graph=graph)
    store.load(
        f"<{ID}x> <{PAS}commune> <{ID}commune/50001> .\n".encode(),
        format=ox.RdfFormat.N_TRIPLES,
        to_graph=other,
    )
    spool = tmp_path / "cfa.nt"
    spool.write_text(lines, encoding="utf-8")
    return store, graph, spool


def test_commune_repair_rule(tmp_path: Path) -> None:
    store, graph, spool = _store(tmp_path)
    rules = [r for r in load_rules() if r.path.name.startswith("commune-current-")]
    assert len(rules) == 3
    assert all(r.replaces == ("pas:commune",) and r.depends_on("cog-communes") for r in rules)
    removed: set[bytes] = set()
    derive(store, TEST_BASE, {"cfa-regional": (graph, spool)}, rules, removed)

    def communes(site: str) -> set[str]:
        quads = store.quads_for_pattern(ox.NamedNode(f"{ID}site/{site}"), None, None, graph)
        return {f"{q.predicate.value.rpartition('#')[2]} {q.object.value.replace(ID, '')}" for q in quads}

    assert communes("paris12") == {"commune commune/75056", "citedCommuneCode 75112"}
    assert communes("former") == {"commune commune/50129", "citedCommuneCode 50001"}
    assert communes("delegated") == {"commune commune/14027", "citedCommuneCode 14001"}
    assert communes("current") == {"commune commune/14027"}
    assert communes("foreign") == {"commune commune/99140"}
    assert communes("split") == {"commune commune/61999"}
    assert len(removed) == 3
    # the spool (what the build validates and publishes) says the same as the graph
    spooled = set(spool.read_bytes().splitlines())
    dumped = set((store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=graph) or b"").splitlines())
    assert spooled == dumped
    # another source's graph is left alone: ?source_graph binds the rule to its own source
    assert (
        len(list(store.quads_for_pattern(None, None, None, ox.NamedNode(f"{TEST_BASE}graph/other/1")))) == 1
    )
