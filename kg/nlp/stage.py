"""The extraction stage of ``kg build``: the configured offer sources (those mapped by
``offers-jobs.rq``) and the RNCP blocks of the store being built go through the extraction;
the results land in their own named graph ``graph/nlp-extraction/{version}``, which the build
then validates (``shapes/nlp.ttl``), counts and describes like any source.

Records of this pseudo-source are the offers: an offer is loaded when its predictions and
mentions passed validation, quarantined (with its error) when it could not be extracted.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kg import __version__
from kg.heap import fewer_collections
from kg.manifest import Manifest, SourceSpec
from kg.mapping import MappingStats
from kg.nlp import pipeline, rerank
from kg.nlp.coverage import block_coverage
from kg.nlp.extract import occupation_model
from kg.nlp.gazetteer import Gazetteer, select
from kg.nlp.graph import GraphWriter
from kg.nlp.offers import Offer, RecordError, read_offers
from kg.nlp.pipeline import MODEL, Extractor, load_pipeline
from kg.provenance import SourceReport, graph_iri

OFFER_MAPPING = "offers-jobs.rq"
NAME = "nlp-extraction"


MODEL_SOURCES = ("rome-", "rncp-blocs")  # the graphs the models read: ROME labels and texts, blocs


def model_store(store: ox.Store, base_iri: str, manifest: Manifest) -> ox.Store:
    """An in-memory copy of the ROME, RNCP-bloc and offer source graphs as a default graph: the
    models' queries on it are as fast as on a published store (querying the unpublished
    union of named graphs was ~30x slower on the real graph)."""
    memory = ox.Store()
    for spec in manifest.sources:
        # the offer graphs too: the labelled offers are the occupation re-ranker's examples (each
        # offer is then predicted without its own copies, see kg.nlp.occupation_memory)
        if spec.name.startswith(MODEL_SOURCES) or OFFER_MAPPING in spec.mappings:
            data = store.dump(
                format=ox.RdfFormat.N_TRIPLES, from_graph=graph_iri(base_iri, spec.name, spec.version)
            )
            if data:
                memory.bulk_load(data, format=ox.RdfFormat.N_TRIPLES)
    return memory


@dataclass
class StageResult:
    spec: SourceSpec
    report: SourceReport
    stats: MappingStats
    spool: Path
    timings: dict[str, float] = field(default_factory=dict)


def offer_sources(manifest: Manifest) -> list[SourceSpec]:
    """The manifest's offer sources."""
    return [s for s in manifest.sources if OFFER_MAPPING in s.mappings]


def _mark(stats: MappingStats, pairs: list[tuple[str, int]]) -> None:
    """Record which record produced which entity (compact marks or a plain dict)."""
    if isinstance(stats.entities, dict):
        for entity, number in pairs:
            stats.entities.setdefault(entity, set()).add(number)
    else:
        stats.entities.add(pairs)


def graph_version(pipeline_version: str, rerank_model: Path | None = None) -> str:
    """The NLP graph's version: the project's, the spaCy pipeline's and, when the learned second
    stage decides the links (the default; ``PASSERELLES_NLP_RERANK=0``: off), its model file's sha256 —
    another model gives other links, so another version.

    >>> import tempfile
    >>> graph_version("3.8.0") == f"{__version__}-{MODEL}-3.8.0"
    True
    >>> model = Path(tempfile.mkdtemp()) / "m.json"
    >>> _ = model.write_text("{}")
    >>> graph_version("3.8.0", model).endswith("-3.8.0-rerank-44136fa355b3")
    True
    """
    version = f"{__version__}-{MODEL}-{pipeline_version}"
    if rerank_model is not None:
        version += f"-rerank-{hashlib.sha256(rerank_model.read_bytes()).hexdigest()[:12]}"
    return version


def stage_version(pipeline_version: str) -> str:
    """:func:`graph_version` of the model file the pipeline loads now: the switch and the file are read
    at call time, not bound at import (a test that patched ``kg.nlp.rerank.MODEL_FILE`` while this module
    was first imported used to leave every later build hashing that patched, deleted path).

    >>> stage_version("3.8.0").startswith(f"{__version__}-{MODEL}-3.8.0")
    True
    """
    return graph_version(pipeline_version, rerank.require_model() if pipeline.RERANK else None)


