"""The per-group thresholds of benchmarks/group_thresholds.py on random hand-made offers (no real data): the
greedy keeps the precision floor on the offers it is given, never does worse there than the single
threshold, reads no other offer, and lets the word competition of decide act between groups."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from group_thresholds import greedy_thresholds, group_of, pooled_counts

from kg.nlp.evaluate import AnnotatedOffer, GoldMention
from kg.nlp.rerank import FEATURES, KINDS, SECTIONS, Candidate


def _candidate(rng: numpy.random.Generator, clause: int, code: str) -> Candidate:
    row = [0.0] * len(FEATURES)
    row[FEATURES.index(f"kind_{KINDS[int(rng.integers(len(KINDS)))]}")] = 1.0
    row[FEATURES.index(f"section_{SECTIONS[int(rng.integers(len(SECTIONS)))]}")] = 1.0
    row[FEATURES.index("linked")] = float(rng.integers(2))
    used = frozenset(int(w) for w in rng.choice(4, size=int(rng.integers(1, 3)), replace=False))
    return Candidate(clause, code, 0, 1, used, tuple(row))


Offers = tuple[list[AnnotatedOffer], list[list[Candidate]], dict[int, numpy.ndarray]]


def _offers(seed: int, count: int = 12) -> Offers:
    """Offers of 3 clauses × 4 candidates each; half the items are right, more often the probable ones."""
    rng = numpy.random.default_rng(seed)
    offers, cands, probabilities = [], [], {}
    for o in range(count):
        found = [_candidate(rng, clause, f"{o}-{clause}-{n}") for clause in range(3) for n in range(4)]
        chances = rng.uniform(0.05, 0.95, size=len(found))
        right = [c.code for c, p in zip(found, chances, strict=True) if rng.uniform() < p]
        units = tuple(GoldMention(0, 1, "task", code) for code in right)
        offers.append(AnnotatedOffer(str(o), "", "dev", "", units))
        cands.append(found)
        probabilities[o] = chances
    return offers, cands, probabilities


def test_the_greedy_keeps_the_floor_and_never_does_worse_than_one_threshold() -> None:
    moved = 0
    for seed in range(6):
        offers, cands, probabilities = _offers(seed)
        chosen = list(range(len(offers)))
        for grouping in ("kind", "section", "linked", "kind+linked"):
            grouped, one = greedy_thresholds(offers, cands, probabilities, chosen, grouping, 0.6, 0.5)
            # the counts it reports are the decisions at its thresholds
            limits = {o: grouped.limits([group_of(c, grouping) for c in cands[o]]) for o in chosen}
            assert pooled_counts(offers, cands, probabilities, limits, chosen) == grouped.counts
            if one.counts.precision >= 0.6:
                assert grouped.counts.precision >= 0.6
                assert grouped.counts.found >= one.counts.found
            moved += grouped is not one
    assert moved  # the groups' thresholds beat the single one somewhere


def test_the_greedy_reads_only_the_offers_it_is_given() -> None:
    offers, cands, probabilities = _offers(3)
    chosen = list(range(8))
    first, _ = greedy_thresholds(offers, cands, probabilities, chosen, "section", 0.6, 0.5)
    # the other offers' probabilities and gold changed: the same choice
    changed = dict(probabilities) | {o: 1 - probabilities[o] for o in range(8, len(offers))}
    other = [*offers[:8], *(AnnotatedOffer(a.id, "", "dev", "", ()) for a in offers[8:])]
    again, _ = greedy_thresholds(other, cands, changed, chosen, "section", 0.6, 0.5)
    assert again == first


def test_the_word_competition_acts_between_groups() -> None:
    """Two right items on the same words, a savoir and a less probable savoir-faire: with decide's
    competition, once the savoir is kept, lowering the savoir-faire's threshold under its probability finds
    no unit more (it loses the words), so the greedy leaves it; without the competition both are kept."""
    def cand(code: str, kind: str) -> Candidate:
        row = [0.0] * len(FEATURES)
        row[FEATURES.index(f"kind_{kind}")] = 1.0
        return Candidate(0, code, 0, 1, frozenset({0, 1}), tuple(row))

    units = (GoldMention(0, 1, "task", "A"), GoldMention(0, 1, "task", "B"))
    gold = AnnotatedOffer("1", "", "dev", "", units)
    cands = [[cand("A", "savoir"), cand("B", "savoir-faire")]]
    probabilities = {0: numpy.array([0.4, 0.3])}
    grouped, _ = greedy_thresholds([gold], cands, probabilities, [0], "kind", 0.7, 0.8)
    assert grouped.thresholds["savoir"] <= 0.4 and grouped.thresholds["savoir-faire"] > 0.3
    assert grouped.counts.found == 1
    free, _ = greedy_thresholds([gold], cands, probabilities, [0], "kind", 0.7, 0.8, compete=False)
    assert free.thresholds["savoir-faire"] <= 0.3 and free.counts.found == 2
