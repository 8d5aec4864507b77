"""The build: reconciled counts, quarantine with its report, provenance, atomic publication."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.build import build
from kg.config import Settings
from kg.errors import BuildError, SourceError
from kg.manifest import load_manifest
from kg.store import REPORT_FILE, StoreLayout, open_store
from tests.conftest import ROOT, TEST_BASE

FIXTURE = ROOT / "tests" / "fixtures" / "build"
ID = TEST_BASE + "id/"


def _manifest(folder: Path = FIXTURE):  # type: ignore[no-untyped-def]
    return load_manifest(folder / "sources.toml", mappings_dir=folder / "mappings")


def _settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings(), store=tmp_path / "store", base_iri=TEST_BASE)


def _build(tmp_path: Path, folder: Path = FIXTURE):  # type: ignore[no-untyped-def]
    return build(_manifest(folder), _settings(tmp_path), shapes_dir=FIXTURE / "shapes")


def _ask(store: ox.Store, query: str) -> bool:
    result = store.query("PREFIX pas: <https://w3id.org/passerelles/ontology#> " + query)
    assert isinstance(result, ox.QueryBoolean)
    return bool(result)


def test_counts_reconcile_and_report(tmp_path: Path) -> None:
    result = _build(tmp_path)
    report, _ = result.sources
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_skipped) == (
        6,
        2,
        3,
        1,
    )
    assert report.skip_reasons == {"comment line": 1}
    assert report.sha256 and len(report.sha256) == 64
    saved = json.loads((result.store_dir / REPORT_FILE).read_text(encoding="utf-8"))
    assert saved["sources"][0]["rows_quarantined"] == 3


def test_valid_entities_published_invalid_quarantined(tmp_path: Path) -> None:
    _build(tmp_path)
    store = open_store(tmp_path / "store")
    graph = f"<{TEST_BASE}graph/mini-occupations/t1>"
    quarantine = f"<{TEST_BASE}graph/quarantine/mini-occupations/t1>"
    assert _ask(store, f"ASK {{ GRAPH {graph} {{ <{ID}rome/I1407> pas:code 'I1407' }} }}")
    assert not _ask(store, f"ASK {{ GRAPH {graph} {{ <{ID}rome/ZZ99> ?p ?o }} }}")
    assert _ask(store, f"ASK {{ GRAPH {quarantine} {{ <{ID}rome/ZZ99> pas:code 'ZZ99' }} }}")
    # the report travels with the quarantined entity, in French and English
    assert _ask(
        store,
        f"""ASK {{ GRAPH {quarantine} {{
        ?r a <http://www.w3.org/ns/shacl#ValidationResult> ;
           <http://www.w3.org/ns/shacl#focusNode> <{ID}rome/ZZ99> ;
           <http://www.w3.org/ns/shacl#resultMessage> "Invalid ROME code"@en ,
                                                      "Code ROME invalide"@fr }} }}""",
    )
    # the record with no code produced no entity: kept as a raw record with its cells
    assert _ask(store, f"ASK {{ GRAPH {quarantine} {{ ?r a pas:QuarantinedRecord ; pas:sourceRow 6 }} }}")


def test_quarantine_cascades_to_entities_linking_to_a_quarantined_one(tmp_path: Path) -> None:
    """The appellation of fiche ZZ99 conforms until ZZ99 is quarantined; the next round finds it."""
    result = _build(tmp_path)
    appellations = result.sources[1]
    assert (appellations.rows_read, appellations.rows_loaded, appellations.rows_quarantined) == (2, 1, 1)
    store = open_store(tmp_path / "store")
    assert _ask(store, f"ASK {{ <{ID}appellation/38451> pas:appellationOf <{ID}rome/I1407> }}")
    assert not _ask(store, f"ASK {{ <{ID}appellation/99999> ?p ?o }}")
    quarantine = f"<{TEST_BASE}graph/quarantine/mini-appellations/t1>"
    assert _ask(store, f"ASK {{ GRAPH {quarantine} {{ <{ID}appellation/99999> pas:code '99999' }} }}")


def test_catalog_describes_graph(tmp_path: Path) -> None:
    _build(tmp_path)
    store = open_store(tmp_path / "store")
    assert _ask(
        store,
        f"""ASK {{ GRAPH <{TEST_BASE}graph/catalog> {{
        <{TEST_BASE}graph/mini-occupations/t1> a pas:SourceGraph ; pas:rowsRead 6 ; pas:rowsLoaded 2 ;
            pas:rowsQuarantined 3 ; pas:rowsSkipped 1 ; pas:sha256 ?sha ;
            <http://rdfs.org/ns/void#triples> ?n ;
            <http://purl.org/dc/terms/license> <https://www.etalab.gouv.fr/licence-ouverte-open-licence/> ;
            <http://www.w3.org/ns/prov#wasGeneratedBy> ?build . ?build a pas:Build }} }}""",
    )


def _broken_copy(tmp_path: Path, csv_text: bytes) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(FIXTURE, folder)
    (folder / "data" / "occupations.csv").write_bytes(csv_text)
    return folder


def test_failed_build_leaves_previous_graph(tmp_path: Path) -> None:
    first = _build(tmp_path)
    layout = StoreLayout(tmp_path / "store")
    assert layout.current() == first.store_dir.resolve()
    broken = _broken_copy(tmp_path, b"code;label;parent\nA1101;x\n")
    with pytest.raises(SourceError) as error:
        _build(tmp_path, broken)
    assert "line 2" in str(error.value) and "2 fields where the header has 3" in str(error.value)
    assert layout.current() == first.store_dir.resolve()
    assert len(open_store(tmp_path / "store")) > 0
    assert not list(layout.builds.glob(".tmp-*"))


def test_interrupted_build_leaves_previous_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _build(tmp_path)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("kg.build.validate_union", crash)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path)
    layout = StoreLayout(tmp_path / "store")
    assert layout.current() == first.store_dir.resolve()
    assert not list(layout.builds.glob(".tmp-*"))


def test_stale_temporary_build_is_cleaned(tmp_path: Path) -> None:
    stale = tmp_path / "store" / "builds" / ".tmp-killed"
    stale.mkdir(parents=True)
    _build(tmp_path)
    assert not stale.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("code;label;parent\nA1101;Conduite d’engins;A1101\n".encode("cp1252"), "not decodable as utf-8"),
        (b"code;wrong;parent\nA1101;x;A1101\n", "missing column(s) label"),
        (b"", "empty file"),
        (b'code;label;parent\nA1101;"unterminated;A1101\n', "line 2"),
    ],
    ids=["encoding", "columns", "empty", "quote"],
)
def test_unreadable_file_stops_with_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    broken = _broken_copy(tmp_path, content)
    with pytest.raises(SourceError) as error:
        _build(tmp_path, broken)
    text = str(error.value)
    assert "occupations.csv" in text and message in text


def test_reconciliation_failure_is_an_error() -> None:
    from kg.build import reconcile
    from kg.mapping import MappingStats
    from kg.provenance import SourceReport

    stats = MappingStats(records={1, 2}, entities={"<x>": {1}})
    report = SourceReport("s", "t", "f", "v", "", "", "", "", "", [])
    stats.records.add(3)  # a record neither marked, nor skipped, nor seen as unmapped
    with pytest.raises(BuildError, match="do not reconcile"):
        reconcile(report, stats, set())
