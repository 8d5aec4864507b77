"""Organisations module: the post-load derivation rules (VAE relay geocoding, hiring shares),
the region filter of national files with reconciled skip counts, and the quarantine of an
employer whose SIRET has a wrong check digit, in a small real build."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
from typer.testing import CliRunner

from kg.build import build
from kg.cli import app
from kg.config import Settings
from kg.derive import Rule, derive, load_rules
from kg.errors import SourceError
from kg.manifest import load_manifest
from tests.conftest import ROOT, TEST_BASE

PREFIXES = """
@prefix pas: <https://w3id.org/passerelles/ontology#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix id: <https://w3id.org/passerelles/id/> .
"""
# Communes as the territory sources load them: COG name, La Poste postcodes, delegated communes.
COMMUNES = (
    PREFIXES
    + """
id:commune\\/14118 a pas:Commune ; skos:prefLabel "Caen"@fr ; pas:postalCode "14000" ;
    pas:departement id:departement\\/14 .
id:commune\\/14762 a pas:Commune ; skos:prefLabel "Vire Normandie"@fr ; pas:postalCode "14500" ;
    pas:departement id:departement\\/14 .
id:commune-deleguee\\/14762 a pas:DelegatedCommune ; skos:prefLabel "Vire"@fr ;
    pas:parentCommune id:commune\\/14762 .
id:commune\\/14047 a pas:Commune ; skos:prefLabel "Bayeux"@fr ; pas:postalCode "14400" ;
    pas:departement id:departement\\/14 .
id:commune\\/14462 a pas:Commune ; skos:prefLabel "Nonant"@fr ; pas:postalCode "14400" ;
    pas:departement id:departement\\/14 .
id:commune\\/50502 a pas:Commune ; skos:prefLabel "Saint-Lô"@fr ; pas:postalCode "50000" ;
    pas:departement id:departement\\/50 .
id:commune\\/50129 a pas:Commune ; skos:prefLabel "Cherbourg-en-Cotentin"@fr ; pas:postalCode "50100" ;
    pas:departement id:departement\\/50 .
id:commune\\/76540 a pas:Commune ; skos:prefLabel "Rouen"@fr ; pas:postalCode "76000" , "76100" ;
    pas:departement id:departement\\/76 .
id:commune\\/16028 a pas:Commune ; skos:prefLabel "Barbezieux-Saint-Hilaire"@fr ; pas:postalCode "16300" ;
    pas:departement id:departement\\/16 .
id:commune\\/16056 a pas:Commune ; skos:prefLabel "Brie-sous-Barbezieux"@fr ; pas:postalCode "16300" ;
    pas:departement id:departement\\/16 .
