"""DCAT/PROV/VoID description of each named graph, written into the catalogue graph.

>>> g = graph_iri("https://x.org/", "rome-occupations", "v460")
>>> g.value
'https://x.org/graph/rome-occupations/v460'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox

from kg import __version__
from kg.namespaces import DCAT, DCTERMS, PAS, PROV, RDF, RDFS, SH, VOID, XSD

CATALOG = "catalog"


def graph_iri(base_iri: str, name: str, version: str) -> ox.NamedNode:
    """The named graph of one source in one version."""
    return ox.NamedNode(f"{base_iri}graph/{name}/{version}")


def quarantine_iri(base_iri: str, name: str, version: str) -> ox.NamedNode:
    """The quarantine graph of one source in one version."""
    return ox.NamedNode(f"{base_iri}graph/quarantine/{name}/{version}")


def catalog_iri(base_iri: str) -> ox.NamedNode:
    """The graph holding the descriptions of all graphs and builds."""
    return ox.NamedNode(f"{base_iri}graph/{CATALOG}")


def version_iri(base_iri: str, name: str, build_id: str) -> ox.NamedNode:
    """One version of a source as one build loaded it (kept in the catalogue once replaced).

    >>> version_iri("https://x.org/", "rome-skills", "20261128T120000Z-1").value
    'https://x.org/version/rome-skills/20261128T120000Z-1'
    """
    return ox.NamedNode(f"{base_iri}version/{name}/{build_id}")


def change_iri(base_iri: str, name: str, build_id: str) -> ox.NamedNode:
    """What changed in a source's graph when ``build_id`` replaced its previous version."""
    return ox.NamedNode(f"{base_iri}change/{name}/{build_id}")


@dataclass
class SourceReport:
    """What one source contributed to a build; rows reconcile as read = loaded + quarantined + skipped."""

    name: str
    title: str
    file: str
    version: str
    sha256: str
    publisher: str
    licence: str
    dataset_page: str
    download_url: str
    mappings: list[str]
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    skip_reasons: dict[str, int] | None = None
    triples: int = 0
    quarantined_entities: int = 0
    read_s: float = 0.0
    map_s: float = 0.0
    load_s: float = 0.0

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_skipped


CHANGED_IRIS_CAP = 100


@dataclass
class VersionChange:
    """What changed in one source's published graph from its previous version to the new one.

    An entity is a subject (an IRI) of the source graph; it is *changed* when it is in both
    versions with different triples. The IRI lists are capped at ``CHANGED_IRIS_CAP``.
    """

    source: str
    previous: str  # the IRI of the previous version ("" when the source is new)
    entities_added: int = 0
    entities_removed: int = 0
    entities_changed: int = 0
    triples_added: int = 0
    triples_removed: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def _n(p: object) -> ox.NamedNode:
    return ox.NamedNode(str(p))


def _lit(value: object, datatype: object = None) -> ox.Literal:
    return ox.Literal(str(value), datatype=_n(datatype)) if datatype else ox.Literal(str(value))


def _figures(node: ox.NamedNode, r: SourceReport) -> list[tuple[ox.NamedNode, object, ox.Literal]]:
    """What a source graph and a source version both record: its version, file and counts."""
    integer = XSD.integer
    return [
        (node, PAS.sourceVersion, _lit(r.version)),
        (node, PAS.fileName, _lit(r.file)),
        (node, PAS.sha256, _lit(r.sha256)),
        (node, PAS.rowsRead, _lit(r.rows_read, integer)),
        (node, PAS.rowsLoaded, _lit(r.rows_loaded, integer)),
        (node, PAS.rowsQuarantined, _lit(r.rows_quarantined, integer)),
        (node, PAS.rowsSkipped, _lit(r.rows_skipped, integer)),
        (node, VOID.triples, _lit(r.triples, integer)),
    ]