def run_stage(manifest: Manifest, store: ox.Store, base_iri: str, spool_dir: Path) -> StageResult | None:
    """Extract the offer sources and the blocks of ``store`` into an N-Triples spool."""
    sources = offer_sources(manifest)
    if not sources:
        return None
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    view = model_store(store, base_iri, manifest)
    gazetteer = Gazetteer.from_store(view, base_iri)
    nlp = load_pipeline(gazetteer)
    extractor = Extractor(nlp, occupation_model(view, base_iri))
    t_models = time.perf_counter()
    version = stage_version(str(nlp.meta.get("version", "")))
    spec = SourceSpec(
        name=NAME,
        title="Extraction des offres d'emploi et des blocs RNCP (kg.nlp) — compétences, métiers prédits, "
        "compétences émergentes, couverture des blocs",
        file=", ".join(s.file for s in sources),
        mappings=("kg/nlp",),
        version=version,
        publisher="Passerelles",
        dataset_page="https://w3id.org/passerelles/",
        download_url="https://w3id.org/passerelles/",
        licence="https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        media_type="application/n-triples",
    )
    report = SourceReport(
        name=NAME,
        title=spec.title,
        file=spec.file,
        version=version,
        sha256="",
        publisher=spec.publisher,
        licence=spec.licence,
        dataset_page=spec.dataset_page,
        download_url=spec.download_url,
        mappings=list(spec.mappings),
    )
    stats = MappingStats()
    writer = GraphWriter(base_iri)
    spool = Path(tempfile.mkstemp(prefix=f".tmp-{NAME}-", suffix=".nt", dir=spool_dir)[1])
    titles: dict[int, str] = {}
    number = 0

    def numbered() -> Any:
        nonlocal number
        for source in sources:
            for item in read_offers(source.path(manifest.data_dir)):
                number += 1
                stats.records.add(number)
                if isinstance(item, Offer):
                    titles[number] = item.title
                yield number, item

    try:
        # perf only, as kg.nlp.extract.run: the pass's caches would start full collections
        with fewer_collections(), spool.open("w", encoding="utf-8") as out:
            pending: list[tuple[int, Offer | RecordError]] = []
            for entry in numbered():
                pending.append(entry)
                if len(pending) >= 64:
                    _extract(extractor, writer, pending, titles, stats, out)
                    pending = []
            _extract(extractor, writer, pending, titles, stats, out)
            t_offers = time.perf_counter()
            for line in writer.emerging_triples():
                out.write(line + "\n")
            blocks = [(r[0], r[1]) for r in select(view, "blocks.rq", base_iri)]
            coverage = block_coverage(extractor.nlp.get_pipe("pas_skill_linker").linker, blocks)  # type: ignore[attr-defined]
            for block, code, score, method in coverage:
                for line in writer.coverage(block, code, score, method):
                    out.write(line + "\n")
            t_blocks = time.perf_counter()
            model_version = str(nlp.meta.get("version", ""))
            for line in writer.run_triples(started, datetime.now(UTC), __version__, MODEL, model_version):
                out.write(line + "\n")
    except BaseException:
        spool.unlink(missing_ok=True)
        raise
    report.rows_read = len(stats.records)
    report.map_s = time.perf_counter() - t0
    timings = {
        "nlp_models": t_models - t0,
        "nlp_offers": t_offers - t_models,
        "nlp_blocks": t_blocks - t_offers,
    }
    return StageResult(spec, report, stats, spool, timings)


def _extract(
    extractor: Extractor,
    writer: GraphWriter,
    pending: list[tuple[int, Offer | RecordError]],
    titles: dict[int, str],
    stats: MappingStats,
    out: Any,
) -> None:
    results = extractor.extract(item for _, item in pending)
    for (number, item), result in zip(pending, results, strict=True):
        if "error" in result:
            stats.unmapped[number] = {
                "file": Path(getattr(item, "file", "")).name or None,
                "line": str(getattr(item, "line", "")),
                "id": result.get("id"),
                "error": str(result["error"]),
            }
            continue
        lines = writer.offer(titles.get(number, ""), result)
        # The offer is this record's entity even when nothing was found in its text.
        marks = [(f"<{writer.base}id/offer/{result['id']}>", number)]
        for line in lines:
            subject = line.split(" ", 1)[0]
            if "/id/offer/" in subject or "/id/mention/" in subject:
                marks.append((subject, number))
        _mark(stats, marks)
        stats.triples += len(lines)
        out.write("\n".join(lines) + ("\n" if lines else ""))
