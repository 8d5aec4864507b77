"""The miss and false-positive categories of benchmarks/skill_errors.py on hand-made cases (no real data)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from skill_errors import (
    FP_CATEGORIES,
    MISS_CATEGORIES,
    Judged,
    categorise,
    fp_category,
    miss_category,
)

from kg.nlp.evaluate import AnnotatedOffer, GoldMention, offer_item_pr
from kg.nlp.rerank import FEATURES, Candidate


def features(**values: float) -> tuple[float, ...]:
    return tuple(values.get(name, 0.0) for name in FEATURES)


def cand(code: str, start: int, end: int, used: set[int], clause: int = 0, **values: float) -> Candidate:
    return Candidate(clause, code, start, end, frozenset(used), features(**values))


LABELS = {
    "R": frozenset({"respect", "regl", "secur"}),
    "S": frozenset({"regl", "secur"}),  # a near-duplicate of R
    "T": frozenset({"conduir", "engin"}),
    "Q": frozenset({"rigueur", "precis"}),
    "K": frozenset({"chimi"}),
}
CLAUSES = [(0, 50), (60, 120)]


def offer(*mentions: GoldMention) -> AnnotatedOffer:
    return AnnotatedOffer("o1", "f.jsonl", "dev", "", mentions)


def miss(mention: GoldMention, judged: list[Judged], keys: set[str], threshold: float = 0.4,
         clauses: list[tuple[int, int]] = CLAUSES, other: tuple[GoldMention, ...] = (),
         prior: frozenset[str] = frozenset()) -> str:
    return miss_category([mention], mention.accepted, judged, threshold, clauses, [frozenset(keys)], LABELS,
                         offer(mention, *other), prior)


def test_miss_without_candidate() -> None:
    task = GoldMention(10, 30, "task", "R")
    # the mention lies in no clause the linker reads
    assert miss(GoldMention(52, 58, "task", "R"), [], {"respect"}) == "outside the read clauses"
    # no key of the accepted labels among its words
    assert miss(task, [], {"veil", "chantier"}) == "paraphrase (no label word)"
    assert miss(GoldMention(10, 30, "quality", "Q"), [], {"minuti"}) == "quality phrased otherwise"
    # some label words are there: half of them or more, or fewer (the item in a predicted fiche or not)
    assert miss(task, [], {"secur", "regl"}) == "half the label's words there"
    assert miss(task, [], {"secur"}) == "few label words, item of no predicted fiche"
    assert miss(task, [], {"secur"}, prior=frozenset({"R"})) == "few label words, item of a predicted fiche"
    # a candidate with the accepted code elsewhere in the offer is not at the mention
    away = Judged(cand("R", 70, 80, {9}, clause=1), 0.1, False)
    assert miss(task, [away], {"secur"}) == "few label words, item of no predicted fiche"
    # an alternative counts as the unit's code
    alt = GoldMention(10, 30, "task", "T", ("R",))
    at = Judged(cand("R", 12, 20, {1}), 0.3, False)
    assert miss(alt, [at], {"secur"}) == "below threshold, near"


def test_miss_below_threshold_and_competition() -> None:
    task = GoldMention(10, 30, "task", "R")
    near = Judged(cand("R", 12, 20, {1, 2}), 0.25, False)
    far = Judged(cand("R", 12, 20, {1, 2}), 0.1, False)
    dropped = Judged(cand("R", 12, 20, {1, 2}, linked=1.0), 0.1, False)
    assert miss(task, [near], {"secur"}) == "below threshold, near"
    assert miss(task, [far], {"secur"}) == "below threshold, far"
    assert miss(task, [dropped], {"secur"}) == "first-stage link dropped"
    # the best candidate decides: a near one beats a far one of the same unit
    assert miss(task, [far, near], {"secur"}) == "below threshold, near"
    # above the threshold, its words claimed by a kept wrong item of the same clause
    lost = Judged(cand("R", 12, 20, {1, 2}), 0.5, False)
    winner = Judged(cand("S", 12, 20, {1, 2}), 0.7, True)
    assert miss(task, [lost, winner], {"secur"}) == "lost the words to a wrong item"
    # the winner is right for another mention it overlaps
    other = GoldMention(15, 25, "task", "S")
    assert miss(task, [lost, winner], {"secur"}, other=(other,)) == "lost the words to another unit"


def fp(kept: Candidate, *mentions: GoldMention, title_end: int = 5) -> str:
    return fp_category(kept.code, [Judged(kept, 0.6, True)], offer(*mentions), title_end, LABELS)


def test_false_positive_categories() -> None:
    coded = GoldMention(10, 30, "task", "R")
    assert fp(cand("S", 12, 20, {1}), coded) == "related item on a coded mention"
    assert fp(cand("T", 12, 20, {1}), coded) == "unrelated item on a coded mention"
    assert fp(cand("T", 12, 20, {1}), GoldMention(10, 30, "task", None, ("R",))) == \
        "null mention, close items listed"
    assert fp(cand("T", 12, 20, {1}), GoldMention(10, 30, "task", None)) == "null mention, no alternative"
    assert fp(cand("T", 12, 20, {1}), GoldMention(10, 30, "diploma", None)) == "on a diploma mention"
    # no mention overlaps the span
    assert fp(cand("T", 0, 4, {1}, section_intro=1.0), coded) == "in the job title line"
    assert fp(cand("K", 40, 45, {1}, kind_savoir=1.0, one_key=1.0, section_missions=1.0), coded) == \
        "knowledge noun off the requirements"
    assert fp(cand("T", 40, 45, {1}, section_intro=1.0), coded) == "unannotated text, opening section"
    assert fp(cand("T", 40, 45, {1}, section_profile=1.0), coded) == "unannotated text, requirement sections"
    # a coded mention wins over a null one the span also overlaps
    assert fp(cand("S", 12, 40, {1}), GoldMention(32, 40, "task", None), coded) == \
        "related item on a coded mention"


def test_categorise_counts_match_the_measure() -> None:
    """Every miss and every false positive of offer_item_pr gets exactly one known category."""
    text = "Titre\nRespecter les règles de sécurité. Conduire des engins. Chimie. Minutie."
    mentions = (
        GoldMention(6, 38, "task", "R"),  # found
        GoldMention(40, 59, "task", "T"),  # missed: candidate below the threshold
        GoldMention(69, 76, "quality", "Q"),  # missed: no candidate, no word of its label
        GoldMention(69, 76, "quality", "Q"),  # the same unit stated again: one miss
    )
    o = AnnotatedOffer("o1", "f.jsonl", "dev", "", mentions)
    judged = [
        Judged(cand("R", 6, 38, {0, 1, 2}), 0.9, True),
        Judged(cand("S", 20, 38, {1, 2}), 0.5, False),
        Judged(cand("T", 40, 59, {3, 4}, clause=1), 0.2, False),
        Judged(cand("K", 61, 67, {5}, clause=2, kind_savoir=1.0, one_key=1.0), 0.7, True),
        Judged(cand("K", 61, 67, {5}, clause=2, kind_savoir=1.0, one_key=1.0), 0.4, False),
    ]
    clauses = [(6, 39), (40, 60), (61, 68), (69, 77)]
    misses, wrong = categorise(o, judged, 0.3, clauses, text, 5, LABELS)
    pr = offer_item_pr(o, {j.candidate.code for j in judged if j.kept})
    assert len(misses) == pr.gold - pr.found == 2
    assert len(wrong) == pr.predicted - pr.correct == 1
    assert {m[0] for m in misses} == {"below threshold, near", "quality phrased otherwise"}
    assert wrong[0][:2] == ("knowledge noun off the requirements", "K")
    assert all(m[0] in MISS_CATEGORIES for m in misses) and all(w[0] in FP_CATEGORIES for w in wrong)


@pytest.mark.parametrize("categories", [MISS_CATEGORIES, FP_CATEGORIES])
def test_every_category_has_a_rule(categories: dict[str, str]) -> None:
    assert categories and all(rule.strip() for rule in categories.values())