def describe(
    base_iri: str,
    build_id: str,
    started: datetime,
    reports: list[SourceReport],
    changes: dict[str, VersionChange] | None = None,
) -> list[ox.Quad]:
    """Quads describing the build and every source graph (and its quarantine graph).

    Each source graph points (``pas:currentVersion``) at a ``pas:SourceVersion`` recording the
    file, digest and counts of this build's load; an update keeps the previous versions in the
    catalogue and links the new one to them (``prov:wasRevisionOf``) with a
    ``pas:VersionChange`` counting the entities added, removed and changed (``changes``).
    """
    cat = catalog_iri(base_iri)
    build = ox.NamedNode(f"{base_iri}build/{build_id}")
    now = datetime.now(UTC).isoformat()
    dt, integer = XSD.dateTime, XSD.integer
    triples: list[tuple[ox.NamedNode, object, ox.NamedNode | ox.Literal]] = [
        (build, RDF.type, _n(PAS.Build)),
        (build, PROV.startedAtTime, _lit(started.isoformat(), dt)),
        (build, PROV.endedAtTime, _lit(now, dt)),
        (build, RDFS.label, _lit(f"kg build {build_id} (passerelles {__version__})")),
    ]
    for r in reports:
        g = graph_iri(base_iri, r.name, r.version)
        q = quarantine_iri(base_iri, r.name, r.version)
        triples += [
            (g, RDF.type, _n(PAS.SourceGraph)),
            (g, DCTERMS.title, ox.Literal(r.title, language="fr")),
            *_figures(g, r),
            (g, DCTERMS.publisher, _lit(r.publisher)),
            (g, DCTERMS.license, _n(r.licence)),
            (g, DCTERMS.issued, _lit(now, dt)),
            (g, PROV.wasGeneratedBy, build),
            (g, PROV.generatedAtTime, _lit(now, dt)),
            (build, PROV.generated, g),
        ]
        if r.dataset_page:
            triples.append((g, DCAT.landingPage, _n(r.dataset_page)))
        if r.download_url:
            triples.append((g, DCTERMS.source, _n(r.download_url)))
        for mapping in r.mappings:
            triples.append((g, PAS.mappingFile, _lit(mapping)))
        for reason, count in (r.skip_reasons or {}).items():
            triples.append((g, PAS.skipReason, _lit(f"{count} × {reason}")))
        triples += _version(base_iri, build_id, build, g, r, now, (changes or {}).get(r.name))
        if r.rows_quarantined or r.quarantined_entities:
            triples += [
                (q, RDF.type, _n(PAS.QuarantineGraph)),
                (q, PAS.quarantineOf, g),
                (q, PAS.rowsQuarantined, _lit(r.rows_quarantined, integer)),
                (q, PROV.wasGeneratedBy, build),
            ]
    return [ox.Quad(s, _n(p), o, cat) for s, p, o in triples]


def _version(
    base_iri: str,
    build_id: str,
    build: ox.NamedNode,
    graph: ox.NamedNode,
    r: SourceReport,
    now: str,
    change: VersionChange | None,
) -> list[tuple[ox.NamedNode, object, ox.NamedNode | ox.Literal]]:
    v = version_iri(base_iri, r.name, build_id)
    dt, integer = XSD.dateTime, XSD.integer
    triples: list[tuple[ox.NamedNode, object, ox.NamedNode | ox.Literal]] = [
        (graph, PAS.currentVersion, v),
        (v, RDF.type, _n(PAS.SourceVersion)),
        (v, RDFS.label, _lit(f"{r.name} {r.version} ({build_id})")),
        (v, PAS.sourceName, _lit(r.name)),
        (v, PAS.versionGraph, graph),
        *_figures(v, r),
        (v, PROV.wasGeneratedBy, build),
        (v, PROV.generatedAtTime, _lit(now, dt)),
    ]
    if change is not None:
        c = change_iri(base_iri, r.name, build_id)
        triples += [
            (c, RDF.type, _n(PAS.VersionChange)),
            (c, PAS.toVersion, v),
            (c, PAS.entitiesAdded, _lit(change.entities_added, integer)),
            (c, PAS.entitiesRemoved, _lit(change.entities_removed, integer)),
            (c, PAS.entitiesChanged, _lit(change.entities_changed, integer)),
            (c, PAS.triplesAdded, _lit(change.triples_added, integer)),
            (c, PAS.triplesRemoved, _lit(change.triples_removed, integer)),
            (c, PROV.wasGeneratedBy, build),
        ]
        if change.previous:
            triples += [
                (v, PROV.wasRevisionOf, _n(change.previous)),
                (c, PAS.fromVersion, _n(change.previous)),
            ]
    return triples