"""
)
RELAYS = {  # town as the relay list writes it → expected commune (None: reported, not geocoded)
    ("14000", "CAEN", "14"): "14118",  # rule 1: postcode + name
    ("50000", "SAINT-LO", "50"): "50502",  # rule 1: accents, hyphen, case
    ("14500", "VIRE", "14"): "14762",  # rule 1: the name of a delegated commune
    ("14400", "NONANT", "14"): "14462",  # rule 1: a postcode shared by several communes
    ("50100", "CHERBOURG", "50"): "50129",  # rule 2: the only commune of the postcode
    ("16300", "Barbezieux", "16"): "16028",  # rule 3: a short form, one commune starts with it
    ("76037", "ROUEN CEDEX 1", "76"): "76540",  # rule 4: CEDEX postcode, name in the département
    ("61300", "L'AIGLE", "61"): None,  # no commune of the graph: stays without one
    ("14400", "BAYEUX-NONANT", "14"): None,  # two candidates, none chosen
}


def _relay_store(tmp_path: Path) -> tuple[ox.Store, ox.NamedNode, Path]:
    store = ox.Store()
    store.load(
        COMMUNES.encode(), format=ox.RdfFormat.TURTLE, to_graph=ox.NamedNode(f"{TEST_BASE}graph/cog/1")
    )
    relays = PREFIXES
    for n, (postcode, town, dep) in enumerate(RELAYS, start=1):
        relays += (
            f'id:vae-relay\\/r{n} a pas:VaeRelay ; pas:postalCode "{postcode}" ; pas:locality "{town}" ; '
            f"pas:departement id:departement\\/{dep} .\n"
        )
    graph = ox.NamedNode(f"{TEST_BASE}graph/vae-relays/1")
    store.load(relays.encode(), format=ox.RdfFormat.TURTLE, to_graph=graph)
    spool = tmp_path / "vae-relays.nt"
    spool.write_bytes(b"")
    return store, graph, spool


def test_relay_geocoding_rules(tmp_path: Path) -> None:
    store, graph, spool = _relay_store(tmp_path)
    counts = derive(store, TEST_BASE, {"vae-relays": (graph, spool)})
    found = {
        s["r"].value.rsplit("/", 1)[-1]: s["c"].value.rsplit("/", 1)[-1]
        for s in store.query(
            "SELECT ?r ?c WHERE { GRAPH ?g { ?r <https://w3id.org/passerelles/ontology#commune> ?c } }"
        )
    }
    expected = {f"r{n}": c for n, c in enumerate(RELAYS.values(), start=1) if c is not None}
    assert found == expected
    # The derived triples went to the relays' own graph and spool (validated and published with them).
    assert all(
        q.graph_name == graph
        for q in store.quads_for_pattern(None, None, None, None)
        if q.predicate.value.endswith("#commune")
    )
    assert (
        spool.read_bytes().count(b"\n")
        == len(expected)
        == sum(n for name, n in counts.items() if name.startswith("vae-relay-"))
    )
    assert "lbb-hiring-share.rq" not in counts  # its source is not in this build


def test_hiring_share_rule(tmp_path: Path) -> None:
    store = ox.Store()
    graph = ox.NamedNode(f"{TEST_BASE}graph/lbb-rome-naf-hirings/1")
    data = (
        PREFIXES
        + """
    id:hiring\\/a a pas:SectorHiring ; pas:hiringOccupation id:rome-v3\\/F1703 ; pas:hiringCount 300 .
    id:hiring\\/b a pas:SectorHiring ; pas:hiringOccupation id:rome-v3\\/F1703 ; pas:hiringCount 100 .
    id:hiring\\/c a pas:SectorHiring ; pas:hiringOccupation id:rome-v3\\/N1103 ; pas:hiringCount 7 .
    id:hiring\\/d a pas:SectorHiring ; pas:hiringOccupation id:rome-v3\\/K2304 ; pas:hiringCount 0 .
    """
    )
    store.load(data.encode(), format=ox.RdfFormat.TURTLE, to_graph=graph)
    spool = tmp_path / "h.nt"
    spool.write_bytes(b"")
    rules = [r for r in load_rules() if r.source == "lbb-rome-naf-hirings"]
    derive(store, TEST_BASE, {"lbb-rome-naf-hirings": (graph, spool)}, rules)
    shares = {
        s["h"].value.rsplit("/", 1)[-1]: float(s["s"].value)
        for s in store.query(
            "SELECT ?h ?s WHERE { GRAPH ?g { ?h <https://w3id.org/passerelles/ontology#hiringShare> ?s } }"
        )
    }
    assert shares == {"a": 0.75, "b": 0.25, "c": 1.0}  # no share where the occupation has no hirings


def test_rule_without_source_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.rq"
    path.write_text("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", encoding="utf-8")
    with pytest.raises(SourceError, match="source"):
        Rule.load(path)


HANDI = (
    "SIRET,Enseigne,Commune étab.,Existe déjà sur le refeEngagemet,source dans le refeEngagement,"
    "Action dev à faire sur ReferentielEngagementEntreprise\n"
    '1234567400019,REPAR\'MOBILE CAEN,CAEN,01234567400019,"[""france-travail""]",Rien à faire \n'
    '52290471300016,ENTREPOTS DE L\'ESTUAIRE,LE HAVRE,52290471300016,"[""france-travail""]",Rien à faire \n'
    '52290471300017,ENTREPOTS BIS,LE HAVRE,52290471300017,"[""france-travail""]",Rien à faire \n'
)


def test_region_filter_and_bad_siret_quarantine_reconcile(tmp_path: Path) -> None:
    """SIRENE with region 28: the closed and the Parisian establishments are skipped with their
    reasons; the handi-engaged list: a SIRET with a wrong check digit is quarantined with the
    Luhn message, the padded one loads. Every count reconciles."""
    data = tmp_path / "data"
    (data / "organisation").mkdir(parents=True)
    shutil.copy(ROOT / "demo" / "organisation" / "sirene_stock_etablissement_demo.csv", data / "organisation")
    (data / "organisation" / "handi.csv").write_text(HANDI, encoding="utf-8")
    demo = load_manifest(ROOT / "demo" / "sources.toml")
    sirene = dataclasses.replace(demo.get("sirene-establishments"), options={"region": "28"})
    handi = dataclasses.replace(demo.get("disability-committed-employers"), file="organisation/handi.csv")
    manifest = dataclasses.replace(demo, sources=[sirene, handi], data_dir=data)
    settings = dataclasses.replace(Settings(), store=tmp_path / "store", base_iri=TEST_BASE)
    result = build(manifest, settings)
    reports = {r.name: r for r in result.sources}
    s = reports["sirene-establishments"]
    assert (s.rows_read, s.rows_loaded, s.rows_quarantined, s.rows_skipped) == (16, 14, 0, 2)
    assert s.skip_reasons == {
        "outside region 28": 1,
        "closed establishment (etatAdministratifEtablissement F)": 1,
    }
    h = reports["disability-committed-employers"]
    assert (h.rows_read, h.rows_loaded, h.rows_quarantined, h.rows_skipped) == (3, 2, 1, 0)
    luhn = [r for r in result.results if r.severity == "Violation"]
    assert [r.focus_node.rsplit("/", 1)[-1].rstrip(">") for r in luhn] == ["52290471300017"]
    assert any("Luhn" in m for r in luhn for m in r.messages.values())


def test_cli_unknown_region_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["build", "--store", str(tmp_path / "s"), "--region", "99"])
    assert result.exit_code == 1
    assert "unknown region code '99'" in result.output


def test_cfa_list_in_the_wrong_encoding_is_a_clear_error() -> None:
    """The CFA list is Latin-1: read as UTF-8, the first accented byte stops the build with the
    file, the line and the rule."""
    from kg.mapping import map_file

    path = ROOT / "demo" / "organisation" / "cfa_sous_convention_regionale_uai_demo_latin1.csv"
    with pytest.raises(SourceError) as caught:
        list(map_file(ROOT / "mappings" / "cfa-regional.rq", path, TEST_BASE, {"encoding": "utf-8"}))
    message = str(caught.value)
    assert path.name in message and ", line " in message and "not decodable as utf-8" in message
