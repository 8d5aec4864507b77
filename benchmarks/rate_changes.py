"""Where a variant of ``benchmarks/rerank_skills.py`` decides otherwise than the reference, and how many
held-out candidates read a learned phrase rate (:mod:`kg.nlp.phrase_rates`;
docs/guides/skill-phrase-rates.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy

from kg.nlp.evaluate import AnnotatedOffer
from kg.nlp.rerank import Candidate


def seen_pairs(X: numpy.ndarray, names: Sequence[str]) -> tuple[int, int]:
    """How many rows of ``X`` read a (phrase, item) pair, and a phrase, seen in training (their ``*_seen``
    column positive; -1 when the rows do not carry it).

    >>> seen_pairs(numpy.array([[0.0, 0.7], [0.0, 0.0]]), ("x", "pair_seen"))
    (1, -1)
    """
    out = []
    for name in ("pair_seen", "phrase_seen"):
        out.append(int((X[:, list(names).index(name)] > 0).sum()) if name in names else -1)
    return out[0], out[1]


def changes(offer: AnnotatedOffer, before: Sequence[Candidate], after: Sequence[Candidate]) -> Counter[str]:
    """Where a variant's kept candidates (``after``) differ from the reference's (``before``) on one offer,
    in the units and codes of :func:`kg.nlp.evaluate.offer_item_pr`: units found by one only — on words
    where the other kept another item ("choice") or none ("ranked") — and wrong codes kept by one only.

    >>> from kg.nlp.evaluate import GoldMention
    >>> gold = AnnotatedOffer("1", "", "dev", "", (GoldMention(0, 5, "task", "A"),))
    >>> a, b = Candidate(0, "A", 0, 5, frozenset({0}), ()), Candidate(0, "B", 0, 5, frozenset({0}), ())
    >>> sorted(changes(gold, [b], [a]).items())
    [('unit gained (choice)', 1), ('wrong code dropped', 1)]
    >>> sorted(changes(gold, [], [a, b]).items())
    [('unit gained (ranked)', 1), ('wrong code added', 1)]
    """
    acceptable: set[str] = set()
    for m in offer.mentions:
        if m.kind != "diploma":
            acceptable |= m.accepted
    units = {m.accepted for m in offer.mentions if m.code is not None and m.kind != "diploma"}
    out: Counter[str] = Counter()
    for mine, other, verb in ((after, before, "gained"), (before, after, "lost")):
        mine_codes, other_codes = {c.code for c in mine}, {c.code for c in other}
        for unit in units:
            if unit & mine_codes and not unit & other_codes:
                at = [c for c in mine if c.code in unit]
                choice = any(d.clause == c.clause and d.used & c.used for c in at for d in other)
                out[f"unit {verb} ({'choice' if choice else 'ranked'})"] += 1
    before_codes, after_codes = {c.code for c in before}, {c.code for c in after}
    out["wrong code dropped"] += len((before_codes - after_codes) - acceptable)
    out["wrong code added"] += len((after_codes - before_codes) - acceptable)
    return +out
