"""ROME module on the real open data (../shared/data/rome): a handful of facts end to end."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox

from kg.mapping import MappingStats, map_file
from tests.conftest import ROOT, TEST_BASE

ID = TEST_BASE + "id/"
PAS = "https://w3id.org/passerelles/ontology#"
PROLOGUE = (
    f"PREFIX pas: <{PAS}>\nPREFIX id: <{ID}>\n"
    "PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
    "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>\n"
)


def _map(shared: Path, mapping: str, file: str, store: ox.Store | None = None) -> MappingStats:
    """Map one real file; load its triples into ``store`` when given."""
    stats = MappingStats()
    triples = map_file(ROOT / "mappings" / mapping, shared / "rome" / file, TEST_BASE, stats=stats)
    quads = (ox.Quad(t.subject, t.predicate, t.object) for t in triples)
    if store is not None:
        store.extend(quads)
    else:
        for _ in quads:
            pass
    return stats


def _select(store: ox.Store, query: str) -> list[ox.QuerySolution]:
    """Solutions of a SELECT query with the pas:, id:, skos: and rdf: prefixes."""
    return list(store.query(PROLOGUE + query))


def _count(store: ox.Store, where: str) -> int:
    [row] = _select(store, f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}")
    return int(row["n"].value)


def test_occupations_and_v3_crosswalk(shared_data: Path) -> None:
    store = ox.Store()
    occ = _map(shared_data, "rome-occupations.rq", "unix_referentiel_code_rome_v460_utf8.csv", store)
    v3 = _map(shared_data, "rome-v3-occupations.rq", "v3/rome_labels.csv", store)
    assert len(occ.records) == 1584 and not occ.skipped and len(occ.entities) == 1584
    assert len(v3.entities) == 532

    [row] = _select(
        store,
        """SELECT ?label ?parent ?eco WHERE {
            id:rome\\/I1407 skos:prefLabel ?label ;
                pas:romeV3Parent ?parent ; pas:ecologicalTransition ?eco }""",
    )
    assert row["label"].value.startswith("Réparateur / Réparatrice en produits de télécommunication")
    assert row["parent"] == ox.NamedNode(ID + "rome-v3/I1402")
    assert row["eco"] == ox.NamedNode(PAS + "EcologicalTransitionStrategicJob")

    # Every v4 fiche has a v3 parent present in the v3 labels, and every v3 code resolves to
    # at least one v4 fiche through the crosswalk (I1402 → I1402 and I1407, among others).
    assert (
        _count(
            store,
            "?o a pas:Occupation FILTER NOT EXISTS { ?o pas:romeV3Parent/a pas:OccupationV3 }",
        )
        == 0
    )
    assert _count(store, "?p a pas:OccupationV3 FILTER NOT EXISTS { ?o pas:romeV3Parent ?p }") == 0
    fiches = {r["o"].value for r in _select(store, "SELECT ?o { ?o pas:romeV3Parent id:rome-v3\\/I1402 }")}
    assert {ID + "rome/I1402", ID + "rome/I1407"} <= fiches

    # transition_eco: the four categories, no value left as a string.
    rows = _select(store, "SELECT ?e (COUNT(?o) AS ?n) { ?o pas:ecologicalTransition ?e } GROUP BY ?e")
    counts = {r["e"].value.rsplit("#", 1)[-1]: int(r["n"].value) for r in rows}
    assert counts == {
        "WhiteJob": 1194,
        "EcologicalTransitionStrategicJob": 261,
        "GreenJob": 96,
        "BrownJob": 33,
    }


def test_core_and_emerging_skill_flags(shared_data: Path) -> None:
    store = ox.Store()
    stats = _map(shared_data, "rome-coherence.rq", "unix_coherence_item_v460_utf8.csv", store)
    assert len(stats.records) == 104219
    assert sum(1 for r in stats.skipped.values() if r.startswith("no core")) == 83588
    assert _count(store, "?o pas:hasCoreSkill ?s") == 18900
    assert _count(store, "?o pas:hasEmergingSkillItem ?s") == 1731
    assert _count(store, "id:rome\\/I1407 pas:hasCoreSkill id:competence\\/140926") == 1


def test_texts_undouble_apostrophes(shared_data: Path) -> None:
    store = ox.Store()
    stats = _map(shared_data, "rome-texts.rq", "unix_texte_v460_utf8.csv", store)
    assert len(stats.entities) == 11980 and not stats.skipped
    [row] = _select(
        store,
        "SELECT ?v { id:rome\\/A1101 pas:definitionSentence [ pas:position 3 ; rdf:value ?v ] }",
    )
    assert "l'entretien" in row["v"].value
    assert _count(store, """?s rdf:value ?v FILTER(CONTAINS(?v, "''"))""") == 0


def test_naf_sector_links_read_as_cp1252(shared_data: Path) -> None:
    stats = _map(shared_data, "rome-naf-sector-links.rq", "unix_arborescence_secteur_naf_v460_utf8.csv")
    assert len(stats.records) == 2920 and len(stats.entities) == 1584
