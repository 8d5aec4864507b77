"""``kg build --only SOURCE``: replace some sources' graphs, atomically, without rebuilding the rest.

The update works on a new build directory that starts as a copy of the served one (a RocksDB
checkpoint: hard links, milliseconds), so the served store is only read and ``current``
moves only when everything succeeded (see :mod:`kg.store`). In that copy, for each source:

1. its file is mapped (as in a full build) and its new graph replaces the old one (and its
   quarantine graph is dropped: validation rebuilds it);
2. the default graph (the deduplicated union) is updated from the difference of the old and
   new graphs: added triples are added; a removed triple leaves it only when no other
   published graph (another source's, the ontology's...) still holds it;
3. validation covers what changed: the subjects and objects of the changed triples and the
   nodes linking to the changed subjects, in their neighbourhood (:func:`kg.validate.validate_nodes`),
   then, like the full build, the neighbourhood of each round's quarantined entities;
4. the counts reconcile, and the catalogue gets the new version's description, linked to the
   previous one (``prov:wasRevisionOf``) with what changed (``pas:VersionChange``).

Correctness before speed: when the change reaches entities of a source not being updated (one
of its entities would be quarantined, or one of its quarantined entities links to what
changed), the update starts again with that source re-read too, since its record counts can
only come from its records. An update refuses to run when the shapes, the ontology, the base
IRI or the version of ``kg`` changed since the served build (the other sources were validated
under the old ones): run a full build then.

No-op: when the inputs of the requested sources (see :mod:`kg.inputs`) are those the served
build recorded, nothing is done (``force`` rebuilds anyway); the same holds for a full build.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox

from kg.build import (
    MAX_VALIDATION_ROUNDS,
    BuildResult,
    _bulk_load,
    _quarantine_records,
    build,
    map_source,
    reconcile,
)
from kg.build import quarantine as quarantine_entities
from kg.config import Settings
from kg.derive import derive, load_rules
from kg.dumps import DUMPS_DIR, write_dumps
from kg.errors import BuildError
from kg.inputs import InputDigests, global_digest, sha256_of, source_digest
from kg.manifest import Manifest, SourceSpec
from kg.mapping import MappingStats
from kg.namespaces import PAS, RDF, prefixes_for
from kg.nlp.stage import MODEL_SOURCES, OFFER_MAPPING
from kg.nlp.stage import NAME as NLP_STAGE
from kg.provenance import (
    CHANGED_IRIS_CAP,
    SourceReport,
    VersionChange,
    catalog_iri,
    describe,
    graph_iri,
    quarantine_iri,
)
from kg.store import REPORT_FILE, BuildDir, StoreLayout, scratch_file
from kg.validate import node_term, validate_neighbourhood, validate_nodes
from kg.validate_engine import ValidationResult

_RDF_TYPE = ox.NamedNode(str(RDF.type))
_NT = ox.RdfFormat.N_TRIPLES


@dataclass
class NoOp:
    """A build with nothing to do: the inputs are those the served build recorded."""

    build_id: str
    store_dir: Path
    sources: list[str]


class _NeedsSources(Exception):
    """The change reaches entities of these other sources: they must be re-read too."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(", ".join(sorted(names)))
        self.names = names


def run(
    manifest: Manifest,
    settings: Settings,
    only: list[str] | None = None,
    file: Path | None = None,
    force: bool = False,
    on_source: Callable[[SourceReport], None] | None = None,
    engine: str = "fast",
    shapes_dir: Path | None = None,
) -> BuildResult | NoOp:
    """What ``kg build`` runs: an update of the ``only`` sources (``file`` replacing the
    manifest's file of a single one), else a full build; nothing when the inputs are unchanged."""
    if file is not None and (not only or len(set(only)) != 1):
        raise BuildError("--file needs exactly one --only SOURCE")
    if only:
        return update(manifest, settings, only, file, force, on_source, engine, shapes_dir)
    if not force:
        layout = StoreLayout(settings.store)
        current = layout.current()
        if current is not None:
            previous = InputDigests.from_json(_previous_report(current).get("inputs"))
            digests = _digests(manifest, manifest.sources, settings.base_iri, shapes_dir)
            # Sources the build derives itself (the NLP stage) follow from the manifest's.
            derived = {
                name for name in previous.sources if name not in digests.sources and name in STAGE_NAMES
            }
            if set(previous.sources) - derived == set(digests.sources) and digests.unchanged(
                previous, list(digests.sources)
            ):
                return NoOp(current.name, current, manifest.names())
    return build(manifest, settings, on_source=on_source, engine=engine, shapes_dir=shapes_dir)


