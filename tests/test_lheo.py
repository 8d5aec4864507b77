"""LHEO reader (streaming, namespaces, codes, errors, XSD), the synthetic generator, and the
quarantine of courses citing an unknown certification or placed in an unknown commune."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.build import build
from kg.config import Settings
from kg.errors import SourceError
from kg.manifest import Manifest, load_manifest
from kg.mapping import MappingStats, map_file
from kg.sources import lheo_reader
from kg.sources.records import read_records
from kg.store import open_store
from synthetic import lheo as synthetic_lheo
from tests.conftest import ROOT, SHARED_DATA, TEST_BASE

NS23 = "http://lheo.gouv.fr/2.3"
NS22 = "http://www.lheo.org/2.2"
XSD = SHARED_DATA / "training" / "lheo" / "lheo-2.3.xsd"
needs_xsd = pytest.mark.skipif(not XSD.is_file(), reason=f"LHEO 2.3 schema {XSD} is absent (../shared/data)")
ID = TEST_BASE + "id/"


def _doc(namespace: str, body: str) -> str:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<lheo xmlns="{namespace}">\n<offres>\n'
    return f"{head}{body}</offres>\n</lheo>\n"


FORMATION = """<formation numero="F1">
<domaine-formation>
<code-FORMACODE ref="V14">24136</code-FORMACODE>
<code-FORMACODE ref="V14">24106</code-FORMACODE>
<code-ROME ref="V4">I1321</code-ROME>
<code-ROME>I1304</code-ROME>
</domaine-formation>
<intitule-formation>Maintenance éolienne</intitule-formation>
<certification><code-RNCP>35178</code-RNCP></certification>
<certification><code-RNCP>RNCP36968</code-RNCP></certification>
<action numero="A1">
<session numero="S1"><periode><debut>20260105</debut><fin>20260630</fin></periode></session>
<session numero="S2"><periode><debut>20260907</debut><fin>20270226</fin></periode></session>
<extras info="financement"><extra info="cpf">oui</extra></extras>
</action>
<action numero="A2"><modalites-enseignement>1</modalites-enseignement></action>
<organisme-formation-responsable>
<SIRET-organisme-formation><SIRET>79134820400011</SIRET></SIRET-organisme-formation>
</organisme-formation-responsable>
</formation>
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "offres.xml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("namespace", [NS23, NS22])
def test_one_record_per_session_with_ancestor_keys(tmp_path: Path, namespace: str) -> None:
    path = _write(tmp_path, _doc(namespace, FORMATION))
    records = list(read_records(path, "lheo", {"validate": "none"}))
    assert [(r.number, r.values.get("session_numero"), r.values["action_numero"]) for r in records] == [
        (15, "S1", "A1"),
        (16, "S2", "A1"),
        (19, None, "A2"),  # an action without session is a record of its own
    ]
    first = records[0].values
    # the body comes after the actions in the document and is still on every record
    assert (
        first["formation_organisme_formation_responsable_SIRET_organisme_formation_SIRET"] == "79134820400011"
    )
    assert first["formation_domaine_formation_code_FORMACODE"] == "24136|24106"
    assert first["formation_domaine_formation_code_ROME_V4"] == "I1321"
    assert first["formation_domaine_formation_code_ROME"] == "I1304"
    assert first["formation_certification_code_RNCP"] == "35178|RNCP36968"
    assert first["action_extras_extra_cpf"] == "oui"
    assert first["session_periode_debut"] == "20260105"
    assert records[2].values["action_modalites_enseignement"] == "1"


def test_record_option_and_explode(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc(NS23, FORMATION))
    assert [r.number for r in read_records(path, "lheo", {"validate": "none", "record": "action"})] == [
        14,
        19,
    ]
    assert [r.number for r in read_records(path, "lheo", {"validate": "none", "record": "formation"})] == [4]
    column = "formation_domaine_formation_code_FORMACODE"
    exploded = list(read_records(path, "lheo", {"validate": "none", "explode": column}))
    # S1 gives one record per code; S2 (same codes) one record with none; A2 one per code again
    assert [(r.number, r.values[column]) for r in exploded] == [
        (15, "24136"),
        (15, "24106"),
        (16, None),
        (19, "24136"),
        (19, "24106"),
    ]


