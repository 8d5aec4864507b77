"""Quality measures of the offer extraction (issue #4): occupation top-k accuracy, skill precision and
recall against the hand annotation (docs/ANNOTATION.md), recall@k of the recruiter-chosen ``competences``.

Pure functions over plain data; the benchmark (``benchmarks/extraction.py``) feeds them real offers.

Skill matching (the issue: "an item counts as found if the code or an accepted alternative is
predicted"):

- **primary, per offer, item level**: the gold of an offer is the set of its annotated requirements that a
  ROME item means (``code`` not null, diplomas left out), one *unit* per distinct accepted set
  ``{code} ∪ alternatives`` — a requirement stated three times is one unit. A unit is found when any of
  its accepted codes is among the offer's predicted codes (recall). A predicted code is correct when it
  is accepted by some annotated mention of the offer, including the alternatives of mentions in no
  referential (precision). Predicted codes accepted only by diploma mentions are left out of both
  counts (diplomas are tagged apart). Counts are summed over offers (micro average).
- **secondary, span overlap**: each gold mention (code not null, not a diploma) is found when a
  predicted skill whose character span overlaps it carries an accepted code; a predicted skill is
  correct when it overlaps a mention that accepts its code; one that overlaps only diploma mentions is
  left out; any other prediction (no overlap, or a wrong code) is an error.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy


@dataclass(frozen=True)
class GoldMention:
    """One annotated requirement: a span, its kind, its ROME item (None: in no referential) and the
    other acceptable items."""

    start: int
    end: int
    kind: str
    code: str | None
    alternatives: tuple[str, ...] = ()

    @property
    def accepted(self) -> frozenset[str]:
        """Codes that count as a correct link for this mention.

        >>> sorted(GoldMention(0, 4, "task", "1", ("2",)).accepted)
        ['1', '2']
        """
        return frozenset(([self.code] if self.code else []) + list(self.alternatives))


@dataclass(frozen=True)
class AnnotatedOffer:
    id: str
    source: str
    split: str
    sha256: str
    mentions: tuple[GoldMention, ...] = field(default=())
    draw: int = 0  # the draw of docs/ANNOTATION.md the offer came in (1-7; 0 when not recorded)


@dataclass(frozen=True)
class PredictedSkill:
    code: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class PR:
    """True positives and denominators, summed over offers."""

    found: int  # gold units (or mentions) found
    gold: int
    correct: int  # predictions that are right
    predicted: int

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 0.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: PR) -> PR:
        return PR(self.found + other.found, self.gold + other.gold,
                  self.correct + other.correct, self.predicted + other.predicted)


def load_annotation(path: Path) -> list[AnnotatedOffer]:
    """Read the annotation JSONL (one offer per line, see docs/ANNOTATION.md)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(annotated_offer(json.loads(line)))
    return out


def annotated_offer(record: Mapping[str, Any]) -> AnnotatedOffer:
    """One annotation record → AnnotatedOffer.

    >>> a = annotated_offer({"id": "7", "source": "f.jsonl", "split": "dev", "sha256": "x", "draw": 2,
    ...     "mentions": [{"start": 0, "end": 5, "kind": "quality", "code": "300490", "alternatives": []}]})
    >>> a.mentions[0].code, a.split, a.draw
    ('300490', 'dev', 2)
    """
    return AnnotatedOffer(
        id=str(record["id"]),
        source=record.get("source", ""),
        split=record.get("split", "dev"),
        sha256=record.get("sha256", ""),
        mentions=tuple(
            GoldMention(m["start"], m["end"], m["kind"], m.get("code"), tuple(m.get("alternatives") or ()))
            for m in record.get("mentions", ())
        ),
        draw=int(record.get("draw", 0)),
    )


def topk_accuracy(pairs: Iterable[tuple[Sequence[str], str]], k: int) -> float:
    """Share of offers whose declared code is among the first k predicted candidates.

    >>> topk_accuracy([(["A1", "B2"], "B2"), (["C3"], "A1"), ([], "A1")], 1)
    0.0
    >>> round(topk_accuracy([(["A1", "B2"], "B2"), (["C3"], "A1"), ([], "A1")], 2), 3)
    0.333
    """
    pairs = list(pairs)
    if not pairs:
        return 0.0
    return sum(1 for ranked, declared in pairs if declared in list(ranked)[:k]) / len(pairs)


