"""The organisations mappings and derivation rules on the real files of ../shared/data (skipped
when the folder is absent): the 33 Normandy VAE relay points geocoded, the handi-engaged SIRETs
zero-padded, the apprenticeship referential kept to Normandy by the region filter."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyoxigraph as ox

from kg.derive import derive, load_rules
from kg.mapping import Mapping, MappingRunner, MappingStats, map_file
from kg.sources.records import read_records
from tests.conftest import ROOT, TEST_BASE
from tests.test_realdata_organisation import luhn_ok

NORMANDY = ("14", "27", "50", "61", "76")
PAS = "https://w3id.org/passerelles/ontology#"


def _normandy_communes(shared: Path) -> bytes:
    """Normandy's communes as the territory sources give them (COG name and département, La Poste
    postcodes, delegated communes), written directly: mapping the national files takes ~30 s."""
    cog = json.loads((shared / "territories" / "cog2026_communes.json").read_text(encoding="utf-8"))
    lines = []
    iri = f"<{TEST_BASE}id/"
    for c in cog:
        if c.get("region") != "28":
            continue
        name = json.dumps(c["nom"], ensure_ascii=False)
        if c["type"] == "commune-actuelle":
            node = f"{iri}commune/{c['code']}>"
            lines += [
                f"{node} <{PAS}departement> {iri}departement/{c['departement']}> .",
                f"{node} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{PAS}Commune> .",
                f"{node} <http://www.w3.org/2004/02/skos/core#prefLabel> {name}@fr .",
            ]
        elif c["type"] == "commune-deleguee":
            node = f"{iri}commune-deleguee/{c['code']}>"
            lines += [
                f"{node} <{PAS}parentCommune> {iri}commune/{c['chefLieu']}> .",
                f"{node} <http://www.w3.org/2004/02/skos/core#prefLabel> {name}@fr .",
            ]
    with (shared / "territories" / "laposte_hexasmal.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            if row["code_commune_insee"].startswith(NORMANDY):
                lines.append(
                    f'{iri}commune/{row["code_commune_insee"]}> <{PAS}postalCode> "{row["code_postal"]}" .'
                )
    return "\n".join(lines).encode()


def test_real_normandy_relays_geocoded(shared_data: Path, tmp_path: Path) -> None:
    store = ox.Store()
    store.load(
        _normandy_communes(shared_data),
        format=ox.RdfFormat.N_TRIPLES,
        to_graph=ox.NamedNode(f"{TEST_BASE}graph/cog/1"),
    )
    graph = ox.NamedNode(f"{TEST_BASE}graph/vae-relays/1")
    relays = map_file(
        ROOT / "mappings" / "vae-relays.rq",
        shared_data / "vae" / "points_relais_conseil_vae_2024-08.json",
        TEST_BASE,
    )
    store.extend(ox.Quad(t.subject, t.predicate, t.object, graph) for t in relays)
    spool = tmp_path / "relays.nt"
    spool.write_bytes(b"")
    derive(
        store,
        TEST_BASE,
        {"vae-relays": (graph, spool)},
        [r for r in load_rules() if r.source == "vae-relays"],
    )
    rows = list(
        store.query(f"""
        SELECT ?r ?c WHERE {{ GRAPH ?g {{ ?r a <{PAS}VaeRelay> ; <{PAS}departement> ?d .
            OPTIONAL {{ ?r <{PAS}commune> ?c }} }}
            FILTER(STRAFTER(STR(?d), "departement/") IN ("14", "27", "50", "61", "76")) }}""")
    )
    assert len(rows) == 33  # the 33 Normandy relay points of the 2024 list
    missing = [r["r"].value for r in rows if r["c"] is None]
    assert missing == [], f"Normandy relays not geocoded: {missing}"
    # Each lies in its own département's commune.
    assert all(r["c"].value.rsplit("/", 1)[-1][:2] in NORMANDY for r in rows)


def test_real_handi_sirets_zero_padded(shared_data: Path) -> None:
    path = shared_data / "disability" / "entreprises_handi_engagees_lba_2026-01.csv"
    with path.open(encoding="utf-8", newline="") as f:
        raw = [r["SIRET"].strip() for r in csv.DictReader(f)]
    short = [s for s in raw if len(s) < 14]
    assert len(short) == 106  # lost their leading zero(s) in a spreadsheet
    codes = {
        str(t.object.value)
        for t in map_file(ROOT / "mappings" / "disability-committed-employers.rq", path, TEST_BASE)
        if t.predicate.value == f"{PAS}code"
    }
    assert all(len(c) == 14 and c.isdigit() for c in codes)
    padded = {s.zfill(14) for s in short}
    assert padded <= codes
    # Padding restores a valid SIRET: the check digit (or La Poste's rule) holds for all of them.
    assert [s for s in padded if not luhn_ok(s)] == []


def test_real_apprenticeship_referential_region_filter(shared_data: Path) -> None:
    path = shared_data / "bodies" / "referentiel_organismes_apprentissage_extrait_2024.json"
    mapping = Mapping.load(ROOT / "mappings" / "apprenticeship-bodies.rq")
    stats = MappingStats()
    runner = MappingRunner(mapping, TEST_BASE, options={"region": "28"})
    list(runner.run(read_records(path, mapping.format, mapping.options), stats))
    kept = {n for ns in stats.entities.values() for n in ns}
    assert len(stats.records) == 808
    assert len(kept) == 40  # Normandy: 76: 20, 27: 9, 50: 5, 14: 3, 61: 3
    assert set(stats.skipped.values()) == {"outside region 28"}
    assert len(kept) + len(stats.skipped) == len(stats.records)