def test_minified_document_numbers_stay_unique(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc(NS23, FORMATION.replace("\n", "")))
    records = list(read_records(path, "lheo", {"validate": "none"}))
    assert [r.number for r in records] == [4, 5, 6]
    assert {r.values["source_line"] for r in records} == {"4"}


def test_many_formations_stream_with_unique_numbers(tmp_path: Path) -> None:
    """Each formation is dropped from the tree once read (memory is measured by
    benchmarks/supply.py: libxml2's memory is invisible to tracemalloc)."""
    path = _write(tmp_path, _doc(NS23, FORMATION * 50))
    numbers = [r.number for r in lheo_reader.read_lheo(path, {"validate": "none"})]
    assert len(numbers) == 150 and len(set(numbers)) == 150 and numbers == sorted(numbers)


@pytest.mark.parametrize(
    ("content", "line", "rule"),
    [
        (_doc(NS23, '<formation numero="F1"><action></formation>'), 4, "malformed XML"),
        ("<lheo xmlns='http://example.org/other'><offres/></lheo>", 1, "not an LHEO 2.2/2.3 document"),
        ("", None, "malformed XML"),
    ],
)
def test_bad_documents_stop_with_a_clear_error(
    tmp_path: Path, content: str, line: int | None, rule: str
) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(SourceError) as caught:
        list(read_records(path, "lheo", {"validate": "none"}))
    assert rule in str(caught.value) and str(path) in str(caught.value)
    if line is not None:
        assert caught.value.line == line


def test_wrong_encoding_is_named(tmp_path: Path) -> None:
    text = _doc(NS23, '<formation numero="F1"><intitule-formation>Maçon</intitule-formation></formation>\n')
    path = _write(tmp_path, text.encode("latin-1"))  # declared UTF-8, written Latin-1
    with pytest.raises(SourceError) as caught:
        list(read_records(path, "lheo", {"validate": "none"}))
    assert "wrong encoding" in caught.value.rule and caught.value.line == 4


@needs_xsd
def test_xsd_violation_names_line_element_and_rule(tmp_path: Path) -> None:
    bad = (ROOT / "demo" / "supply" / "lheo-offres-normandie.xml").read_text(encoding="utf-8")
    bad = bad.replace("<code-NSF>343</code-NSF>", "<code-NSF>3433</code-NSF>", 1)
    line = bad[: bad.index("3433")].count("\n") + 1
    path = _write(tmp_path, bad)
    with pytest.raises(SourceError) as caught:
        list(read_records(path, "lheo", {"invalid": "stop", "xsd": str(XSD)}))
    error = caught.value
    assert (error.line, error.field) == (line, "code-NSF")
    assert error.rule.startswith("XSD violation (lheo-2.3.xsd)") and "maxLength" in error.rule
    # by default the bad formation gives one record with the reason; the others load
    records = list(read_records(path, "lheo", {"xsd": str(XSD)}))
    flagged = [r for r in records if "xsd_error" in r.values]
    assert len(flagged) == 1 and f"line {line}, element code-NSF" in (flagged[0].values["xsd_error"] or "")
    assert len(records) == 30 - 3 + 1  # 30 demo sessions; the valoriste formation (3 sessions) is one record


@needs_xsd
def test_formation_rejected_by_the_xsd_reaches_the_quarantine(tmp_path: Path) -> None:
    """Its record produces no entity (nothing skips it), so the build keeps it as a quarantined
    record with its cells, ``xsd_error`` included; the other formations map."""
    bad = (ROOT / "demo" / "supply" / "lheo-offres-normandie.xml").read_text(encoding="utf-8")
    path = _write(tmp_path, bad.replace("<code-NSF>343</code-NSF>", "<code-NSF>3433</code-NSF>", 1))
    stats = MappingStats()
    for mapping in ("lheo-offers.rq", "lheo-codes.rq"):
        list(map_file(ROOT / "mappings" / mapping, path, TEST_BASE, {"xsd": str(XSD)}, stats))
    marked = set().union(*stats.entities.values())
    rejected = [n for n, values in stats.unmapped.items() if n not in marked and values.get("xsd_error")]
    assert len(rejected) == 1 and not stats.skipped
    assert len(marked) == 30 - 3


def test_xsd_required_but_absent(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc(NS23, FORMATION))
    with pytest.raises(SourceError, match=r"LHEO schema .* is not found"):
        list(read_records(path, "lheo", {"validate": "xsd", "xsd": str(tmp_path / "none.xsd")}))


