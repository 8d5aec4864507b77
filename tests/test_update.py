"""``kg build --only``: one source replaced atomically, the default graph kept right, versions
described in the catalogue, unchanged inputs recognised, failures leaving the served store."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.build import BuildResult
from kg.config import Settings
from kg.errors import BuildError, SourceError
from kg.manifest import load_manifest
from kg.namespaces import sparql_prologue
from kg.store import REPORT_FILE, StoreLayout, open_store
from kg.update import NoOp, run
from tests.conftest import ROOT, TEST_BASE

FIXTURE = ROOT / "tests" / "fixtures" / "build"
SHAPES = FIXTURE / "shapes"
ID = TEST_BASE + "id/"
OCC = f"{TEST_BASE}graph/mini-occupations/t1"
APP = f"{TEST_BASE}graph/mini-appellations/t1"
CATALOG = f"{TEST_BASE}graph/catalog"
PREFIXES = """PREFIX pas: <https://w3id.org/passerelles/ontology#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
"""
# The occupations file after a hand-made change: A1101 removed, I1407 relabelled, K2111 added.
CHANGED = (
    "code;label;parent\n"
    "I1407;Réparateur de téléphones;I1402\n"
    "ZZ99;Code faux;I1402\n"
    "#x;commentaire;\n"
    ";sans code;A1101\n"
    "H1203;;H1203\n"
    "K2111;Formateur / Formatrice;K2111\n"
)
# A third source: the same mapping over a file sharing the I1407 row with mini-occupations.
EXTRA_SOURCE = """
[[source]]
name = "mini-extra"
title = "Fiches miniatures bis (tests)"
file = "extra.csv"
mappings = ["mini-occupations.rq"]
version = "t1"
publisher = "Passerelles tests"
dataset_page = "https://example.org/dataset"
download_url = "https://example.org/extra.csv"
licence = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
media_type = "text/csv"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A writable copy of the build fixture (the tests edit its files)."""
    copy = tmp_path / "fixture"
    shutil.copytree(FIXTURE, copy)
    return copy


def _settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings(), store=tmp_path / "store", base_iri=TEST_BASE)


def _run(tmp_path: Path, folder: Path, **options: object) -> BuildResult | NoOp:
    manifest = load_manifest(folder / "sources.toml", mappings_dir=folder / "mappings")
    return run(manifest, _settings(tmp_path), shapes_dir=SHAPES, **options)  # type: ignore[arg-type]


def _built(result: BuildResult | NoOp) -> BuildResult:
    assert isinstance(result, BuildResult), result
    return result


def _graph(store: ox.Store, graph: str | None) -> set[str]:
    name = ox.NamedNode(graph) if graph else ox.DefaultGraph()
    return {str(q.triple) for q in store.quads_for_pattern(None, None, None, name)}


def _ask(store: ox.Store, query: str) -> bool:
    result = store.query(PREFIXES + query)
    assert isinstance(result, ox.QueryBoolean)
    return bool(result)


def _data(store: ox.Store) -> set[str]:
    """The default graph without the catalogue's copy (which names builds and times) and the
    ontology's blank nodes (named afresh by each build)."""
    catalog = _graph(store, CATALOG)
    return {t for t in _graph(store, None) - catalog if "_:" not in t}


def _leftovers(tmp_path: Path) -> list[Path]:
    layout = StoreLayout(tmp_path / "store")
    return list(layout.builds.glob(".tmp-*")) + list(layout.root.glob(".current-*"))


