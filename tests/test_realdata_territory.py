"""Territory mappings on the real files (COG 2026, EPCI, zones d'emploi 2020, La Poste), end to end.

Skips when ../shared/data is absent. Each real file is mapped once per session (cached).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pyoxigraph as ox

from kg.mapping import MappingStats, map_file
from tests.conftest import ROOT, TEST_BASE

ID = TEST_BASE + "id/"
PAS = "https://w3id.org/passerelles/ontology#"
SCHEMA = "https://schema.org/"
LABEL = "http://www.w3.org/2004/02/skos/core#prefLabel"


@cache
def _mapped(data: Path, mapping: str, file: str) -> tuple[ox.Store, MappingStats]:
    stats = MappingStats()
    store = ox.Store()
    store.extend(
        ox.Quad(t.subject, t.predicate, t.object)
        for t in map_file(ROOT / "mappings" / mapping, data / "territories" / file, TEST_BASE, stats=stats)
    )
    return store, stats


def _objects(store: ox.Store, subject: str, predicate: str) -> set[str]:
    return {
        q.object.value for q in store.quads_for_pattern(ox.NamedNode(subject), ox.NamedNode(predicate), None)
    }


def _count(store: ox.Store, predicate: str, obj: str) -> int:
    return sum(1 for _ in store.quads_for_pattern(None, ox.NamedNode(predicate), ox.NamedNode(obj)))


def test_communes_actuelles(shared_data: Path) -> None:
    store, stats = _mapped(shared_data, "cog-communes.rq", "cog2026_communes.json")
    assert 34_000 < len(stats.entities) < 36_000  # 34,969 communes actuelles in the COG 2026
    assert len(stats.records) == len(stats.entities) + len(stats.skipped)
    caen = ID + "commune/14118"
    assert _objects(store, caen, PAS + "code") == {"14118"}
    assert _objects(store, caen, LABEL) == {"Caen"}
    assert _objects(store, caen, PAS + "departement") == {ID + "departement/14"}
    assert _objects(store, caen, PAS + "region") == {ID + "region/28"}
    assert 2_600 < _count(store, PAS + "region", ID + "region/28") < 2_700  # Normandy: 2,644
    assert _objects(store, ID + "commune/2A004", PAS + "departement") == {ID + "departement/2A"}
    # collectivités d'outre-mer: no département
    assert _objects(store, ID + "commune/97502", PAS + "departement") == set()


def test_departements_regions(shared_data: Path) -> None:
    deps, dstats = _mapped(shared_data, "cog-departements.rq", "cog2026_departements.json")
    regs, rstats = _mapped(shared_data, "cog-regions.rq", "cog2026_regions.json")
    assert len(dstats.entities) == 101 and len(rstats.entities) == 18
    assert _objects(deps, ID + "departement/76", PAS + "chefLieu") == {ID + "commune/76540"}
    assert _objects(regs, ID + "region/28", LABEL) == {"Normandie"}


def test_epci_members(shared_data: Path) -> None:
    store, stats = _mapped(shared_data, "cog-epci.rq", "cog2026_epci.json")
    assert 1_200 < len(stats.entities) < 1_300
    caen_la_mer = ID + "epci/200065597"
    assert _objects(store, caen_la_mer, PAS + "epciType") == {"CU"}
    assert _objects(store, ID + "commune/14118", PAS + "epci") == {caen_la_mer}
    assert 40 < _count(store, PAS + "epci", caen_la_mer) < 60  # 48 member communes
    members = sum(1 for _ in store.quads_for_pattern(None, ox.NamedNode(PAS + "epci"), None))
    assert 34_000 < members < 36_000  # 34,871 member communes in all


def test_employment_zones(shared_data: Path) -> None:
    zones, zstats = _mapped(shared_data, "ze-liste.rq", "ze2020_liste_geo2022.csv")
    composition = "ze2020_composition_communale_geo2022.csv"
    links, lstats = _mapped(shared_data, "ze-composition.rq", composition)
    assert len(zstats.entities) == 306
    assert _objects(zones, ID + "zone-emploi/0051", PAS + "code") == {"0051"}
    assert len(lstats.entities) == 34_955
    caen_ze = {ID + "zone-emploi/2804"}
    assert _objects(links, ID + "commune/14118", PAS + "employmentZone") == caen_ze
    # geography 2022: Aurseulles is still listed under its old chef-lieu code
    assert _objects(links, ID + "commune/14011", PAS + "employmentZone") == caen_ze


def test_laposte_points(shared_data: Path) -> None:
    store, stats = _mapped(shared_data, "laposte-communes.rq", "laposte_hexasmal.csv")
    assert len(stats.records) == 39_193
    rouen = ID + "commune/76540"
    assert _objects(store, rouen, PAS + "postalCode") == {"76000", "76100"}
    assert _objects(store, rouen, SCHEMA + "latitude") == {"49.441495678"}
    # float noise (0.0025330820000000003) rounded to 9 decimals, not lost
    assert _objects(store, ID + "commune/14660", SCHEMA + "longitude") == {"0.002533082"}
    # Paris is listed by municipal arrondissement
    assert _objects(store, ID + "arrondissement-municipal/75101", PAS + "postalCode") == {"75001"}
    # chef-lieu code change: the point sits on the old code until the post-build repair
    assert _objects(store, ID + "commune/14011", SCHEMA + "latitude") == {"49.133433609"}
    assert _objects(store, ID + "commune/14581", SCHEMA + "latitude") == set()