def offer_item_pr(gold: AnnotatedOffer, predicted: Iterable[str]) -> PR:
    """Primary measure for one offer: distinct requirement units vs distinct predicted codes.

    >>> g = AnnotatedOffer("1", "", "dev", "", (
    ...     GoldMention(0, 5, "quality", "300490"),
    ...     GoldMention(9, 14, "quality", "300490"),              # same item stated twice: one unit
    ...     GoldMention(20, 30, "task", "106670", ("300034",)),
    ...     GoldMention(40, 50, "task", None, ("107740",)),       # in no referential: not in recall
    ...     GoldMention(60, 70, "diploma", "491040")))            # diplomas apart
    >>> offer_item_pr(g, ["300034", "107740", "491040", "999999"])
    PR(found=1, gold=2, correct=2, predicted=3)
    """
    units = {m.accepted for m in gold.mentions if m.code is not None and m.kind != "diploma"}
    acceptable: set[str] = set()
    for m in gold.mentions:
        if m.kind != "diploma":
            acceptable |= m.accepted
    diploma_only = {c for m in gold.mentions if m.kind == "diploma" for c in m.accepted} - acceptable
    codes = set(predicted) - diploma_only
    return PR(
        found=sum(1 for u in units if u & codes),
        gold=len(units),
        correct=len(codes & acceptable),
        predicted=len(codes),
    )


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def offer_span_pr(gold: AnnotatedOffer, predicted: Iterable[PredictedSkill]) -> PR:
    """Secondary measure for one offer: mentions found by an overlapping prediction with an accepted code.

    >>> g = AnnotatedOffer("1", "", "dev", "", (
    ...     GoldMention(0, 5, "quality", "300490"), GoldMention(10, 20, "task", "106670", ("300034",)),
    ...     GoldMention(30, 40, "diploma", None)))
    >>> offer_span_pr(g, [PredictedSkill("300490", 0, 8), PredictedSkill("300034", 12, 15),
    ...                   PredictedSkill("300490", 50, 55), PredictedSkill("123", 31, 33)])
    PR(found=2, gold=2, correct=2, predicted=3)
    """
    mentions = list(gold.mentions)
    linked = [m for m in mentions if m.code is not None and m.kind != "diploma"]
    preds = [(p.code, p.start, p.end) for p in predicted if p.start is not None and p.end is not None]
    found = 0
    for m in linked:
        if any(code in m.accepted and _overlaps(s, e, m.start, m.end) for code, s, e in preds):
            found += 1
    correct = counted = 0
    for code, s, e in preds:
        hit = [m for m in mentions if _overlaps(s, e, m.start, m.end)]
        if hit and all(m.kind == "diploma" for m in hit):
            continue
        counted += 1
        if any(code in m.accepted and m.kind != "diploma" for m in hit):
            correct += 1
    return PR(found=found, gold=len(linked), correct=correct, predicted=counted)


def skill_pr(
    gold: Iterable[AnnotatedOffer],
    predictions: Mapping[str, Sequence[PredictedSkill]],
    *,
    spans: bool = False,
) -> PR:
    """Micro-averaged P/R over the annotated offers (an offer absent from ``predictions`` predicted nothing).

    >>> g = [AnnotatedOffer("1", "", "dev", "", (GoldMention(0, 5, "quality", "300490"),)),
    ...      AnnotatedOffer("2", "", "dev", "", (GoldMention(0, 5, "task", "106670"),))]
    >>> r = skill_pr(g, {"1": [PredictedSkill("300490", 0, 5), PredictedSkill("1", 9, 12)]})
    >>> r, round(r.precision, 2), r.recall
    (PR(found=1, gold=2, correct=1, predicted=2), 0.5, 0.5)
    >>> skill_pr(g, {"1": [PredictedSkill("300490", 0, 5)]}, spans=True)
    PR(found=1, gold=2, correct=1, predicted=1)
    """
    total = PR(0, 0, 0, 0)
    for offer in gold:
        preds = predictions.get(offer.id, ())
        if spans:
            total = total + offer_span_pr(offer, preds)
        else:
            total = total + offer_item_pr(offer, (p.code for p in preds))
    return total


@dataclass(frozen=True)
class Interval:
    """Percentile bootstrap intervals of micro-averaged precision and recall, beside the counts they
    resample (``pooled``: :func:`skill_pr`'s)."""

    pooled: PR
    precision: tuple[float, float]
    recall: tuple[float, float]
    draws: int