@needs_xsd
def test_demo_file_and_generator_are_schema_valid(tmp_path: Path) -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(ROOT / "demo" / "supply" / "lheo-offres-normandie.xml")))
    path = tmp_path / "synthetic.xml"
    synthetic_lheo.generate(path, 300, seed=3)
    assert schema.validate(etree.parse(str(path))), schema.error_log.last_error
    assert synthetic_lheo.bare_parse(path) == 300
    again = tmp_path / "again.xml"
    synthetic_lheo.generate(again, 300, seed=3)
    assert again.read_bytes() == path.read_bytes()  # deterministic for a seed
    assert sum(1 for _ in read_records(path, "lheo", {"xsd": str(XSD)})) == 300


def test_real_lheo_example_maps(shared_data: Path) -> None:
    path = shared_data / "training" / "lheo" / "exemple-lheo-2.2-bts-onisep.xml"
    stats = MappingStats()
    triples = {str(t) for t in map_file(ROOT / "mappings" / "lheo-codes.rq", path, TEST_BASE, stats=stats)}
    assert (
        f"<{ID}course/9436_18706> <https://w3id.org/passerelles/ontology#preparesFor> <{ID}rncp/RNCP474>"
        in triples
    )
    assert len(stats.records) == 1 and not stats.unmapped
    offers = {str(t) for t in map_file(ROOT / "mappings" / "lheo-offers.rq", path, TEST_BASE)}
    assert (
        f'<{ID}siret/19290076900014> <https://w3id.org/passerelles/ontology#activityNumber> "99999999999"'
        in offers
    )


def test_real_catalogue_maps(shared_data: Path) -> None:
    path = (
        shared_data
        / "training"
        / "catalogue-apprentissage"
        / "catalogue_formations_apprentissage_sample.json"
    )
    stats = MappingStats()
    triples = [
        str(t)
        for t in map_file(
            ROOT / "mappings" / "catalogue-apprentissage-courses.rq", path, TEST_BASE, stats=stats
        )
    ]
    assert stats.records == {1, 2} and not stats.unmapped
    assert any("preparesFor> <" + ID + "rncp/RNCP36721>" in t for t in triples)
    assert any('diplomaCode> "46X25201"' in t for t in triples)


# --- quarantine in a demo-like mini build --------------------------------------------------

BAD_OFFERS = """<formation numero="Q1"><intitule-formation>Formation valide</intitule-formation>
<certification><code-RNCP>RNCP35178</code-RNCP></certification>
<action numero="QA1"><lieu-de-formation><coordonnees><ligne>Site de Caen</ligne>
<adresse><ligne>1 rue X</ligne>
<codepostal>14000</codepostal><ville>Caen</ville><code-INSEE-commune>14118</code-INSEE-commune></adresse>
</coordonnees></lieu-de-formation>
<session numero="QS1"><periode><debut>20260105</debut><fin>20260630</fin></periode>
</session></action>
<organisme-formation-responsable><SIRET-organisme-formation><SIRET>84217653900018</SIRET>
</SIRET-organisme-formation>
<nom-organisme>Atelier Réemploi Normandie Formation</nom-organisme>
</organisme-formation-responsable></formation>
<formation numero="Q2"><intitule-formation>Formation à certification inconnue</intitule-formation>
<certification><code-RNCP>99999</code-RNCP></certification>
<action numero="QA2"><session numero="QS2"><periode><debut>20260105</debut><fin>20260630</fin></periode>
</session>
</action>
<organisme-formation-responsable><SIRET-organisme-formation><SIRET>84217653900018</SIRET>
</SIRET-organisme-formation>
<nom-organisme>Atelier Réemploi Normandie Formation</nom-organisme>
</organisme-formation-responsable></formation>
<formation numero="Q3"><intitule-formation>Formation en commune inconnue</intitule-formation>
<action numero="QA3"><lieu-de-formation><coordonnees><ligne>Site inconnu</ligne>
<adresse><ligne>2 rue Y</ligne>
<codepostal>14000</codepostal><ville>Nulle part</ville>
<code-INSEE-commune>14999</code-INSEE-commune></adresse>
</coordonnees></lieu-de-formation>
<session numero="QS3"><periode><debut>20260105</debut><fin>20260630</fin></periode>
</session></action>
<organisme-formation-responsable><SIRET-organisme-formation><SIRET>84217653900018</SIRET>
</SIRET-organisme-formation>
<nom-organisme>Atelier Réemploi Normandie Formation</nom-organisme>
</organisme-formation-responsable></formation>
"""


