"""Real-data checks of the certification module: RNCP export and Certif Info 2024-10.

Each test maps one real file end to end and checks a few known facts; the folder ../shared/data
is optional (the ``shared_data`` fixture skips when it is absent).
"""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox

from kg.mapping import MappingStats, map_file
from tests.conftest import ROOT, TEST_BASE

ID = TEST_BASE + "id/"
PAS = "https://w3id.org/passerelles/ontology#"


def _map(mapping: str, path: Path) -> tuple[set[ox.Triple], MappingStats]:
    stats = MappingStats()
    triples = set(map_file(ROOT / "mappings" / mapping, path, TEST_BASE, stats=stats))
    return triples, stats


def _t(s: str, p: str, o: ox.NamedNode | ox.Literal) -> ox.Triple:
    return ox.Triple(ox.NamedNode(s), ox.NamedNode(p), o)


def test_rncp_rome_links(shared_data: Path) -> None:
    rncp = shared_data / "rncp"
    triples, stats = _map("rncp-rome.rq", rncp / "export_fiches_CSV_Rome_2026_02_01.csv")
    assert len(stats.records) == 65070 and not stats.skipped
    assert 23000 < len(stats.entities) < 24500
    rncp183 = ID + "rncp/RNCP183"
    assert _t(rncp183, PAS + "relatedOccupationV3", ox.NamedNode(ID + "rome-v3/I1306")) in triples
    domains = {t for t in triples if t.predicate.value == PAS + "relatedProfessionalDomain"}
    assert 60 < len(domains) < 90  # the 44 domain-level codes, 77 rows
    codes = {t.object.value.rsplit("/domaine/", 1)[1] for t in domains}
    assert all(len(c) in (1, 3) for c in codes) and "A11" in codes and "K" in codes


def test_rncp_certifiers_tab_stripped(shared_data: Path) -> None:
    rncp = shared_data / "rncp"
    triples, stats = _map("rncp-certifiers.rq", rncp / "export_fiches_CSV_Certificateurs_2026_02_01.csv")
    assert len(stats.records) == 39298
    ministry = ID + "siret/11000007200014"
    assert _t(ministry, PAS + "code", ox.Literal("11000007200014")) in triples
    assert _t(ID + "rncp/RNCP183", PAS + "certifier", ox.NamedNode(ministry)) in triples
    assert not any("\t" in t.object.value for t in triples if isinstance(t.object, ox.Literal))


def test_rncp_nsf_labels(shared_data: Path) -> None:
    triples, _ = _map("rncp-nsf.rq", shared_data / "rncp" / "export_fiches_CSV_Nsf_2026_02_01.csv")
    label = ox.Literal("Etablissement des documents comptables et de gestion", language="fr")
    assert _t(ID + "nsf/314t", "http://www.w3.org/2004/02/skos/core#prefLabel", label) in triples
    nsf = {t.subject for t in triples if t.object == ox.NamedNode(PAS + "NsfSpeciality")}
    assert 400 < len(nsf) < 520


def test_rncp_blocs_apostrophes(shared_data: Path) -> None:
    path = shared_data / "rncp" / "export_fiches_CSV_Blocs_De_Compétences_2024_01_17.csv"
    triples, stats = _map("rncp-blocs.rq", path)
    assert len(stats.entities) == 34351
    labels = [t.object.value for t in triples if t.predicate.value.endswith("#prefLabel")]
    assert not any("''" in v or "\n" in v for v in labels)
    bloc = ID + "bloc/RNCP183BC03"
    assert _t(bloc, PAS + "blockOf", ox.NamedNode(ID + "rncp/RNCP183")) in triples


def test_rncp_replacements(shared_data: Path) -> None:
    path = shared_data / "rncp" / "export_fiches_CSV_Ancienne_Nouvelle_Certification_2026_02_01.csv"
    triples, _ = _map("rncp-ancienne-nouvelle.rq", path)
    replaced = {t for t in triples if t.predicate.value == "http://purl.org/dc/terms/isReplacedBy"}
    assert 10000 < len(replaced) < 10600  # 10,313 distinct old → new pairs
    by = "http://purl.org/dc/terms/isReplacedBy"
    assert _t(ID + "rncp/RNCP183", by, ox.NamedNode(ID + "rncp/RNCP37876")) in replaced
    assert _t(ID + "rncp/RNCP18982", by, ox.NamedNode(ID + "rncp/RNCP1174")) in replaced


def test_certifinfo_titles_levels_access(shared_data: Path) -> None:
    path = shared_data / "training" / "certifinfo" / "certif_info_2024-10.csv"
    triples, stats = _map("certifinfo.rq", path)
    assert len(stats.records) == 10067 and len(stats.entities) == 9923
    rncp = ID + "rncp/RNCP35178"
    level = ox.Literal("5", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))
    assert _t(rncp, PAS + "europeanLevel", level) in triples
    assert _t(rncp, PAS + "accessMode", ox.NamedNode(PAS + "AccessVAE")) in triples
    entry = ID + "certifinfo/109791"
    assert _t(entry, PAS + "describesCertification", ox.NamedNode(rncp)) in triples
    assert _t(entry, PAS + "relatedOccupationV3", ox.NamedNode(ID + "rome-v3/I1304")) in triples
    described = {t.object for t in triples if t.predicate.value == PAS + "describesCertification"}
    assert 6000 < len(described) < 6400  # 4,868 RNCP + 1,320 RS
