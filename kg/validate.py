"""SHACL validation of a built graph, and the readable report ``kg validate`` prints.

The data graph is the union of the source graphs plus the ontology's ``rdfs:subClassOf``
triples (so that a shape targeting ``pas:Skill`` sees the instances of ``pas:KnowHow``).
The engine is chosen in :mod:`kg.validate_engine` (pySHACL stays the reference in tests).
"""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph
from rdflib.namespace import RDFS

from kg.config import PROJECT_ROOT
from kg.store import scratch_file
from kg.validate_engine import ValidationResult, validate_core_file, validate_file, validate_sparql_store

SHAPES_DIR = PROJECT_ROOT / "shapes"
ONTOLOGY_DIR = PROJECT_ROOT / "ontology"


@cache
def shapes_text(shapes_dir: Path = SHAPES_DIR) -> str:
    """All shape modules as one Turtle document."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(shapes_dir.glob("*.ttl")))


@cache
def turtle_folder(folder: Path) -> Graph:
    """All the Turtle modules of a folder (``ontology/``, ``shapes/``) in one rdflib graph."""
    graph = Graph()
    for path in sorted(folder.glob("*.ttl")):
        graph.parse(path, format="turtle")
    return graph


def ontology_graph(ontology_dir: Path = ONTOLOGY_DIR) -> Graph:
    """All ontology modules in one rdflib graph."""
    return turtle_folder(ontology_dir)


def shapes_graph(shapes_dir: Path = SHAPES_DIR) -> Graph:
    """All shape modules in one rdflib graph."""
    return turtle_folder(shapes_dir)


@cache
def class_hierarchy_nt() -> str:
    """The ontology's subclass triples as N-Triples, added to the data for validation."""
    sub = Graph()
    for triple in ontology_graph().triples((None, RDFS.subClassOf, None)):
        sub.add(triple)
    return sub.serialize(format="nt")


def default_graph_ntriples(store: ox.Store, path: Path) -> None:
    """Write the store's default graph (the published, deduplicated union) as N-Triples."""
    with path.open("wb") as out:
        store.dump(out, format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
        out.write(class_hierarchy_nt().encode())


def validate_store(store: ox.Store, workdir: Path, engine: str = "fast") -> list[ValidationResult]:
    """Validate what a built store publishes (its default graph) against every shape."""
    with scratch_file(workdir, "validation") as path:
        default_graph_ntriples(store, path)
        return validate_file(path, shapes_text(), engine=engine, sparql_store=store)


def write_union(files: list[Path], out_path: Path) -> None:
    """The spooled source graphs and the ontology's class hierarchy, as one N-Triples file."""
    with out_path.open("wb") as out:
        for file in files:
            with file.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
        out.write(class_hierarchy_nt().encode())


def validate_union(
    union: Path,
    store: ox.Store,
    publish: Callable[[], None],
    engine: str = "fast",
    shapes_dir: Path | None = None,
) -> tuple[list[ValidationResult], float]:
    """Validate the union file while ``publish`` loads it into ``store``'s default graph.

    SHACL Core reads the file in a worker thread (the Rust validator releases the GIL) while
    ``publish`` runs; then the SHACL-SPARQL constraints query the published default graph in
    place. Returns the results and the validation work time in seconds (Core + SPARQL).
    """
    shapes = shapes_text(shapes_dir or SHAPES_DIR)

    def core() -> tuple[list[ValidationResult], float]:
        started = time.perf_counter()
        return validate_core_file(union, shapes, engine), time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=1) as pool:
        core_future = pool.submit(core)
        publish()
        started = time.perf_counter()
        sparql = validate_sparql_store(store, shapes) if engine == "fast" else []
        sparql_s = time.perf_counter() - started
        core_results, core_s = core_future.result()
    ordered = sorted(core_results + sparql, key=lambda r: tuple(x or "" for x in r.key()))
    return ordered, core_s + sparql_s


def node_term(text: str) -> ox.NamedNode | ox.BlankNode | None:
    """The node a validator reports in N-Triples form (focus nodes), or None for a literal.

    >>> node_term("<https://x/a>").value, node_term('"A12"')
    ('https://x/a', None)
    """
    if text.startswith("<") and text.endswith(">"):
        return ox.NamedNode(text[1:-1])
    return ox.BlankNode(text[2:]) if text.startswith("_:") else None


