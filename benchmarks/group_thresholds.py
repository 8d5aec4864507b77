"""A decision threshold per group of candidates (item kind, section, first-stage link: :func:`group_of`)
chosen for the most recall at a pooled precision floor (``benchmarks/rerank_skills.py``, variants
"thresholds per GROUPING").

One threshold serves every candidate; where precision is cheap a lower one buys recall, where it is dear a
higher one saves precision. Maximising recall subject to pooled precision ≥ a floor is a knapsack-like
choice: :func:`greedy_thresholds` starts every group at the top of the grid and lowers, one move at a time,
the group whose next step buys the most units per unit of precision "slack" (correct − floor × predicted),
with :func:`kg.nlp.rerank.decide`'s competition for a clause's words in the loop (the groups interact
there), until no move finds a unit more and keeps the floor. Moves that cost no slack go first.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy

from kg.nlp.evaluate import PR, AnnotatedOffer, offer_item_pr
from kg.nlp.rerank import FEATURES, KINDS, SECTIONS, THRESHOLDS, Candidate, decide

# a grouping is one of these parts or several joined by "+", each read from the candidate's features
GROUP_PARTS = ("kind", "section", "linked")
_KIND_COLUMNS = tuple((k, FEATURES.index(f"kind_{k}")) for k in KINDS)
_SECTION_COLUMNS = tuple((s, FEATURES.index(f"section_{s}")) for s in SECTIONS)
_LINKED = FEATURES.index("linked")
REACH = 4  # moves tried per group and round: the next thresholds down that each let a candidate more through


def group_of(candidate: Candidate, grouping: str) -> str:
    """The candidate's group under ``grouping`` (:data:`GROUP_PARTS` joined by "+"): its item kind
    ("none" without one), its clause's section ("other" outside the four), whether the first stage links
    it ("linked"/"unlinked"); the parts joined by ",".

    >>> row = [0.0] * len(FEATURES)
    >>> row[FEATURES.index("kind_savoir")] = row[FEATURES.index("linked")] = 1.0
    >>> c = Candidate(0, "A", 0, 1, frozenset(), tuple(row))
    >>> group_of(c, "kind"), group_of(c, "section"), group_of(c, "kind+linked")
    ('savoir', 'other', 'savoir,linked')
    """
    values = candidate.features
    out = []
    for part in grouping.split("+"):
        if part == "kind":
            out.append(next((k for k, i in _KIND_COLUMNS if values[i]), "none"))
        elif part == "section":
            out.append(next((s for s, i in _SECTION_COLUMNS if values[i]), "other"))
        elif part == "linked":
            out.append("linked" if values[_LINKED] > 0 else "unlinked")
        else:
            raise ValueError(f"unknown grouping part {part!r} (known: {', '.join(GROUP_PARTS)})")
    return ",".join(out)


@dataclass(frozen=True)
class Choice:
    """The thresholds chosen per group (``default``: for a group the training offers never had), and the
    pooled counts they give on the offers they were chosen on."""

    thresholds: dict[str, float]
    default: float
    counts: PR

    def limits(self, groups: Sequence[str]) -> list[float]:
        """The threshold of each candidate of the given groups.

        >>> Choice({"savoir": 0.4}, 0.3, PR(0, 0, 0, 0)).limits(["savoir", "savoir-etre"])
        [0.4, 0.3]
        """
        return [self.thresholds.get(g, self.default) for g in groups]


def pooled_counts(
    offers: Sequence[AnnotatedOffer], cands: Sequence[Sequence[Candidate]],
    probabilities: Mapping[int, numpy.ndarray], limits: Mapping[int, float | Sequence[float]],
    chosen: Sequence[int],
    compete: bool = True,
) -> PR:
    """The offer-level counts, pooled over ``chosen``, of the candidates :func:`decide` keeps with each
    offer's per-candidate thresholds ``limits[o]``."""
    total = PR(0, 0, 0, 0)
    for o in chosen:
        kept = decide(cands[o], probabilities[o].tolist(), limits[o], compete)
        total = total + offer_item_pr(offers[o], {c.code for c in kept})
    return total


