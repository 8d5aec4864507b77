"""Phrase-level rates learned from the training offers' labelled candidates: second-stage evidence of the
skill linker (:mod:`kg.nlp.rerank`; docs/guides/skill-phrase-rates.md).

The item rates (:func:`kg.nlp.rerank.with_item_rates`) say how often an *item* is right when it is a
candidate. These say it per **phrase**: the sorted lemma keys of the candidate's span
(:func:`phrase_key`, the keys the gazetteer reads a text with, :func:`kg.nlp.associations.text_keys`).

- ``pair_rate`` / ``pair_seen``: among the training candidates with the same (phrase, item), how often it
  was right, smoothed towards the candidate's own item rate by ``smoothing`` pseudo-candidates; and
  log(1 + how many there were). Tells "rigueur" → *rigueur et précision* (right) from "rigueur
  budgétaire" → the same item (wrong), and which of two near-synonymous items the annotators chose.
- ``phrase_rate`` / ``phrase_seen``: among the training *occurrences* of the phrase (a clause's
  candidates sharing it), how often one of their items was right, smoothed towards the overall share;
  and log(1 + occurrences). Is this phrase a requirement at all (an intro's or a company's words)?

As for the item rates: under cross-validation (:func:`with_phrase_rates`) a training offer's own
candidates are left out of what it reads (its rows must look like a new offer's); an offer outside the
training set reads all of it, as the shipped :class:`PhraseTable` gives a new offer. An entry counts only
when at least ``min_offers`` distinct offers support it (the model file's data policy: lemma keys and
counts, no entry of a single offer); else the candidate reads it as unseen (its item rate, the overall
share, 0 seen).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TypeVar

import numpy

from kg.nlp.associations import text_keys
from kg.nlp.near_copies import group_members

PAIR_FEATURES = ("pair_rate", "pair_seen")
PHRASE_FEATURES = ("phrase_rate", "phrase_seen")
FEATURES = (*PAIR_FEATURES, *PHRASE_FEATURES)
SMOOTHING = 3.0  # pseudo-candidates, as the item rates (fixed beforehand, not tuned on the CV)
MIN_OFFERS = 2  # distinct supporting offers an entry needs (the model file's data policy)
K = TypeVar("K")


@lru_cache(maxsize=65536)
def phrase_key(span: str) -> str:
    """The phrase of a candidate's span: its distinct lemma keys, sorted, joined by spaces.

    (Kept per span, perf only: the prefilter, :meth:`kg.nlp.rerank._Prefilter.keep`, reads a candidate's
    phrase before :meth:`kg.nlp.rerank.Model.rows` reads it again, and an offer's candidates share spans —
    59,091 reads of 8,459 spans in a cold pass over the 610 real offers.)

    >>> phrase_key("Rigueur budgétaire"), phrase_key("budgétaire, la rigueur")
    ('budgeta rigu', 'budgeta rigu')
    """
    return " ".join(sorted(text_keys(span)))


class _Counts:
    """Counts over candidates: per (phrase, item) and per phrase, [right, seen], and per entry the number of
    distinct offers counted (one offer's counts: all 1)."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], list[float]] = {}
        self.phrases: dict[str, list[float]] = {}
        self.pair_offers: Counter[tuple[str, str]] = Counter()
        self.phrase_offers: Counter[str] = Counter()

    @classmethod
    def of_offer(cls, codes: Sequence[str], phrases: Sequence[str], clauses: Sequence[int],
                 labels: Sequence[float]) -> _Counts:
        """One offer's counts (a phrase's occurrence: its clause's candidates on it; right when one is)."""
        out = cls()
        occurrences: dict[tuple[int, str], float] = {}
        for code, phrase, clause, label in zip(codes, phrases, clauses, labels, strict=True):
            cell = out.pairs.setdefault((phrase, code), [0.0, 0.0])
            cell[0] += label
            cell[1] += 1.0
            occurrences[clause, phrase] = max(occurrences.get((clause, phrase), 0.0), label)
        for (_, phrase), right in occurrences.items():
            cell = out.phrases.setdefault(phrase, [0.0, 0.0])
            cell[0] += right
            cell[1] += 1.0
        out.pair_offers.update(out.pairs.keys())
        out.phrase_offers.update(out.phrases.keys())
        return out

    def add(self, other: _Counts) -> None:
        """Count ``other``'s too."""
        _add(self.pairs, other.pairs)
        _add(self.phrases, other.phrases)
        self.pair_offers.update(other.pair_offers)
        self.phrase_offers.update(other.phrase_offers)

    @classmethod
    def of_group(cls, members: Sequence[_Counts]) -> _Counts:
        """One group of copies' counts (:func:`kg.nlp.near_copies.copy_groups`): its offers' counts added,
        but each entry supported by ONE offer (an ad and its repost are one piece of evidence)."""
        out = cls()
        for m in members:
            _add(out.pairs, m.pairs)
            _add(out.phrases, m.phrases)
        out.pair_offers.update(out.pairs.keys())
        out.phrase_offers.update(out.phrases.keys())
        return out


def _add(into: dict[K, list[float]], cells: Mapping[K, list[float]]) -> None:
    """``cells``' [right, seen] added to ``into``'s."""
    for key, (right, seen) in cells.items():
        cell = into.setdefault(key, [0.0, 0.0])
        cell[0] += right
        cell[1] += seen


def _rate(right: float, seen: float, prior: float, smoothing: float) -> float:
    """``right`` of ``seen`` smoothed towards ``prior`` by ``smoothing`` pseudo-candidates."""
    return (right + smoothing * prior) / (seen + smoothing) if seen + smoothing > 0 else prior


@dataclass(frozen=True)
class PhraseTable:
    """The counts a new offer's candidates read (what :class:`kg.nlp.rerank.Model` stores): per (phrase,
    item) and per phrase supported by at least ``min_offers`` training offers, (right, seen); ``base``: the
    share of the phrase occurrences with a right item.

    >>> table = PhraseTable.learn([["A"], ["A"], ["B"]], [["p"], ["p"], ["q"]], [[0]] * 3,
    ...                           [numpy.array([1.0]), numpy.array([0.0]), numpy.array([1.0])], [0, 1, 2])
    >>> table.pairs, table.phrases, round(table.base, 3)  # "q" is one offer's: left out
    ((('p', 'A', 1.0, 2.0),), (('p', 1.0, 2.0),), 0.667)
    >>> [round(v, 3) for v in table.values("A", "p", 0.5)], table.values("A", "q", 0.5)[:2]
    ([0.5, 1.099, 0.6, 1.099], (0.5, 0.0))
    >>> PhraseTable.from_json(table.to_json()) == table
    True
    """

    pairs: tuple[tuple[str, str, float, float], ...] = ()
    phrases: tuple[tuple[str, float, float], ...] = ()
    base: float = 0.0
    smoothing: float = SMOOTHING

    @classmethod
    def learn(
        cls, codes: Sequence[Sequence[str]], phrases: Sequence[Sequence[str]],
        clauses: Sequence[Sequence[int]], y: Sequence[numpy.ndarray], offers: Sequence[int],
        smoothing: float = SMOOTHING, min_offers: int = MIN_OFFERS, groups: Sequence[int] | None = None,
    ) -> PhraseTable:
        """The table of ``offers``' candidates (each offer's items, :func:`phrase_key` and clause numbers,
        labels); ``min_offers`` counts distinct groups of copies (``groups``,
        :func:`kg.nlp.near_copies.copy_groups`; None: each offer its own).

        >>> args = [["A"]] * 2, [["p"]] * 2, [[0]] * 2, [numpy.array([1.0])] * 2, [0, 1]
        >>> len(PhraseTable.learn(*args).pairs), len(PhraseTable.learn(*args, groups=[0, 0]).pairs)
        (1, 0)
        """
        total = _Counts()
        for members in group_members(offers, groups).values():
            total.add(_Counts.of_group([_Counts.of_offer(codes[o], phrases[o], clauses[o], y[o].tolist())
                                        for o in members]))
        right = sum(r for r, _ in total.phrases.values())
        seen = sum(n for _, n in total.phrases.values())
        return cls(
            tuple((p, c, r, n) for (p, c), (r, n) in sorted(total.pairs.items())
                  if total.pair_offers[p, c] >= min_offers),
            tuple((p, r, n) for p, (r, n) in sorted(total.phrases.items())
                  if total.phrase_offers[p] >= min_offers),
            right / seen if seen else 0.0, smoothing)

    @cached_property
    def _pairs(self) -> dict[tuple[str, str], tuple[float, float]]:
        return {(p, c): (r, n) for p, c, r, n in self.pairs}

    @cached_property
    def _phrases(self) -> dict[str, tuple[float, float]]:
        return {p: (r, n) for p, r, n in self.phrases}

    def values(self, code: str, phrase: str, item_rate: float) -> tuple[float, float, float, float]:
        """:data:`FEATURES` of a candidate of item ``code`` on ``phrase`` (``item_rate``: its item's
        learned rate, what the pair rate is smoothed towards)."""
        right, seen = self._pairs.get((phrase, code), (0.0, 0.0))
        p_right, p_seen = self._phrases.get(phrase, (0.0, 0.0))
        return (_rate(right, seen, item_rate, self.smoothing), math.log1p(seen),
                _rate(p_right, p_seen, self.base, self.smoothing), math.log1p(p_seen))

    @cached_property
    def _by_item(self) -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {}
        for _, code, right, seen in self.pairs:
            out.setdefault(code, []).append((right, seen))
        return out

    def ranges(self, code: str, item_rate: float) -> dict[str, tuple[float, float]]:
        """The least and largest value of each of :data:`FEATURES` a candidate of item ``code`` can read
        (its item rate ``item_rate``), whatever its phrase (an unseen one too): what a bound of the logit
        reads before the span's phrase is known.

        >>> table = PhraseTable((("p", "A", 3.0, 3.0), ("q", "A", 0.0, 1.0)), (("p", 0.0, 2.0),), 0.5, 1.0)
        >>> table.ranges("A", 0.4)["pair_rate"], table.ranges("B", 0.4)["pair_rate"]  # 0.4 / 2, 3.4 / 4
        ((0.2, 0.85), (0.4, 0.4))
        >>> table.ranges("A", 0.4)["phrase_rate"], table.ranges("B", 0.4)["phrase_seen"]
        ((0.1666..., 0.5), (0.0, 1.0986...))
        """
        pairs = self._by_item.get(code, [])
        rates = [item_rate, *(_rate(r, n, item_rate, self.smoothing) for r, n in pairs)]
        seen = [0.0, *(math.log1p(n) for _, n in pairs)]
        phrase = self._phrase_ranges
        return {"pair_rate": (min(rates), max(rates)), "pair_seen": (min(seen), max(seen)),
                "phrase_rate": phrase[0], "phrase_seen": phrase[1]}

    @cached_property
    def _phrase_ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        rates = [self.base, *(_rate(r, n, self.base, self.smoothing) for _, r, n in self.phrases)]
        seen = [0.0, *(math.log1p(n) for *_, n in self.phrases)]
        return (min(rates), max(rates)), (min(seen), max(seen))

    def to_json(self) -> dict[str, object]:
        return {"base": self.base, "smoothing": self.smoothing, "pairs": [list(r) for r in self.pairs],
                "phrases": [list(r) for r in self.phrases]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> PhraseTable:
        pairs, phrases = data.get("pairs", []), data.get("phrases", [])
        assert isinstance(pairs, list) and isinstance(phrases, list)
        return cls(tuple((str(p), str(c), float(r), float(n)) for p, c, r, n in pairs),
                   tuple((str(p), float(r), float(n)) for p, r, n in phrases),
                   float(data.get("base", 0.0)), float(data.get("smoothing", SMOOTHING)))  # type: ignore[arg-type]


def with_phrase_rates(
    X: Sequence[numpy.ndarray], codes: Sequence[Sequence[str]], phrases: Sequence[Sequence[str]],
    clauses: Sequence[Sequence[int]], y: Sequence[numpy.ndarray], item_rates: Sequence[numpy.ndarray],
    train: Sequence[int], names: Sequence[str] = FEATURES, smoothing: float = SMOOTHING,
    min_offers: int = MIN_OFFERS, groups: Sequence[int] | None = None,
) -> list[numpy.ndarray]:
    """Every offer's rows with the columns ``names`` (of :data:`FEATURES`) appended, learned from the
    ``train`` offers' labels only (``codes``, ``phrases``, ``clauses``: each offer's candidates' items,
    :func:`phrase_key` and clause numbers; ``item_rates``: their item rates learned from the same offers,
    :func:`kg.nlp.rerank.with_item_rates`). A training offer reads the others'; an offer outside ``train``
    reads what :meth:`PhraseTable.learn` over ``train`` gives it. With ``groups`` (each offer's group of
    copies, :func:`kg.nlp.near_copies.copy_groups`; None: each offer its own) an offer reads nothing of
    its group's, and ``min_offers`` counts groups.

    >>> X = [numpy.zeros((1, 0))] * 3
    >>> y = [numpy.array([1.0]), numpy.array([1.0]), numpy.array([0.0])]
    >>> rates = [numpy.array([0.5])] * 3
    >>> rows = with_phrase_rates(X, [["A"]] * 3, [["p"]] * 3, [[0]] * 3, y, rates, [0, 1, 2], smoothing=0.0,
    ...                          min_offers=1)
    >>> [r[0].round(3).tolist() for r in rows]  # offer 0 reads 1 and 2: one right of two
    [[0.5, 1.099, 0.5, 1.099], [0.5, 1.099, 0.5, 1.099], [1.0, 1.099, 1.0, 1.099]]
    >>> held = with_phrase_rates(X, [["A"]] * 3, [["p"]] * 3, [[0]] * 3, y, rates, [0, 1], smoothing=0.0)
    >>> held[2][0].round(3).tolist(), held[0][0].round(3).tolist()  # 0 reads 1 alone: one offer, unseen
    ([1.0, 1.099, 1.0, 1.099], [0.5, 0.0, 1.0, 0.0])
    >>> copies = with_phrase_rates(X, [["A"]] * 3, [["p"]] * 3, [[0]] * 3, y, rates, [0, 1, 2],
    ...                            smoothing=0.0, min_offers=1, groups=[0, 0, 2])
    >>> [r[0].round(3).tolist() for r in copies]  # 0 and 1 one ad: they read 2 alone, 2 reads them
    [[0.0, 0.693, 0.0, 0.693], [0.0, 0.693, 0.0, 0.693], [1.0, 1.099, 1.0, 1.099]]
    """
    assert set(names) <= set(FEATURES), names
    own = [_Counts.of_offer(codes[o], phrases[o], clauses[o], y[o].tolist()) for o in range(len(codes))]
    # the training offers' counts by group (an offer and its copies: one offer's support)
    by_group = {g: _Counts.of_group([own[o] for o in members])
                for g, members in group_members(train, groups).items()}
    total = _Counts()
    for counts in by_group.values():
        total.add(counts)
    total_right = sum(r for r, _ in total.phrases.values())
    total_seen = sum(n for _, n in total.phrases.values())
    none = (0.0, 0.0)
    columns = [FEATURES.index(n) for n in names]
    out = []
    for o, rows in enumerate(X):
        mine = by_group.get(o if groups is None else groups[o], _Counts())
        mine_right = sum(r for r, _ in mine.phrases.values())
        mine_seen = sum(n for _, n in mine.phrases.values())
        base_n = total_seen - mine_seen
        base = (total_right - mine_right) / base_n if base_n > 0 else 0.0
        extra = numpy.zeros((len(rows), len(FEATURES)))
        for i, (code, phrase) in enumerate(zip(codes[o], phrases[o], strict=True)):
            key = (phrase, code)
            right, seen = _less(total.pairs.get(key, none), mine.pairs.get(key, none))
            if total.pair_offers[key] - mine.pair_offers[key] < min_offers:
                right = seen = 0.0
            p_right, p_seen = _less(total.phrases.get(phrase, none), mine.phrases.get(phrase, none))
            if total.phrase_offers[phrase] - mine.phrase_offers[phrase] < min_offers:
                p_right = p_seen = 0.0
            extra[i] = (_rate(right, seen, float(item_rates[o][i]), smoothing), math.log1p(seen),
                        _rate(p_right, p_seen, base, smoothing), math.log1p(p_seen))
        out.append(numpy.hstack([rows, extra[:, columns]]))
    return out


def _less(total: Sequence[float], own: Sequence[float]) -> tuple[float, float]:
    """(right, seen) of ``total`` without ``own``'s."""
    return total[0] - own[0], total[1] - own[1]