STAGE_NAMES = {NLP_STAGE}


def _digests(
    manifest: Manifest, specs: Iterable[SourceSpec], base_iri: str, shapes_dir: Path | None
) -> InputDigests:
    digests = {}
    for spec in specs:
        path = spec.path(manifest.data_dir)
        digests[spec.name] = source_digest(
            spec, sha256_of(path) if path.is_file() else "", manifest.mappings_dir
        )
    return InputDigests(global_digest(base_iri, shapes_dir), digests)


def _previous_report(current: Path) -> dict[str, object]:
    try:
        data = json.loads((current / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read the served build's report {current / REPORT_FILE}: {exc}") from None
    if not isinstance(data, dict):
        raise BuildError(f"{current / REPORT_FILE}: not a build report")
    return data


def update(
    manifest: Manifest,
    settings: Settings,
    names: list[str],
    file: Path | None = None,
    force: bool = False,
    on_source: Callable[[SourceReport], None] | None = None,
    engine: str = "fast",
    shapes_dir: Path | None = None,
) -> BuildResult | NoOp:
    """Replace the graphs of the sources called ``names`` in a new build made from the served
    one, and publish it atomically (see the module docstring)."""
    layout = StoreLayout(settings.store)
    current = layout.current()
    if current is None:
        raise BuildError(f"no graph built in {settings.store} yet: run a full `kg build` first")
    previous = _previous_report(current)
    specs = manifest.select(list(dict.fromkeys(names)))
    if file is not None:
        if not file.is_file():
            raise BuildError(f"{file}: no such file")
        specs = [dataclasses.replace(specs[0], file=str(file.resolve()))]
    recorded = InputDigests.from_json(previous.get("inputs"))
    digests = _digests(manifest, specs, settings.base_iri, shapes_dir)
    if recorded.shared != digests.shared:
        raise BuildError(
            f"the shapes, the ontology, the base IRI or the kg version changed since build {current.name} "
            "(or it recorded no inputs): a partial update would leave the other sources unchecked; "
            "run a full build (kg build without --only)"
        )
    if not force and digests.unchanged(recorded, list(digests.sources)):
        return NoOp(current.name, current, [s.name for s in specs])
    chosen = {s.name: s for s in specs}
    chosen.update({n: manifest.get(n) for n in dependents(manifest, set(chosen))})
    while True:
        try:
            return _replace(
                manifest, settings, layout, current, previous, chosen, on_source, engine, shapes_dir
            )
        except _NeedsSources as need:
            unknown = sorted(need.names - set(manifest.names()))
            if unknown:
                raise BuildError(
                    f"updating {', '.join(chosen)} changes entities of {', '.join(unknown)}, which the "
                    "manifest does not name: run a full build"
                ) from None
            chosen.update({n: manifest.get(n) for n in sorted(need.names)})


def dependents(manifest: Manifest, names: set[str]) -> list[str]:
    """The other sources of ``manifest`` that an update of ``names`` must re-read: those whose
    derivation rules (``mappings/derive``) read one of them (``#+ reads:``), and so on. Their
    graphs hold what the rules derived from the replaced sources' data, mixed with their own
    triples: re-reading them is how the rules' output is recomputed.

    >>> from kg.cli import DEMO_MANIFEST
    >>> from kg.manifest import load_manifest
    >>> dependents(load_manifest(DEMO_MANIFEST), {"cog-communes"})  # doctest: +NORMALIZE_WHITESPACE
    ['apprenticeship-bodies', 'catalogue-apprentissage', 'cfa-regional', 'lheo-offers', 'vae-relays']
    >>> dependents(load_manifest(DEMO_MANIFEST), {"rome-skills"})
    []
    >>> dependents(load_manifest(DEMO_MANIFEST), {"offers-demo"})
    ['target-trades']
    """
    known = set(manifest.names())
    rules = load_rules()
    found: set[str] = set()
    todo = set(names)
    while todo:
        name = todo.pop()
        for rule in rules:
            if rule.depends_on(name):
                for source in rule.sources:
                    if source in known and source not in names and source not in found:
                        found.add(source)
                        todo.add(source)
    return sorted(found)


def _stage_needed(manifest: Manifest, names: Iterable[str], previous: dict[str, SourceReport]) -> bool:
    """Whether replacing ``names`` calls for the NLP stage again: it reads the offer sources and
    the ROME and RNCP-bloc graphs (its models), and the served build ran it."""
    if NLP_STAGE not in previous:
        return False
    offers = {s.name for s in manifest.sources if OFFER_MAPPING in s.mappings}
    return any(name in offers or name.startswith(MODEL_SOURCES) for name in names)


def graph_lines(store: ox.Store, graph: ox.NamedNode) -> set[bytes]:
    """The triples of one named graph as N-Triples lines (the form the mappings spool)."""
    return set((store.dump(format=_NT, from_graph=graph) or b"").splitlines())


def _triples(lines: Iterable[bytes]) -> list[ox.Triple]:
    data = b"\n".join(lines)
    return [q.triple for q in ox.parse(data, format=_NT)] if data else []


def diff_entities(source: str, previous: str, before: set[bytes], after: set[bytes]) -> VersionChange:
    """What changed between two versions of a graph given as N-Triples lines.

    >>> a = {b'<x:a> <x:p> "1" .', b'<x:b> <x:p> "1" .', b'<x:c> <x:p> "1" .'}
    >>> b = {b'<x:a> <x:p> "1" .', b'<x:b> <x:p> "2" .', b'<x:d> <x:p> "1" .'}
    >>> c = diff_entities("s", "", a, b)
    >>> (c.entities_added, c.entities_removed, c.entities_changed, c.triples_added, c.triples_removed)
    (1, 1, 1, 2, 2)
    >>> c.added, c.removed, c.changed
    (['x:d'], ['x:c'], ['x:b'])
    """

    def subject(line: bytes) -> bytes:
        return line.split(b" ", 1)[0]

    removed_lines, added_lines = before - after, after - before
    old = {subject(line) for line in before}
    new = {subject(line) for line in after}
    touched = {subject(line) for line in removed_lines | added_lines}

    def iris(subjects: set[bytes]) -> list[str]:
        return sorted(s[1:-1].decode() for s in subjects if s.startswith(b"<"))

    added, removed, changed = iris(new - old), iris(old - new), iris(touched & old & new)
    return VersionChange(
        source=source,
        previous=previous,
        entities_added=len(added),
        entities_removed=len(removed),
        entities_changed=len(changed),
        triples_added=len(added_lines),
        triples_removed=len(removed_lines),
        added=added[:CHANGED_IRIS_CAP],
        removed=removed[:CHANGED_IRIS_CAP],
        changed=changed[:CHANGED_IRIS_CAP],
    )


def _apply_difference(store: ox.Store, graph: ox.NamedNode, removed: set[bytes], added: set[bytes]) -> None:
    for triple in _triples(removed):
        store.remove(ox.Quad(triple.subject, triple.predicate, triple.object, graph))
    store.extend(ox.Quad(t.subject, t.predicate, t.object, graph) for t in _triples(added))


def _count(store: ox.Store, graph: ox.NamedNode) -> int:
    return sum(1 for _ in store.quads_for_pattern(None, None, None, graph))


def _current_version(store: ox.Store, base: str, graph: ox.NamedNode) -> str:
    quads = store.quads_for_pattern(graph, ox.NamedNode(str(PAS.currentVersion)), None, catalog_iri(base))
    return next((q.object.value for q in quads if isinstance(q.object, ox.NamedNode)), "")


def _entity_lines(store: ox.Store, base: str, quarantine: ox.NamedNode) -> set[bytes]:
    """The quarantined entities' own triples in a quarantine graph (not the validation
    reports, blank nodes, nor the raw records under ``{base}quarantine/``)."""
    skip = (b"_:", f"<{base}quarantine/".encode(), f"<{quarantine.value}>".encode())
    return {line for line in graph_lines(store, quarantine) if not line.startswith(skip)}


def _drop_description(store: ox.Store, base: str, subject: ox.NamedNode) -> None:
    """Remove a graph's description from the catalogue and its copy in the default graph."""
    catalog = catalog_iri(base)
    for quad in list(store.quads_for_pattern(subject, None, None, catalog)):
        store.remove(quad)
        store.remove(ox.Quad(quad.subject, quad.predicate, quad.object))


class _Update:
    """The state of one update attempt in the copied store (see :func:`update`)."""

    def __init__(self, store: ox.Store, base: str, reports: dict[str, SourceReport]) -> None:
        self.store, self.base = store, base
        self.quarantine_prefix = f"{base}graph/quarantine/"
        self.catalog = catalog_iri(base).value
        # every source graph of the new store, with its source and its quarantine graph
        self.owner = {graph_iri(base, n, r.version).value: n for n, r in reports.items()}
        self.targets = {g: quarantine_iri(base, n, reports[n].version) for g, n in self.owner.items()}

    def published(self, graph: object) -> bool:
        """Whether a graph is part of the default graph's union (not quarantine, not catalogue)."""
        return (
            isinstance(graph, ox.NamedNode)
            and not graph.value.startswith(self.quarantine_prefix)
            and graph.value != self.catalog
        )

    def update_default(self, added: set[bytes], removed: set[bytes]) -> None:
        """Bring the default graph (the deduplicated union) in line with the new source graphs."""
        if added:
            self.store.load(b"\n".join(added) + b"\n", format=_NT)
        for triple in _triples(removed):
            held = self.store.quads_for_pattern(triple.subject, triple.predicate, triple.object, None)
            if not any(self.published(q.graph_name) for q in held):
                self.store.remove(ox.Quad(triple.subject, triple.predicate, triple.object))

    def affected(self, changed: set[bytes]) -> set[ox.NamedNode | ox.BlankNode]:
        """The nodes whose validation the changed triples can alter: their subjects, their
        objects (inverse paths; not classes) and the nodes linking to their subjects."""
        subjects: set[ox.NamedNode | ox.BlankNode] = set()
        nodes: set[ox.NamedNode | ox.BlankNode] = set()
        for triple in _triples(changed):
            assert isinstance(triple.subject, ox.NamedNode | ox.BlankNode)
            subjects.add(triple.subject)
            if isinstance(triple.object, ox.NamedNode | ox.BlankNode) and triple.predicate != _RDF_TYPE:
                nodes.add(triple.object)
        nodes |= subjects
        for subject in subjects:
            for quad in self.store.quads_for_pattern(None, None, subject, ox.DefaultGraph()):
                assert isinstance(quad.subject, ox.NamedNode | ox.BlankNode)
                nodes.add(quad.subject)
        return nodes

    def quarantined_links(self, others: set[str], remapped: set[bytes], changed: set[bytes]) -> set[str]:
        """The sources among ``others`` with a quarantined entity that the update may concern:
        one that links to or from what the mappings now produce differently (``remapped``; it
        may be valid now), or that is the subject of triples entering or leaving the default
        graph (``changed``; a full build would judge it with all its triples together). Only
        re-reading such a source can say."""
        touched: set[ox.NamedNode] = set()
        for triple in _triples(remapped):
            for term in (triple.subject, triple.object):
                if isinstance(term, ox.NamedNode) and triple.predicate != _RDF_TYPE:
                    touched.add(term)
        subjects = {t.subject for t in _triples(changed) if isinstance(t.subject, ox.NamedNode)}
        found = set()
        for graph, name in self.owner.items():
            if name not in others:
                continue
            for quad in self.store.quads_for_pattern(None, None, None, self.targets[graph]):
                if isinstance(quad.subject, ox.NamedNode) and (
                    quad.subject in touched or quad.subject in subjects or quad.object in touched
                ):
                    found.add(name)
                    break
        return found

    def owners(self, results: list[ValidationResult]) -> set[str]:
        """The sources whose graphs hold the entities with a violation."""
        names = set()
        for result in results:
            focus = node_term(result.focus_node) if result.severity == "Violation" else None
            if focus is None:
                continue
            for quad in self.store.quads_for_pattern(focus, None, None, None):
                graph = quad.graph_name
                if isinstance(graph, ox.NamedNode) and graph.value in self.owner:
                    names.add(self.owner[graph.value])
        return names


def _derive_again(
    store: ox.Store, base: str, specs: list[SourceSpec], workdir: Path, repaired: set[bytes] | None = None
) -> set[bytes]:
    """The N-Triples lines the derivation rules of ``specs`` produce now (added to their graphs).

    Only the rules of the replaced sources run; :func:`update` has added to them the sources
    whose rules read a replaced source (:func:`dependents`), so every rule concerned runs.
    """
    lines: set[bytes] = set()
    for spec in specs:
        with scratch_file(workdir, f"derive-{spec.name}") as spool:
            targets = {spec.name: (graph_iri(base, spec.name, spec.version), spool)}
            derive(store, base, targets, None, repaired)
            lines |= set(spool.read_bytes().splitlines()) - {b""}
    return lines


def _replace(
    manifest: Manifest,
    settings: Settings,
    layout: StoreLayout,
    current: Path,
    previous: dict[str, object],
    chosen: dict[str, SourceSpec],
    on_source: Callable[[SourceReport], None] | None,
    engine: str,
    shapes_dir: Path | None,
) -> BuildResult:
    t0 = time.perf_counter()
    with layout.new_build(copy_of=current, optimize=False) as target:
        # The work runs in a frame of its own: when it fails, no live frame keeps the store
        # open, so that the failed build directory can be removed (see StoreLayout.new_build).
        result = _apply(
            target, manifest, settings, layout, previous, chosen, on_source, engine, shapes_dir, t0
        )
    result.timings["total"] = time.perf_counter() - t0
    return result


def _apply(
    target: BuildDir,
    manifest: Manifest,
    settings: Settings,
    layout: StoreLayout,
    previous: dict[str, object],
    chosen: dict[str, SourceSpec],
    on_source: Callable[[SourceReport], None] | None,
    engine: str,
    shapes_dir: Path | None,
    t0: float,
) -> BuildResult:
    started_at = datetime.now(UTC)
    base = settings.base_iri
    listed = previous.get("sources")
    known = {f.name for f in dataclasses.fields(SourceReport)}  # a report may predate a field
    old_reports = {
        str(d["name"]): SourceReport(**{k: v for k, v in d.items() if k in known})
        for d in (listed if isinstance(listed, list) else [])
        if isinstance(d, dict)
    }
    store, workdir = target.store, target.path.parent
    t_copied = time.perf_counter()
    loaded: list[tuple[SourceSpec, SourceReport, MappingStats]] = []
    before: dict[str, set[bytes]] = {}
    previous_versions: dict[str, str] = {}
    added: set[bytes] = set()
    removed: set[bytes] = set()
    remapped: set[bytes] = set()  # what the mappings now produce differently, quarantined or not
    def replace_graph(spec: SourceSpec, report: SourceReport, stats: MappingStats, spool: Path) -> None:
        nonlocal added, removed, remapped
        try:
            old = old_reports.get(spec.name)
            graph = graph_iri(base, spec.name, spec.version)
            new_lines = set(spool.read_bytes().splitlines()) - {b""}
            lines: set[bytes] = set()
            held: set[bytes] = set()
            if old is not None:
                old_graph = graph_iri(base, old.name, old.version)
                lines = graph_lines(store, old_graph)
                held = _entity_lines(store, base, quarantine_iri(base, old.name, old.version))
                previous_versions[spec.name] = _current_version(store, base, old_graph)
                store.remove_graph(quarantine_iri(base, old.name, old.version))
                _drop_description(store, base, old_graph)
                _drop_description(store, base, quarantine_iri(base, old.name, old.version))
            if old is not None and old_graph == graph:
                # The same graph: applying the difference costs what changed, where dropping
                # and reloading the graph costs its size in every index of a large store.
                started = time.perf_counter()
                _apply_difference(store, graph, lines - new_lines, new_lines - lines)
                report.load_s = time.perf_counter() - started
            else:
                if old is not None:
                    store.remove_graph(old_graph)
                _bulk_load(store, spool, graph, report)
        finally:
            spool.unlink(missing_ok=True)
        before[spec.name] = lines
        removed |= lines - new_lines
        added |= new_lines - lines
        remapped |= new_lines ^ (lines | held)
        loaded.append((spec, report, stats))
        if on_source:
            on_source(report)

    for spec in chosen.values():
        report, stats, spool = map_source(spec, manifest.data_dir, base, manifest.mappings_dir, workdir)
        replace_graph(spec, report, stats, spool)
    t_loaded = time.perf_counter()
    reports = {**old_reports, **{r.name: r for _, r, _ in loaded}}
    state = _Update(store, base, reports)
    state.update_default(added, removed)
    # Derivation rules (mappings/derive) of the replaced sources run again once the default graph
    # agrees with the named graphs (rules see both): their old output left with the old
    # version's lines, the new output joins what is added.
    repaired: set[bytes] = set()  # what '#+ replaces:' rules took out of the replaced graphs
    derived = _derive_again(store, base, [spec for spec, _, _ in loaded], workdir, repaired)
    state.update_default(derived, repaired)
    added |= derived
    removed -= derived
    added -= repaired
    removed |= repaired
    if _stage_needed(manifest, chosen, old_reports):
        # The NLP stage reads the offer sources and the ROME/RNCP-bloc graphs: it runs again on
        # the updated graphs and its graph is replaced like a source's.
        from kg.nlp.stage import run_stage

        stage = run_stage(manifest, store, base, workdir)
        if stage is not None:
            stage_added, stage_removed = set(added), set(removed)
            replace_graph(stage.spec, stage.report, stage.stats, stage.spool)
            state = _Update(store, base, {**reports, stage.spec.name: stage.report})
            reports[stage.spec.name] = stage.report
            state.update_default(added - stage_added, removed - stage_removed)
            chosen = {**chosen, stage.spec.name: stage.spec}
    t_published = time.perf_counter()
    changed = added | removed
    needed = state.quarantined_links(set(reports) - set(chosen), remapped, changed)
    if needed:
        raise _NeedsSources(needed)
    results: list[ValidationResult] = []
    quarantined: set[str] = set()
    new: set[str] = set()
    for round_ in range(MAX_VALIDATION_ROUNDS):
        if round_ == 0:
            round_results = validate_nodes(
                store, state.affected(changed), workdir, engine=engine, shapes_dir=shapes_dir
            )
            results += round_results
        else:
            round_results = validate_neighbourhood(store, new, workdir, engine=engine, shapes_dir=shapes_dir)
            results += [r for r in round_results if r.severity == "Violation"]
        needed = state.owners(round_results) - set(chosen)
        if needed:
            raise _NeedsSources(needed)
        moved = quarantine_entities(store, round_results, state.targets)
        new = moved - quarantined
        quarantined |= moved
        if not new:
            break
    t_validated = time.perf_counter()
    changes: dict[str, VersionChange] = {}
    replaced = [r for name, r in old_reports.items() if name in chosen]
    stale = {graph_iri(base, r.name, r.version).value for r in replaced}
    stale |= {quarantine_iri(base, r.name, r.version).value for r in replaced}
    counted = previous.get("graph_triples")
    graph_triples = {
        str(g): int(n) for g, n in (counted.items() if isinstance(counted, dict) else []) if g not in stale
    }
    for spec, report, stats in loaded:
        unmapped = reconcile(report, stats, quarantined)
        q_graph = quarantine_iri(base, spec.name, spec.version)
        if unmapped:
            _quarantine_records(store, q_graph, base, spec.name, unmapped)
        graph = graph_iri(base, spec.name, spec.version)
        after = graph_lines(store, graph)
        report.triples = len(after)
        graph_triples[graph.value] = len(after)
        if quarantined_triples := _count(store, q_graph):
            graph_triples[q_graph.value] = quarantined_triples
        changes[spec.name] = diff_entities(
            spec.name, previous_versions.get(spec.name, ""), before[spec.name], after
        )
    catalog = describe(base, target.build_id, started_at, [r for _, r, _ in loaded], changes)
    store.extend(catalog)
    store.extend(ox.Quad(q.subject, q.predicate, q.object) for q in catalog)
    graph_triples[catalog_iri(base).value] = _count(store, catalog_iri(base))
    recorded = InputDigests.from_json(previous.get("inputs"))
    digests = {s.name: source_digest(s, r.sha256, manifest.mappings_dir) for s, r, _ in loaded}
    result = BuildResult(
        build_id=target.build_id,
        store_dir=layout.builds / target.build_id,
        sources=list(reports.values()),
        results=results,
        timings={
            "copy": t_copied - t0,
            "map_and_load": t_loaded - t_copied,
            "read": sum(r.read_s for _, r, _ in loaded),
            "map": sum(r.map_s for _, r, _ in loaded),
            "load": sum(r.load_s for _, r, _ in loaded),
            "publish": t_published - t_loaded,
            "validate": t_validated - t_published,
            "validate_and_quarantine": t_validated - t_published,
        },
        graph_triples=graph_triples,
        inputs=InputDigests(recorded.shared, {**recorded.sources, **digests}),
        updated=list(chosen),
        changes=changes,
        previous_build=str(previous.get("build_id", "")),
    )
    (target.path / REPORT_FILE).write_text(
        json.dumps(result.to_json(), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    result.timings["catalog_and_report"] = time.perf_counter() - t_validated
    # The dumps describe the whole published graph: written again, as a full build does.
    t_dumps = time.perf_counter()
    write_dumps(store, target.path / DUMPS_DIR, prefixes_for(base))
    result.timings["dumps"] = time.perf_counter() - t_dumps
    if settings.store_endpoint:  # the remote store follows, switched in atomically (see kg.remote_store)
        from kg.remote_store import publish_build

        sent = publish_build(store, settings, target.build_id, target.path.parent)
        result.timings["remote_load"], result.timings["remote_switch"] = sent.load_s, sent.switch_s
    return result
