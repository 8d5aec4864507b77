"""``kg extract``: offers files in, one JSON object per offer out.

The gazetteer and the occupation model come from a built store; the work is spread over
``workers`` processes (forked after loading, so the models are shared, not reloaded), chunks
of offers keeping the input order.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import pyoxigraph as ox

from kg.heap import fewer_collections, freeze_heap
from kg.nlp.gazetteer import Gazetteer
from kg.nlp.offers import Offer, RecordError, read_offers
from kg.nlp.pipeline import Extractor, OccupationPredictor, load_pipeline

CHUNK = 32
_EXTRACTOR: Extractor | None = None  # the forked workers' copy


def occupation_model(store: ox.Store, base_iri: str) -> OccupationPredictor:
    """The occupation predictor (:mod:`kg.nlp.occupation`) of a store's labels."""
    from kg.nlp.occupation import OccupationModel

    return OccupationModel.from_store(store, base_iri)


def make_extractor(store: ox.Store, store_dir: Path | None, base_iri: str) -> Extractor:
    """The extractor of a store: its gazetteer and occupation model (both cached per build), pipeline."""
    from kg.nlp.occupation import OccupationModel

    gazetteer = Gazetteer.cached(store, store_dir, base_iri)
    extractor = Extractor(load_pipeline(gazetteer), OccupationModel.cached(store, store_dir, base_iri))
    # Perf only: the models (~280,000 dicts, lists and tuples of tokens, keys and entries) live as long
    # as the process, yet each full collection walked them all again (~6 % of a cold pass); frozen, the
    # forked workers also stop writing to their pages (copy-on-write).
    freeze_heap()
    return extractor


def _chunks(items: Iterable[Offer | RecordError], size: int) -> Iterator[list[Offer | RecordError]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _work(chunk: list[Offer | RecordError]) -> list[dict[str, Any]]:
    assert _EXTRACTOR is not None
    return list(_EXTRACTOR.extract(chunk))


@dataclass
class ExtractStats:
    """What a run did."""

    offers: int = 0
    failed: int = 0
    capped: int = 0
    skills: int = 0
    emerging: int = 0


def run(
    extractor: Extractor,
    paths: list[Path],
    out: IO[str],
    workers: int = 1,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> ExtractStats:
    """Extract every offer of ``paths`` into ``out`` (JSON Lines); return the counts."""
    global _EXTRACTOR
    stats = ExtractStats()
    items = (item for path in paths for item in read_offers(path))
    # Perf only: a pass fills the linker's caches (keyed words, prior parts and indexes, clause memos) and
    # the second stage's per-model tables, long-lived objects made after the models were frozen; with the
    # default thresholds each few thousand new ones started a full collection walking them all (6 full
    # collections, ~8 % of a cold pass over the 610 real offers). Fewer young collections mean far fewer
    # full ones; cyclic garbage is still collected (see kg.heap). Forked workers inherit the setting.
    with fewer_collections():
        if workers > 1:
            _EXTRACTOR = extractor
            context = multiprocessing.get_context("fork")
            with context.Pool(workers) as pool:
                results: Iterable[dict[str, Any]] = (
                    r for chunk in pool.imap(_work, _chunks(items, CHUNK)) for r in chunk
                )
                _write(results, out, stats, on_result)
        else:
            _write(extractor.extract(items), out, stats, on_result)
    return stats


def _write(
    results: Iterable[dict[str, Any]],
    out: IO[str],
    stats: ExtractStats,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> None:
    for result in results:
        stats.offers += 1
        if "error" in result:
            stats.failed += 1
        else:
            stats.skills += len(result["skills"])
            stats.emerging += len(result["emerging"])
            stats.capped += bool(result.get("warnings"))
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        if on_result:
            on_result(result)