def greedy_thresholds(
    offers: Sequence[AnnotatedOffer], cands: Sequence[Sequence[Candidate]],
    probabilities: Mapping[int, numpy.ndarray], chosen: Sequence[int], grouping: str, floor: float,
    single: float, grid: Sequence[float] = THRESHOLDS, compete: bool = True, reach: int = REACH,
) -> tuple[Choice, Choice]:
    """The greedy per-group thresholds over the ``chosen`` offers (module docstring) and, for comparison,
    ``single`` for every group; the first is the greedy's unless the single threshold does better by the
    inner judge's rule (precision ≥ ``floor`` first, then recall; else F1), in which case both are the
    single one.

    >>> from kg.nlp.evaluate import GoldMention
    >>> def cand(clause, code, kind):
    ...     row = [0.0] * len(FEATURES); row[FEATURES.index(f"kind_{kind}")] = 1.0
    ...     return Candidate(clause, code, 0, 1, frozenset({clause}), tuple(row))
    >>> units = (GoldMention(0, 1, "task", "A"), GoldMention(0, 1, "task", "B"))
    >>> gold = AnnotatedOffer("1", "", "dev", "", units)
    >>> cands = [[cand(0, "A", "savoir"), cand(1, "B", "savoir-faire"), cand(2, "C", "savoir-faire")]]
    >>> probs = {0: numpy.array([0.2, 0.6, 0.55])}  # A right but unlikely; C wrong and likely
    >>> grouped, one = greedy_thresholds([gold], cands, probs, [0], "kind", 0.6, 0.5)
    >>> sorted(grouped.thresholds.items())
    [('savoir', 0.2), ('savoir-faire', 0.6)]
    >>> grouped.counts, one.counts
    (PR(found=2, gold=2, correct=2, predicted=2), PR(found=1, gold=2, correct=1, predicted=2))
    """
    grid = sorted(grid)
    groups = {o: [group_of(c, grouping) for c in cands[o]] for o in chosen}
    names = sorted({g for o in chosen for g in groups[o]})
    probs = {o: probabilities[o].tolist() for o in chosen}

    def offer_counts(o: int, thresholds: Mapping[str, float]) -> PR:
        kept = decide(cands[o], probs[o], [thresholds[g] for g in groups[o]], compete)
        return offer_item_pr(offers[o], {c.code for c in kept})

    def better(a: PR, b: PR) -> bool:  # the inner judge of rerank_skills.judge_with, a beats b
        def value(pr: PR) -> float:
            return 1.0 + pr.recall if pr.precision >= floor else pr.f1
        return value(a) > value(b) + 1e-9

    # each group's candidates by probability, with their offer (which offers a move touches)
    members: dict[str, list[tuple[float, int]]] = {g: [] for g in names}
    for o in chosen:
        for p, g in zip(probs[o], groups[o], strict=True):
            members[g].append((p, o))
    for found in members.values():
        found.sort()
    place = {g: len(grid) - 1 for g in names}
    thresholds = {g: grid[-1] for g in names}
    per = {o: offer_counts(o, thresholds) for o in chosen}
    total = sum(per.values(), PR(0, 0, 0, 0))
    while True:
        best: tuple[tuple[float, ...], str, int, dict[int, PR], PR] | None = None
        for g in names:
            i = place[g]
            found = members[g]
            top = bisect.bisect_left(found, (grid[i], -1))
            crossed, tried = 0, 0
            for j in range(i - 1, -1, -1):
                low = bisect.bisect_left(found, (grid[j], -1))
                if top - low == crossed:  # no candidate more than the shorter step: the same decisions
                    continue
                crossed, tried = top - low, tried + 1
                if tried > reach:
                    break
                touched = {o for _, o in found[low:top]}
                trial = thresholds | {g: grid[j]}
                new = {o: offer_counts(o, trial) for o in touched}
                after = total + sum(new.values(), PR(0, 0, 0, 0))
                for o in touched:
                    after = PR(after.found - per[o].found, after.gold - per[o].gold,
                               after.correct - per[o].correct, after.predicted - per[o].predicted)
                units = after.found - total.found
                slack = (after.correct - total.correct) - floor * (after.predicted - total.predicted)
                if after.precision < floor or units < 0 or (units == 0 and slack <= 0):
                    continue
                # free moves (no slack spent) first, then the most units per slack spent; the shorter jump
                # on a tie
                key = (1.0, units, slack, j) if slack >= 0 else (0.0, units / -slack, 0.0, j)
                if best is None or key > best[0]:
                    best = (key, g, j, new, after)
        if best is None:
            break
        _, g, j, new, total = best
        place[g], thresholds[g] = j, grid[j]
        per.update(new)
    one = Choice(dict.fromkeys(names, single), single,
                 sum((offer_counts(o, dict.fromkeys(names, single)) for o in chosen), PR(0, 0, 0, 0)))
    grouped = Choice(thresholds, single, total)
    return (grouped if better(grouped.counts, one.counts) else one), one