def carried_history(
    previous: Path | None, base_iri: str, build_id: str, reports: list[SourceReport]
) -> list[ox.Quad]:
    """The version history of the ``previous`` build's catalogue, for a full build's catalogue.

    A full build starts a new store: this carries over the descriptions of the previous source
    versions, version changes and builds, and links each new version to the version it follows
    (``prov:wasRevisionOf``). Nothing when there is no previous build.
    """
    if previous is None:
        return []
    try:
        old = ox.Store.read_only(str(previous))
    except OSError:
        return []
    cat = catalog_iri(base_iri)
    kinds = {_n(PAS.SourceVersion), _n(PAS.VersionChange), _n(PAS.Build)}
    subjects = {q.subject for q in old.quads_for_pattern(None, _n(RDF.type), None, cat) if q.object in kinds}
    quads = [q for subject in subjects for q in old.quads_for_pattern(subject, None, None, cat)]
    names = {
        q.subject: q.object.value
        for q in old.quads_for_pattern(None, _n(PAS.sourceName), None, cat)
        if isinstance(q.object, ox.Literal)
    }
    followed: dict[str, ox.NamedNode] = {}
    for q in old.quads_for_pattern(None, _n(PAS.currentVersion), None, cat):
        if isinstance(q.object, ox.NamedNode) and q.object in names:
            followed[names[q.object]] = q.object
    for r in reports:
        if r.name in followed:
            quads.append(
                ox.Quad(
                    version_iri(base_iri, r.name, build_id), _n(PROV.wasRevisionOf), followed[r.name], cat
                )
            )
    return quads


def parse_term(text: str) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    """An RDF term from its N-Triples form (the validators report terms that way).

    >>> parse_term('"A12"'), parse_term("<https://x/a>").value
    (<Literal value=A12 datatype=<NamedNode value=http://www.w3.org/2001/XMLSchema#string>>, 'https://x/a')
    """
    if text.startswith("_:"):
        return ox.BlankNode(text[2:])
    triple = next(iter(ox.parse(f"<urn:s> <urn:p> {text} .", format=ox.RdfFormat.N_TRIPLES)))
    obj = triple.object
    assert isinstance(obj, ox.NamedNode | ox.BlankNode | ox.Literal)
    return obj


def result_quads(graph: ox.NamedNode, focus: ox.NamedNode | ox.BlankNode, result: object) -> list[ox.Quad]:
    """A ``sh:ValidationResult`` for a quarantined entity, in its quarantine graph."""
    from kg.validate_engine import ValidationResult

    assert isinstance(result, ValidationResult)
    node = ox.BlankNode()
    quads = [
        ox.Quad(node, _n(RDF.type), _n(SH.ValidationResult), graph),
        ox.Quad(node, _n(SH.focusNode), focus, graph),
        ox.Quad(node, _n(SH.resultSeverity), _n(f"{SH}{result.severity}"), graph),
        ox.Quad(node, _n(SH.sourceConstraintComponent), _n(f"{SH}{result.component}"), graph),
        ox.Quad(graph, _n(PAS.quarantinedEntity), focus, graph),
    ]
    if result.shape.startswith("<"):
        quads.append(ox.Quad(node, _n(SH.sourceShape), ox.NamedNode(result.shape[1:-1]), graph))
    if result.path and re.fullmatch(r"<[^<>]*>", result.path):  # a plain IRI, not a complex path
        quads.append(ox.Quad(node, _n(SH.resultPath), ox.NamedNode(result.path[1:-1]), graph))
    if result.value:
        quads.append(ox.Quad(node, _n(SH.value), parse_term(result.value), graph))
    for lang, message in result.messages.items():
        lit = ox.Literal(message, language=lang) if lang else ox.Literal(message)
        quads.append(ox.Quad(node, _n(SH.resultMessage), lit, graph))
    return quads
