"""``kg build``: sources → mappings → named graphs → SHACL validation → quarantine → store.

One way through: for each source of the manifest, its records are mapped into the source's
named graph of a fresh store; the union is validated; every entity with a violation moves,
with its report, to the source's quarantine graph (validation repeats until nothing new is
found, since removing an entity can break a link to it); the counts must reconcile (records
read = loaded + quarantined + skipped); the graphs are described in the catalogue graph;
and only then the new store replaces the served one (see :mod:`kg.store`).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox

from kg.config import PROJECT_ROOT, Settings
from kg.derive import derive
from kg.dumps import DUMPS_DIR, write_dumps
from kg.errors import BuildError
from kg.heap import fewer_collections
from kg.inputs import InputDigests, global_digest, sha256_of, source_digest
from kg.manifest import Manifest, SourceSpec
from kg.mapping import Mapping, MappingStats, map_source_file
from kg.namespaces import PAS, RDF, RDFS, prefixes_for
from kg.provenance import (
    SourceReport,
    VersionChange,
    carried_history,
    describe,
    graph_iri,
    quarantine_iri,
    result_quads,
)
from kg.store import REPORT_FILE, StoreLayout, scratch_file
from kg.validate import node_term, ontology_graph, validate_neighbourhood, validate_union, write_union
from kg.validate_engine import ValidationResult

MAPPINGS_DIR = PROJECT_ROOT / "mappings"
MAX_VALIDATION_ROUNDS = 5


@dataclass
class BuildResult:
    """What a build did, source by source, with its timings."""

    build_id: str
    store_dir: Path
    sources: list[SourceReport]
    results: list[ValidationResult]
    timings: dict[str, float] = field(default_factory=dict)
    graph_triples: dict[str, int] = field(default_factory=dict)
    inputs: InputDigests | None = None  # what the build read (see kg.inputs)
    updated: list[str] = field(default_factory=list)  # the sources an update replaced
    changes: dict[str, VersionChange] = field(default_factory=dict)  # by source, in an update
    previous_build: str = ""  # the build an update started from

    @property
    def violations(self) -> int:
        return sum(r.severity == "Violation" for r in self.results)

    @property
    def warnings(self) -> int:
        return sum(r.severity == "Warning" for r in self.results)

    def to_json(self) -> dict[str, object]:
        by_shape = Counter(f"{r.severity} {r.shape} {r.component}" for r in self.results)
        update = {"previous_build": self.previous_build, "updated": self.updated} if self.updated else {}
        return {
            "build_id": self.build_id,
            **update,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "graph_triples": self.graph_triples,
            "sources": [asdict(s) for s in self.sources],
            "validation": {
                "violations": self.violations,
                "warnings": self.warnings,
                "by_shape": dict(by_shape.most_common()),
            },
            "changes": {name: asdict(change) for name, change in self.changes.items()},
            "inputs": self.inputs.to_json() if self.inputs else {},
        }


def map_source(
    spec: SourceSpec,
    data_dir: Path,
    base_iri: str,
    mappings_dir: Path = MAPPINGS_DIR,
    spool_dir: Path | None = None,
) -> tuple[SourceReport, MappingStats, Path]:
    """Map one source into an N-Triples spool file in ``spool_dir`` (the caller bulk-loads
    it into the source's named graph, validates it, and deletes it)."""
    path = spec.path(data_dir)
    report = SourceReport(
        name=spec.name,
        title=spec.title,
        file=path.name,
        version=spec.version,
        sha256=sha256_of(path) if path.is_file() else "",
        publisher=spec.publisher,
        licence=spec.licence,
        dataset_page=spec.dataset_page,
        download_url=spec.download_url,
        mappings=list(spec.mappings),
    )
    stats = MappingStats()
    started = time.perf_counter()
    spool = Path(tempfile.mkstemp(prefix=f".tmp-{spec.name}-", suffix=".nt", dir=spool_dir)[1])
    try:
        with fewer_collections(), spool.open("wb", buffering=1 << 20) as out:  # columnar chunks: a row each
            # One read of the file for all mappings that parse it alike (LHEO: both mappings).
            mappings = [Mapping.load(p) for p in spec.mapping_paths(mappings_dir)]
            for chunk in map_source_file(path, mappings, spec.options, base_iri, stats):
                out.write(chunk)
        mapped = time.perf_counter()
    except BaseException:
        spool.unlink(missing_ok=True)
        raise
    report.read_s = stats.read_s
    report.rows_read, report.triples = len(stats.records), stats.triples  # before validation
    report.map_s = max(0.0, mapped - started - stats.read_s)
    return report, stats, spool


def _bulk_load(store: ox.Store, spool: Path, graph: ox.NamedNode, report: SourceReport) -> None:
    started = time.perf_counter()
    store.bulk_load(path=spool, format=ox.RdfFormat.N_TRIPLES, to_graph=graph)
    report.load_s = time.perf_counter() - started


def load_ontology(store: ox.Store, base_iri: str) -> None:
    """The ontology in its own named graph and in the default graph, so that queries can use
    the class hierarchy (``?c rdfs:subClassOf* pas:Skill``) and labels of terms."""
    data = ontology_graph().serialize(format="nt").encode()
    store.load(data, format=ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(f"{base_iri}graph/ontology"))
    store.load(data, format=ox.RdfFormat.N_TRIPLES)


def _graph_key(quad: ox.Quad) -> str:
    """The IRI of a quad's named graph ("" in the default graph)."""
    graph = quad.graph_name
    return graph.value if isinstance(graph, ox.NamedNode) else ""


def quarantine(
    store: ox.Store, results: list[ValidationResult], targets: dict[str, ox.NamedNode]
) -> set[str]:
    """Move every entity with a violation to its source's quarantine graph; return them."""
    by_focus: dict[str, list[ValidationResult]] = {}
    for result in results:
        if result.severity == "Violation":
            by_focus.setdefault(result.focus_node, []).append(result)
    moved: set[str] = set()
    for focus_text, focus_results in by_focus.items():
        focus = node_term(focus_text)
        if focus is None:
            continue
        quads = [q for q in store.quads_for_pattern(focus, None, None, None) if _graph_key(q) in targets]
        if not quads:
            continue
        graphs = {_graph_key(q) for q in quads}
        new = [ox.Quad(q.subject, q.predicate, q.object, targets[_graph_key(q)]) for q in quads]
        for graph in graphs:
            for result in focus_results:
                new += result_quads(targets[graph], focus, result)
        for quad in quads:
            store.remove(quad)
        for quad in store.quads_for_pattern(focus, None, None, ox.DefaultGraph()):
            store.remove(quad)  # the published copy
        store.extend(new)
        moved.add(focus_text)
    return moved


def _quarantine_records(
    store: ox.Store,
    graph: ox.NamedNode,
    base_iri: str,
    name: str,
    records: dict[int, dict[str, str | None]],
) -> None:
    """Records no mapping could turn into an entity, kept with their cells and the reason."""
    quads = []
    for number, values in records.items():
        node = ox.NamedNode(f"{base_iri}quarantine/{name}/record/{number}")
        quads += [
            ox.Quad(node, ox.NamedNode(str(RDF.type)), ox.NamedNode(str(PAS.QuarantinedRecord)), graph),
            ox.Quad(
                node,
                ox.NamedNode(str(PAS.sourceRow)),
                ox.Literal(str(number), datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")),
                graph,
            ),
            ox.Quad(
                node,
                ox.NamedNode(str(RDFS.comment)),
                ox.Literal(
                    "Aucune entité produite : une cellule requise est vide ou mal formée.", language="fr"
                ),
                graph,
            ),
            ox.Quad(
                node,
                ox.NamedNode(str(RDFS.comment)),
                ox.Literal("No entity produced: a required cell is empty or malformed.", language="en"),
                graph,
            ),
            ox.Quad(
                node,
                ox.NamedNode(str(PAS.recordJson)),
                ox.Literal(json.dumps(values, ensure_ascii=False)),
                graph,
            ),
        ]
    store.extend(quads)


def reconcile(
    report: SourceReport, stats: MappingStats, quarantined: set[str]
) -> dict[int, dict[str, str | None]]:
    """Fill the report's counts; return the records to quarantine as raw records.

    Every record read is loaded (it marked an entity that passed validation), quarantined (an
    entity it produced failed validation, or it produced none) or skipped with a reason.
    """
    marked: set[int] = set().union(*stats.entities.values()) if stats.entities else set()
    bad: set[int] = set()
    for entity in quarantined:
        bad |= stats.entities.get(entity, set())
    unmapped = {n: v for n, v in stats.unmapped.items() if n not in marked and n not in stats.skipped}
    skipped = {n: r for n, r in stats.skipped.items() if n not in marked}
    report.rows_read = len(stats.records)
    report.rows_skipped = len(skipped)
    report.rows_quarantined = len(bad) + len(unmapped)
    report.rows_loaded = len(marked - bad)
    report.skip_reasons = dict(Counter(skipped.values()))
    report.quarantined_entities = len([e for e in quarantined if e in stats.entities])
    if not report.reconciles:
        raise BuildError(
            f"{report.name}: counts do not reconcile: read {report.rows_read} ≠ loaded "
            f"{report.rows_loaded} + quarantined {report.rows_quarantined} + skipped {report.rows_skipped}"
        )
    return unmapped


def build(
    manifest: Manifest,
    settings: Settings,
    on_source: Callable[[SourceReport], None] | None = None,
    engine: str = "fast",
    shapes_dir: Path | None = None,
) -> BuildResult:
    """Build every source of ``manifest`` into a new store and publish it atomically."""
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    layout = StoreLayout(settings.store)
    base = settings.base_iri
    with layout.new_build() as target:
        store = target.store
        loaded: list[tuple[SourceSpec, SourceReport, MappingStats]] = []
        spools: list[Path] = []
        try:
            # Each source's spool is bulk-loaded in a worker thread (pyoxigraph releases the
            # GIL) while the next source is mapped.
            with ThreadPoolExecutor(max_workers=1) as loader:
                loads = []
                for spec in manifest.sources:
                    report, stats, spool = map_source(
                        spec, manifest.data_dir, base, manifest.mappings_dir, target.path.parent
                    )
                    spools.append(spool)
                    loaded.append((spec, report, stats))
                    graph = graph_iri(base, spec.name, spec.version)
                    loads.append(loader.submit(_bulk_load, store, spool, graph, report))
                    if on_source:
                        on_source(report)
                for load in loads:
                    load.result()
            # Links that need other sources' data (mappings/derive/*.rq), into their source's
            # graph and spool before the union is written: validated and published like the rest.
            derive(store, base, {s.name: (graph_iri(base, s.name, s.version), p)
                                 for (s, _, _), p in zip(loaded, spools, strict=True)})
            # --- NLP stage (kg/nlp/stage.py): offers and RNCP blocks → extraction graph, ---
            # validated, counted and catalogued below like a source.
            from kg.nlp.stage import run_stage

            stage = run_stage(manifest, store, base, target.path.parent)
            if stage is not None:
                spools.append(stage.spool)
                loaded.append((stage.spec, stage.report, stage.stats))
                stage_graph = graph_iri(base, stage.spec.name, stage.spec.version)
                _bulk_load(store, stage.spool, stage_graph, stage.report)
                if on_source:
                    on_source(stage.report)
            # --- end of the NLP stage ---
            t_loaded = time.perf_counter()
            graphs = {
                graph_iri(base, s.name, s.version).value: quarantine_iri(base, s.name, s.version)
                for s, _, _ in loaded
            }
            results: list[ValidationResult] = []
            quarantined: set[str] = set()
            validate_s = 0.0
            new: set[str] = set()
            t_published = t_loaded
            with scratch_file(target.path.parent, "union") as union:
                write_union(spools, union)

                def publish() -> None:
                    # The default graph: the deduplicated union of the source graphs (oxigraph
                    # does not deduplicate a union of named graphs), and the ontology.
                    nonlocal t_published
                    store.bulk_load(path=union, format=ox.RdfFormat.N_TRIPLES)
                    load_ontology(store, base)
                    t_published = time.perf_counter()

                for round_ in range(MAX_VALIDATION_ROUNDS):
                    if round_ == 0:  # SHACL Core runs while the union is published
                        round_results, work_s = validate_union(
                            union, store, publish, engine=engine, shapes_dir=shapes_dir
                        )
                        validate_s += work_s
                        results += round_results
                    else:  # only what removing last round's entities can break
                        v0 = time.perf_counter()
                        round_results = validate_neighbourhood(
                            store, new, target.path.parent, engine=engine, shapes_dir=shapes_dir
                        )
                        validate_s += time.perf_counter() - v0
                        results += [r for r in round_results if r.severity == "Violation"]
                    moved = quarantine(store, round_results, graphs)
                    new = moved - quarantined
                    quarantined |= moved
                    if not new:
                        break
        finally:
            for spool in spools:
                spool.unlink(missing_ok=True)
        t_validated = time.perf_counter()
        for spec, report, stats in loaded:
            unmapped = reconcile(report, stats, quarantined)
            q_graph = quarantine_iri(base, spec.name, spec.version)
            if unmapped:
                _quarantine_records(store, q_graph, base, spec.name, unmapped)
        solutions = store.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
        assert isinstance(solutions, ox.QuerySolutions)
        counts = {str(sol["g"].value): int(sol["n"].value) for sol in solutions}
        for spec, report, _ in loaded:
            report.triples = counts.get(graph_iri(base, spec.name, spec.version).value, 0)
        catalog = describe(base, target.build_id, started_at, [r for _, r, _ in loaded])
        catalog += carried_history(layout.current(), base, target.build_id, [r for _, r, _ in loaded])
        store.extend(catalog)
        store.extend(ox.Quad(q.subject, q.predicate, q.object) for q in catalog)
        result = BuildResult(
            build_id=target.build_id,
            store_dir=layout.builds / target.build_id,
            sources=[r for _, r, _ in loaded],
            results=results,
            timings={
                "map_and_load": t_loaded - t0,
                "read": sum(r.read_s for _, r, _ in loaded),
                "map": sum(r.map_s for _, r, _ in loaded),
                "load": sum(r.load_s for _, r, _ in loaded),
                "publish": t_published - t_loaded,
                "validate": validate_s,  # work time; SHACL Core overlaps the publish stage
                "validate_and_quarantine": t_validated - t_loaded,
            },
            graph_triples=counts,
            inputs=InputDigests(
                global_digest(base, shapes_dir),
                {s.name: source_digest(s, r.sha256, manifest.mappings_dir) for s, r, _ in loaded},
            ),
        )
        (target.path / REPORT_FILE).write_text(
            json.dumps(result.to_json(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        # --- dumps (issue #5): the published dataset as downloadable files, served at /dumps/ ---
        t_dumps = time.perf_counter()
        write_dumps(store, target.path / DUMPS_DIR, prefixes_for(base))
        result.timings["dumps"] = time.perf_counter() - t_dumps
        # --- end dumps ---
        # --- remote store (issue #5): the graphs go to the remote store, switched in atomically; a
        # failure there fails the build before ``current`` moves, so both sides keep the old graph ---
        if settings.store_endpoint:
            from kg.remote_store import publish_build

            sent = publish_build(store, settings, target.build_id, target.path.parent)
            result.timings["remote_load"], result.timings["remote_switch"] = sent.load_s, sent.switch_s
            (target.path / REPORT_FILE).write_text(
                json.dumps(result.to_json(), indent=2, ensure_ascii=False), encoding="utf-8"
            )
        # --- end remote store ---
    result.timings["total"] = time.perf_counter() - t0
    return result