def test_update_replaces_only_that_graph_and_matches_a_full_build(tmp_path: Path, folder: Path) -> None:
    first = _built(_run(tmp_path, folder))
    before = open_store(tmp_path / "store")
    appellations, ontology = _graph(before, APP), _graph(before, f"{TEST_BASE}graph/ontology")
    del before
    (folder / "data" / "occupations.csv").write_text(CHANGED, encoding="utf-8")
    result = _built(_run(tmp_path, folder, only=["mini-occupations"]))
    assert result.updated == ["mini-occupations"] and result.previous_build == first.build_id
    assert StoreLayout(tmp_path / "store").current() == result.store_dir.resolve()
    assert (result.store_dir / "dumps" / "dumps.json").is_file()  # regression: an update wrote no dumps
    store = open_store(tmp_path / "store")
    assert _graph(store, APP) == appellations and _graph(store, f"{TEST_BASE}graph/ontology") == ontology
    assert _ask(
        store, f'ASK {{ GRAPH <{OCC}> {{ <{ID}rome/I1407> skos:prefLabel "Réparateur de téléphones"@fr }} }}'
    )
    assert not _ask(store, f"ASK {{ <{ID}rome/A1101> ?p ?o }}")
    # the same inputs built from scratch give the same data, graph by graph
    full = _built(_run(tmp_path / "full", folder))
    scratch = open_store(full.store_dir.parent.parent)
    assert _data(store) == _data(scratch)
    for graph in (OCC, APP):
        assert _graph(store, graph) == _graph(scratch, graph)
    report = json.loads((result.store_dir / REPORT_FILE).read_text(encoding="utf-8"))
    assert report["updated"] == ["mini-occupations"]
    assert [s["name"] for s in report["sources"]] == ["mini-occupations", "mini-appellations"]
    assert report["changes"]["mini-occupations"]["changed"] == [f"{ID}rome/I1407"]


def test_change_counts_and_previous_version_in_catalog(tmp_path: Path, folder: Path) -> None:
    first = _built(_run(tmp_path, folder))
    old_sha = first.sources[0].sha256
    (folder / "data" / "occupations.csv").write_text(CHANGED, encoding="utf-8")
    result = _built(_run(tmp_path, folder, only=["mini-occupations"]))
    change = result.changes["mini-occupations"]
    assert (change.entities_added, change.entities_removed, change.entities_changed) == (1, 1, 1)
    assert (change.added, change.removed, change.changed) == (
        [f"{ID}rome/K2111"],
        [f"{ID}rome/A1101"],
        [f"{ID}rome/I1407"],
    )
    assert (change.triples_added, change.triples_removed) == (5, 5)  # 4 for K2111 + 1 label; same out
    store = open_store(tmp_path / "store")
    old_version = f"{TEST_BASE}version/mini-occupations/{first.build_id}"
    new_version = f"{TEST_BASE}version/mini-occupations/{result.build_id}"
    assert _ask(
        store,
        f"""ASK {{ GRAPH <{CATALOG}> {{
        <{OCC}> pas:currentVersion <{new_version}> ; pas:sha256 ?sha .
        <{new_version}> a pas:SourceVersion ; prov:wasRevisionOf <{old_version}> ; pas:rowsRead 6 ;
            pas:sha256 ?sha .
        <{old_version}> a pas:SourceVersion ; pas:sha256 "{old_sha}" ; pas:rowsRead 6 ; pas:rowsLoaded 2 .
        ?change a pas:VersionChange ; pas:fromVersion <{old_version}> ; pas:toVersion <{new_version}> ;
            pas:entitiesAdded 1 ; pas:entitiesRemoved 1 ; pas:entitiesChanged 1 .
        FILTER (?sha != "{old_sha}") }} }}""",
    )
    # the graph has one current description (the old one was replaced, not added to)
    rows = store.query(PREFIXES + f"SELECT ?sha WHERE {{ GRAPH <{CATALOG}> {{ <{OCC}> pas:sha256 ?sha }} }}")
    assert len(list(rows)) == 1  # type: ignore[arg-type]


def test_default_graph_keeps_a_removed_triple_another_source_holds(tmp_path: Path, folder: Path) -> None:
    with (folder / "sources.toml").open("a", encoding="utf-8") as out:
        out.write(EXTRA_SOURCE)
    (folder / "data" / "extra.csv").write_text(
        "code;label;parent\nI1407;Réparateur / Réparatrice de smartphones;I1402\n", encoding="utf-8"
    )
    _run(tmp_path, folder)
    label = f'<{ID}rome/I1407> skos:prefLabel "Réparateur / Réparatrice de smartphones"@fr'
    parent_a = f"<{ID}rome/A1101> pas:romeV3Parent <{ID}rome-v3/A1101>"
    store = open_store(tmp_path / "store")
    assert _ask(store, f"ASK {{ {label} }}") and _ask(store, f"ASK {{ {parent_a} }}")
    del store
    # mini-occupations drops both: I1407's old label is shared with mini-extra, A1101 is not
    (folder / "data" / "occupations.csv").write_text(CHANGED, encoding="utf-8")
    _built(_run(tmp_path, folder, only=["mini-occupations"]))
    store = open_store(tmp_path / "store")
    assert _ask(store, f"ASK {{ {label} }}")  # still in the default graph (mini-extra has it)
    assert not _ask(store, f"ASK {{ GRAPH <{OCC}> {{ {label} }} }}")
    assert not _ask(store, f"ASK {{ {parent_a} }}")  # gone everywhere
    del store
    # and when mini-extra drops it too, it leaves the default graph
    (folder / "data" / "extra.csv").write_text("code;label;parent\n#vide;;\n", encoding="utf-8")
    _built(_run(tmp_path, folder, only=["mini-extra"]))
    assert not _ask(open_store(tmp_path / "store"), f"ASK {{ {label} }}")