def bootstrap_pr(
    gold: Sequence[AnnotatedOffer],
    predictions: Mapping[str, Sequence[PredictedSkill]],
    *,
    draws: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The ``level`` percentile intervals of :func:`skill_pr`'s item-level P and R over ``draws`` resamples
    of the offers with replacement (the offer is the unit resampled: its requirements are not independent
    of one another). It says how far a figure on ~120 offers may be from the same system's figure on
    other offers of the kind.

    >>> two = (GoldMention(0, 5, "task", "1"), GoldMention(9, 12, "task", "2"))
    >>> g = [AnnotatedOffer(str(i), "", "test", "", two) for i in range(40)]
    >>> p = {str(i): [PredictedSkill("1")] + ([PredictedSkill("2")] if i % 2 else []) for i in range(40)}
    >>> iv = bootstrap_pr(g, p, draws=500)
    >>> iv.pooled == skill_pr(g, p), iv.pooled.recall
    (True, 0.75)
    >>> iv.precision
    (1.0, 1.0)
    >>> 0.65 < iv.recall[0] < 0.75 < iv.recall[1] < 0.85
    True
    """
    per_offer = (offer_item_pr(offer, (p.code for p in predictions.get(offer.id, ()))) for offer in gold)
    counts = numpy.array([[c.found, c.gold, c.correct, c.predicted] for c in per_offer], dtype=float)
    if not len(counts):
        return Interval(PR(0, 0, 0, 0), (0.0, 0.0), (0.0, 0.0), draws)
    pooled = PR(*(int(v) for v in counts.sum(axis=0)))
    picks = numpy.random.default_rng(seed).integers(0, len(counts), size=(draws, len(counts)))
    sums = counts[picks].sum(axis=1)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        recall = numpy.nan_to_num(sums[:, 0] / sums[:, 1])
        precision = numpy.nan_to_num(sums[:, 2] / sums[:, 3])
    tail = (1 - level) / 2 * 100
    p_low, p_high = numpy.percentile(precision, [tail, 100 - tail])
    r_low, r_high = numpy.percentile(recall, [tail, 100 - tail])
    return Interval(pooled, (float(p_low), float(p_high)), (float(r_low), float(r_high)), draws)


def recall_at_k(pairs: Iterable[tuple[Sequence[str], Iterable[str]]], k: int = 10) -> tuple[float, int, int]:
    """Recall@k of reference codes (the recruiter's ``competences``) in ranked predictions, micro over offers
    with at least one reference code. Returns (recall, found, reference codes).

    >>> recall_at_k([(["a", "b", "c"], ["c", "z"]), (["x"], []), (["q"], ["q"])], k=2)
    (0.3333333333333333, 1, 3)
    """
    found = total = 0
    for ranked, reference in pairs:
        ref = set(reference)
        if not ref:
            continue
        top = set(list(ranked)[:k])
        found += len(ref & top)
        total += len(ref)
    return (found / total if total else 0.0, found, total)


def annotation_stats(offers: Iterable[AnnotatedOffer]) -> dict[str, Any]:
    """Counts that describe an annotation set: offers, mentions, share in no referential, kinds, splits.

    >>> s = annotation_stats([AnnotatedOffer("1", "", "dev", "", (GoldMention(0, 1, "task", None),
    ...                                                          GoldMention(2, 3, "quality", "3")))])
    >>> s["offers"], s["mentions"], s["no_referential_share"], s["by_kind"]["task"]
    (1, 2, 0.5, {'mentions': 1, 'no_referential': 1})
    """
    offers = list(offers)
    mentions = [m for o in offers for m in o.mentions]
    by_kind: dict[str, dict[str, int]] = {}
    for m in mentions:
        entry = by_kind.setdefault(m.kind, {"mentions": 0, "no_referential": 0})
        entry["mentions"] += 1
        entry["no_referential"] += int(m.code is None)
    null = sum(1 for m in mentions if m.code is None)
    return {
        "offers": len(offers),
        "splits": dict(Counter(o.split for o in offers)),
        "mentions": len(mentions),
        "no_referential": null,
        "no_referential_share": null / len(mentions) if mentions else 0.0,
        "with_alternatives": sum(1 for m in mentions if m.alternatives),
        "by_kind": dict(sorted(by_kind.items())),
    }


def predictions_from_extraction(records: Iterable[Mapping[str, Any]]) -> dict[str, list[PredictedSkill]]:
    """Skills per offer id from ``kg extract`` output records (records with an ``error`` are skipped).

    >>> predictions_from_extraction([{"id": "1", "skills": [{"code": "300490", "start": 3, "end": 9}]},
    ...                              {"id": "2", "error": "empty text"}])
    {'1': [PredictedSkill(code='300490', start=3, end=9)]}
    """
    out: dict[str, list[PredictedSkill]] = {}
    for r in records:
        if r.get("error") or "id" not in r:
            continue
        out[str(r["id"])] = [
            PredictedSkill(str(s["code"]), s.get("start"), s.get("end"))
            for s in r.get("skills") or () if s.get("code")
        ]
    return out