def validate_neighbourhood(
    store: ox.Store, removed: set[str], workdir: Path, engine: str = "fast", shapes_dir: Path | None = None
) -> list[ValidationResult]:
    """Re-validate only what removing the ``removed`` entities can break.

    Removing an entity's triples can only create violations on the nodes that linked to it
    (``sh:class``, ``sh:node``...) or that it linked to (inverse paths). These are found with
    index look-ups in the published default graph (the removed entities' own triples are in
    the quarantine graphs now) and validated with their triples, the triples pointing at
    them, and the triples of the nodes they link to (for the class checks); results on other
    nodes are dropped. Returns [] when nothing links to or from the removed entities.
    """
    default = ox.DefaultGraph()
    affected: set[ox.NamedNode | ox.BlankNode] = set()
    for text in removed:
        node = node_term(text)
        if node is None:
            continue
        for q in store.quads_for_pattern(None, None, node, default):
            if isinstance(q.subject, ox.NamedNode | ox.BlankNode):
                affected.add(q.subject)
        for q in store.quads_for_pattern(node, None, None, None):  # now in its quarantine graph
            if isinstance(q.object, ox.NamedNode | ox.BlankNode) and not isinstance(
                q.graph_name, ox.DefaultGraph
            ):
                affected.add(q.object)
    affected = {a for a in affected if str(a) not in removed}
    return validate_nodes(store, affected, workdir, engine=engine, shapes_dir=shapes_dir)


def validate_nodes(
    store: ox.Store,
    affected: set[ox.NamedNode | ox.BlankNode],
    workdir: Path,
    engine: str = "fast",
    shapes_dir: Path | None = None,
) -> list[ValidationResult]:
    """Validate the ``affected`` nodes as the default graph publishes them.

    They are validated with their triples, the triples pointing at them (inverse paths) and
    the triples of the nodes they link to (class checks); results on other nodes are dropped
    (their context is incomplete). Returns [] when ``affected`` is empty.
    """
    default = ox.DefaultGraph()
    if not affected:
        return []
    triples: set[ox.Triple] = set()
    linked: set[ox.NamedNode | ox.BlankNode] = set()
    for node in affected:
        for q in store.quads_for_pattern(node, None, None, default):
            triples.add(q.triple)
            if isinstance(q.object, ox.NamedNode | ox.BlankNode):
                linked.add(q.object)
        triples.update(q.triple for q in store.quads_for_pattern(None, None, node, default))
    for node in linked - affected:
        triples.update(q.triple for q in store.quads_for_pattern(node, None, None, default))
    with scratch_file(workdir, "validation") as subset:
        with subset.open("wb") as out:
            out.write(ox.serialize(list(triples), format=ox.RdfFormat.N_TRIPLES) or b"")
            out.write(class_hierarchy_nt().encode())
        results = validate_file(subset, shapes_text(shapes_dir or SHAPES_DIR), engine=engine)
    wanted = {str(a) for a in affected}
    return [r for r in results if r.focus_node in wanted]


def format_report(results: list[ValidationResult], examples: int = 3) -> str:
    """A report grouped by shape and constraint, with French and English messages.

    >>> r = ValidationResult("<https://x/a>", "<https://x/code>", '"A12"', "Violation",
    ...     "PatternConstraintComponent", "<https://x/S>", {"fr": "Code invalide", "en": "Bad code"})
    >>> print(format_report([r]))
    1 violation(s), 0 warning(s)
    <BLANKLINE>
    [Violation] <https://x/S> · PatternConstraintComponent · path <https://x/code> — 1 result(s)
      fr: Code invalide
      en: Bad code
      e.g. <https://x/a> value "A12"
    """
    groups: dict[tuple[str, str, str, str | None], list[ValidationResult]] = defaultdict(list)
    for result in results:
        groups[(result.severity, result.shape, result.component, result.path)].append(result)
    counts: defaultdict[str, int] = defaultdict(int)
    for result in results:
        counts[result.severity] += 1
    lines = [f"{counts['Violation']} violation(s), {counts['Warning']} warning(s)"]
    order = {"Violation": 0, "Warning": 1, "Info": 2}
    for (severity, shape, component, path), items in sorted(
        groups.items(), key=lambda kv: (order.get(kv[0][0], 3), -len(kv[1]), kv[0][1])
    ):
        where = f" · path {path}" if path else ""
        lines += ["", f"[{severity}] {shape} · {component}{where} — {len(items)} result(s)"]
        messages = items[0].messages
        for lang in ("fr", "en"):
            if lang in messages:
                lines.append(f"  {lang}: {messages[lang]}")
        for item in items[:examples]:
            value = f" value {item.value}" if item.value else ""
            lines.append(f"  e.g. {item.focus_node}{value}")
    return "\n".join(lines)