def test_unchanged_inputs_are_a_no_op_unless_forced(tmp_path: Path, folder: Path) -> None:
    first = _built(_run(tmp_path, folder))
    layout = StoreLayout(tmp_path / "store")
    assert isinstance(_run(tmp_path, folder), NoOp)
    assert isinstance(_run(tmp_path, folder, only=["mini-appellations"]), NoOp)
    assert layout.current() == first.store_dir.resolve()
    forced = _built(_run(tmp_path, folder, only=["mini-appellations"], force=True))
    assert forced.changes["mini-appellations"].triples_added == 0
    assert forced.changes["mini-appellations"].triples_removed == 0
    assert layout.current() == forced.store_dir.resolve()
    # a changed mapping file is a changed input, even with the same data file
    mapping = folder / "mappings" / "mini-appellations.rq"
    mapping.write_text(mapping.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    assert isinstance(_run(tmp_path, folder), BuildResult)
    assert isinstance(_run(tmp_path, folder), NoOp)


def test_changed_shapes_refuse_a_partial_update(tmp_path: Path, folder: Path) -> None:
    _run(tmp_path, folder)
    manifest = load_manifest(folder / "sources.toml", mappings_dir=folder / "mappings")
    shapes = tmp_path / "shapes"
    shutil.copytree(SHAPES, shapes)
    with (shapes / "mini.ttl").open("a", encoding="utf-8") as out:
        out.write("\n# a comment changes the digest\n")
    with pytest.raises(BuildError, match="run a full build"):
        run(manifest, _settings(tmp_path), only=["mini-occupations"], shapes_dir=shapes)


def test_failed_update_leaves_the_served_store(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _built(_run(tmp_path, folder))
    layout = StoreLayout(tmp_path / "store")
    content = _graph(open_store(tmp_path / "store"), None)
    (folder / "data" / "occupations.csv").write_text(CHANGED + "B1234;trop;de;champs\n", encoding="utf-8")
    with pytest.raises(SourceError, match="line 8"):
        _run(tmp_path, folder, only=["mini-occupations"])
    assert layout.current() == first.store_dir.resolve() and not _leftovers(tmp_path)

    (folder / "data" / "occupations.csv").write_text(CHANGED, encoding="utf-8")

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected during validation")

    monkeypatch.setattr("kg.update.validate_nodes", crash)
    with pytest.raises(RuntimeError, match="injected"):
        _run(tmp_path, folder, only=["mini-occupations"])
    assert layout.current() == first.store_dir.resolve() and not _leftovers(tmp_path)
    assert [p.name for p in layout.builds.iterdir()] == [first.build_id]
    assert _graph(open_store(tmp_path / "store"), None) == content
    monkeypatch.undo()
    assert isinstance(_run(tmp_path, folder, only=["mini-occupations"]), BuildResult)  # the next one works


def test_quarantine_in_an_update(tmp_path: Path, folder: Path) -> None:
    _run(tmp_path, folder)
    (folder / "data" / "occupations.csv").write_text(CHANGED + "ZZ98;Code faux bis;I1402\n", encoding="utf-8")
    result = _built(_run(tmp_path, folder, only=["mini-occupations"]))
    report = next(r for r in result.sources if r.name == "mini-occupations")
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_skipped) == (
        7,
        2,
        4,
        1,
    )
    store = open_store(tmp_path / "store")
    quarantine = f"{TEST_BASE}graph/quarantine/mini-occupations/t1"
    assert _ask(store, f"ASK {{ GRAPH <{quarantine}> {{ <{ID}rome/ZZ98> pas:code 'ZZ98' }} }}")
    assert _ask(
        store,
        f"""ASK {{ GRAPH <{quarantine}> {{ ?r <http://www.w3.org/ns/shacl#focusNode> <{ID}rome/ZZ98> ;
            <http://www.w3.org/ns/shacl#resultMessage> "Invalid ROME code"@en }} }}""",
    )
    assert not _ask(store, f"ASK {{ <{ID}rome/ZZ98> ?p ?o }}")  # not published
    assert _ask(store, f"ASK {{ GRAPH <{quarantine}> {{ <{ID}rome/ZZ99> pas:code 'ZZ99' }} }}")  # still there


def test_update_that_breaks_another_source_re_reads_it(tmp_path: Path, folder: Path) -> None:
    """Removing fiche I1407 breaks appellation 38451 (of mini-appellations): that source is
    re-read in the same update, and its counts reconcile, as a full build would give."""
    _run(tmp_path, folder)
    text = CHANGED.replace("I1407;Réparateur de téléphones;I1402\n", "")
    (folder / "data" / "occupations.csv").write_text(text, encoding="utf-8")
    result = _built(_run(tmp_path, folder, only=["mini-occupations"]))
    assert result.updated == ["mini-occupations", "mini-appellations"]
    appellations = next(r for r in result.sources if r.name == "mini-appellations")
    assert (appellations.rows_read, appellations.rows_loaded, appellations.rows_quarantined) == (2, 0, 2)
    store = open_store(tmp_path / "store")
    assert not _ask(store, f"ASK {{ <{ID}appellation/38451> ?p ?o }}")
    full = _built(_run(tmp_path / "full", folder))
    assert _data(store) == _data(open_store(full.store_dir.parent.parent))


def test_file_option_replaces_the_manifest_file(tmp_path: Path, folder: Path) -> None:
    _run(tmp_path, folder)
    new_file = tmp_path / "occupations-2026.csv"
    new_file.write_text(CHANGED, encoding="utf-8")
    result = _built(_run(tmp_path, folder, only=["mini-occupations"], file=new_file))
    report = next(r for r in result.sources if r.name == "mini-occupations")
    assert report.file == "occupations-2026.csv"
    assert isinstance(_run(tmp_path, folder, only=["mini-occupations"], file=new_file), NoOp)
    with pytest.raises(BuildError, match="exactly one --only"):
        _run(tmp_path, folder, only=["mini-occupations", "mini-appellations"], file=new_file)


def test_update_needs_a_served_build(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(BuildError, match="run a full `kg build` first"):
        _run(tmp_path, folder, only=["mini-occupations"])


def test_cli_reports_what_was_replaced_and_errors_in_one_line(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from kg.cli import app

    monkeypatch.setattr("kg.validate.SHAPES_DIR", SHAPES)
    monkeypatch.setattr("kg.manifest.DEFAULT_MAPPINGS_DIR", folder / "mappings")
    monkeypatch.setenv("PASSERELLES_BASE_IRI", TEST_BASE)
    runner = CliRunner()
    base = ["build", "--manifest", str(folder / "sources.toml"), "--store", str(tmp_path / "store")]
    assert runner.invoke(app, base).exit_code == 0
    result = runner.invoke(app, [*base, "--only", "mini-occupations"])
    assert result.exit_code == 0 and "nothing to do" in result.output
    (folder / "data" / "occupations.csv").write_text(CHANGED, encoding="utf-8")
    result = runner.invoke(app, [*base, "--only", "mini-occupations"])
    assert result.exit_code == 0, result.output
    assert "Updating mini-occupations" in result.output
    assert "mini-occupations: entities +1 added, -1 removed, ~1 changed" in result.output
    assert "copy" in result.output and "total" in result.output
    for options, message in (
        (["--only", "nope"], "unknown source(s) nope"),
        (["--file", str(folder / "data" / "occupations.csv")], "--file needs exactly one --only"),
    ):
        result = runner.invoke(app, [*base, *options])
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output


def test_full_build_keeps_the_version_history(tmp_path: Path, folder: Path) -> None:
    first = _built(_run(tmp_path, folder))
    (folder / "data" / "occupations.csv").write_text(CHANGED, encoding="utf-8")
    update = _built(_run(tmp_path, folder, only=["mini-occupations"]))
    full = _built(_run(tmp_path, folder, force=True))
    store = open_store(tmp_path / "store")
    versions = [f"{TEST_BASE}version/mini-occupations/{b.build_id}" for b in (first, update, full)]
    assert _ask(
        store,
        f"""ASK {{ GRAPH <{CATALOG}> {{
        <{OCC}> pas:currentVersion <{versions[2]}> .
        <{versions[2]}> prov:wasRevisionOf <{versions[1]}> .
        <{versions[1]}> prov:wasRevisionOf <{versions[0]}> ; pas:rowsRead 6 .
        ?change pas:toVersion <{versions[1]}> ; pas:entitiesChanged 1 .
        <{TEST_BASE}build/{first.build_id}> a pas:Build }} }}""",
    )


def _geocoded_relays(settings: Settings) -> int:
    """How many VAE relays of the served graph have a commune (derived by the relay rules)."""
    query = "SELECT (COUNT(*) AS ?n) WHERE { ?r a pas:VaeRelay ; pas:commune ?c }"
    solutions = open_store(settings.store).query(sparql_prologue(TEST_BASE) + query)
    return int(next(iter(solutions))["n"].value)  # type: ignore[index, call-overload]


def test_update_runs_the_derivation_rules_of_the_replaced_source_again(tmp_path: Path) -> None:
    """Regression: an update of vae-relays lost the communes that rules 2–4 derive, because the
    rules saw the old derived triples in the published default graph."""
    from kg.cli import DEMO_MANIFEST

    demo = load_manifest(DEMO_MANIFEST)
    demo.sources = demo.select(
        ["cog-regions", "cog-departements", "cog-communes", "laposte-codes-postaux", "vae-relays"]
    )
    settings = _settings(tmp_path)

    _built(run(demo, settings))
    before = _geocoded_relays(settings)
    assert before >= 5
    _built(run(demo, settings, only=["vae-relays"], force=True))
    assert _geocoded_relays(settings) == before


def test_update_re_reads_the_sources_whose_rules_read_the_replaced_one(tmp_path: Path) -> None:
    """`--only cog-communes` re-reads vae-relays and cfa-regional (their rules in mappings/derive
    declare `#+ reads: cog-communes`): what those rules derive follows the new communes."""
    from kg.cli import DEMO_MANIFEST

    demo = load_manifest(DEMO_MANIFEST)
    territory = ["cog-regions", "cog-departements", "cog-communes", "laposte-codes-postaux"]
    demo.sources = demo.select([*territory, "vae-relays", "rome-riasec"])
    settings = _settings(tmp_path)

    _built(run(demo, settings))
    before = _geocoded_relays(settings)
    assert before >= 5
    result = _built(run(demo, settings, only=["cog-communes"], force=True))
    assert set(result.updated) == {"cog-communes", "vae-relays"}  # not rome-riasec
    assert _geocoded_relays(settings) == before
    # A revised communes file without the relays' communes: the relays lose them (a partial
    # update that kept the old derived links would not).
    spec = demo.get("cog-communes")
    communes = json.loads(spec.path(demo.data_dir).read_text(encoding="utf-8"))
    revised = tmp_path / "communes.json"
    revised.write_text(json.dumps([c for c in communes if c.get("departement") != "14"]), encoding="utf-8")
    store_before = _geocoded_relays(settings)
    _built(run(demo, settings, only=["cog-communes"], file=revised))
    assert _geocoded_relays(settings) < store_before


def test_stage_needed_for_offers_and_model_sources() -> None:
    from kg.cli import DEMO_MANIFEST
    from kg.provenance import SourceReport
    from kg.update import _stage_needed

    demo = load_manifest(DEMO_MANIFEST)
    fields = dict.fromkeys(["title", "file", "version", "sha256", "publisher", "licence", "dataset_page"], "")
    report = SourceReport(name="nlp-extraction", download_url="", mappings=[], **fields)
    served = {"nlp-extraction": report}
    assert _stage_needed(demo, ["offers-demo"], served)
    assert _stage_needed(demo, ["rome-skills"], served) and _stage_needed(demo, ["rncp-blocs"], served)
    assert not _stage_needed(demo, ["cog-communes"], served)
    assert not _stage_needed(demo, ["offers-demo"], {})  # the served build had no stage
