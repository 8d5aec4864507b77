"""What benchmarks/rerank_skills.py reports beside its CV table (no real data): the held-out figures by
offers file, and the held-out predictions written in ``kg extract``'s shape for kg.nlp.evaluate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from rerank_skills import by_source, by_source_table, write_held_out

from kg.nlp.evaluate import AnnotatedOffer, GoldMention, predictions_from_extraction, skill_pr
from kg.nlp.rerank import Candidate


def offer(oid: str, source: str, *codes: str) -> AnnotatedOffer:
    return AnnotatedOffer(oid, source, "dev", "", tuple(GoldMention(i * 10, i * 10 + 5, "task", c)
                                                        for i, c in enumerate(codes)))


def cand(code: str, start: int = 0) -> Candidate:
    return Candidate(0, code, start, start + 5, frozenset({start}), ())


OFFERS = [offer("a", "ain.jsonl", "1", "2"), offer("b", "ardeche.csv", "3"), offer("c", "ain.jsonl", "4")]
KEPT = {0: [cand("1"), cand("9", 10)], 1: [cand("3")], 2: []}


def test_by_source_pools_each_file() -> None:
    pooled = by_source(OFFERS, KEPT)
    assert list(pooled) == ["ain.jsonl", "ardeche.csv"]
    ain = pooled["ain.jsonl"]
    assert (ain.found, ain.gold, ain.correct, ain.predicted) == (1, 3, 1, 2)
    assert pooled["ardeche.csv"].recall == 1.0
    table = by_source_table(OFFERS, {"v": KEPT, "partial": {0: []}})
    assert "| v | ain.jsonl | 2 | 0.500 | 0.333 |" in table
    assert "partial" not in table  # a variant that did not decide every offer has no rows


def test_held_out_predictions_score_as_the_cv_does(tmp_path: Path) -> None:
    path = tmp_path / "held.jsonl"
    write_held_out(path, OFFERS, {"v": KEPT})
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["a", "b", "c"] and {r["variant"] for r in records} == {"v"}
    first = [{"code": "1", "start": 0, "end": 5}, {"code": "9", "start": 10, "end": 15}]
    assert records[0]["skills"] == first
    pooled = skill_pr(OFFERS, predictions_from_extraction(records))
    assert (pooled.found, pooled.gold, pooled.correct, pooled.predicted) == (2, 4, 2, 3)