def _ask(store: ox.Store, query: str) -> bool:
    result = store.query(
        "PREFIX pas: <https://w3id.org/passerelles/ontology#> "
        "PREFIX sh: <http://www.w3.org/ns/shacl#> " + query
    )
    assert isinstance(result, ox.QueryBoolean)
    return bool(result)


def test_unknown_certification_and_commune_are_quarantined(tmp_path: Path) -> None:
    demo = load_manifest(ROOT / "demo" / "sources.toml")
    offers = _write(tmp_path, _doc(NS22, BAD_OFFERS))  # 2.2: not schema-validated, no schema needed
    sources = [
        demo.get("cog-communes"),
        demo.get("rncp-rome"),
        dataclasses.replace(demo.get("lheo-offers"), file=str(offers)),
    ]
    manifest = Manifest(
        sources=sources, data_dir=demo.data_dir, path=demo.path, mappings_dir=demo.mappings_dir
    )
    settings = dataclasses.replace(Settings(), store=tmp_path / "store", base_iri=TEST_BASE)
    result = build(manifest, settings)
    report = result.sources[-1]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 1, 2)
    store = open_store(tmp_path / "store")
    graph = f"<{TEST_BASE}graph/lheo-offers/demo>"
    quarantine = f"<{TEST_BASE}graph/quarantine/lheo-offers/demo>"
    assert _ask(store, f"ASK {{ GRAPH {graph} {{ <{ID}course/QA1> pas:preparesFor <{ID}rncp/RNCP35178> }} }}")
    assert _ask(store, f"ASK {{ GRAPH {graph} {{ <{ID}session/QS1> pas:trainingPlace ?p }} }}")
    assert not _ask(store, f"ASK {{ GRAPH {graph} {{ <{ID}course/QA2> ?p ?o }} }}")
    assert _ask(
        store,
        f"""ASK {{ GRAPH {quarantine} {{ ?r sh:focusNode <{ID}course/QA2> ;
        sh:resultMessage ?m FILTER(LANG(?m) = "en" && STRSTARTS(?m, "Unknown certification")) }} }}""",
    )
    assert _ask(
        store,
        f"""ASK {{ GRAPH {quarantine} {{ ?r sh:focusNode ?place ; sh:resultMessage ?m .
        ?place pas:commune <{ID}commune/14999> FILTER(STRSTARTS(?m, "Unknown municipality")) }} }}""",
    )
    # the session held at the unknown place follows it (its place is no longer a TrainingPlace)
    assert _ask(store, f"ASK {{ GRAPH {quarantine} {{ <{ID}session/QS3> pas:code 'QS3' }} }}")


def test_map_source_reads_the_file_once_for_both_mappings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build's single pass (both LHEO mappings fed from one read, each with its own explode)
    gives the triples, record numbers and entity marks of one read per mapping."""
    from kg import build as build_module
    from kg.sources import records as records_module

    manifest = load_manifest(ROOT / "demo" / "sources.toml")
    spec = manifest.get("lheo-offers")
    path = spec.path(manifest.data_dir)
    alone = MappingStats(entities={})  # a plain dict, to compare with the compact marks
    expected: set[str] = set()
    for mapping in spec.mappings:
        expected |= {str(t) for t in map_file(manifest.mappings_dir / mapping, path, TEST_BASE, stats=alone)}
    reads: list[dict[str, str]] = []
    real_read = records_module.read_records

    def counting_read(path: Path, fmt: str, options: dict[str, str]) -> object:
        reads.append(dict(options))
        return real_read(path, fmt, options)

    monkeypatch.setattr(records_module, "read_records", counting_read)
    report, stats, spool = build_module.map_source(
        spec, manifest.data_dir, TEST_BASE, manifest.mappings_dir, tmp_path
    )
    assert len(reads) == 1 and "explode" not in reads[0]
    shared = {str(q.triple) for q in ox.parse(path=spool, format=ox.RdfFormat.N_TRIPLES)}
    assert shared == expected and len(expected) > 100
    assert stats.records == alone.records and report.rows_read == len(alone.records)
    assert len(stats.entities) == len(alone.entities)
    for entity, numbers in alone.entities.items():
        assert stats.entities.get(entity) == numbers, entity
