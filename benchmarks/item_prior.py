"""An item-level prior for the skill linker's second stage, learned from the items recruiters ticked in
real offers (``competences``), not from the hand annotation (issue #4, session 10).

A France Travail offer declares a ROME fiche (``romeCode``) and lists the items of that fiche its
recruiter ticked. Over the real offers that are **not** annotated (nor copies of an annotated text) this
module counts, per item, how often recruiters tick it when they could (its fiche was declared), per
(fiche, item) the same within one fiche, and per (clause word, item) the association lift of
:func:`kg.nlp.associations.learn`. :func:`columns` turns them into feature columns of the second stage's
candidates (``benchmarks/rerank_skills.py --item-prior``):

- ``tick`` group — ``tick_rate``: the item's smoothed tick rate among the pool offers whose declared
  fiche lists it; ``tick_fiche_rate``: the same among the offers that declared the candidate's best
  predicted fiche listing the item, smoothed towards ``tick_rate`` (0 when no predicted fiche lists it:
  a recruiter of those fiches could not tick it); ``tick_seen``: log(1 + offers where it could be ticked);
- ``rank`` group — among the candidates of the same clause sharing a word with this one (the
  near-synonym choice), ``tick_rank``: 1 / (1 + how many have a higher prior), ``tick_gap``: its prior
  minus the best other's (0 alone); the prior is ``tick_fiche_rate`` when a predicted fiche lists the
  item, else ``tick_rate``;
- ``kind`` group — ``tick_rate_KIND``: ``tick_rate`` for the items of that kind (the candidate's
  ``kind_KIND`` feature), 0 for the others;
- ``lift`` group — ``assoc_lift``: log of the highest lift of a key of the clause with the item (0 when
  none reaches the support), ``assoc_support``: log(1 + that pair's support).

Smoothing: a Beta prior of ``strength`` pseudo-offers at the pool's mean tick rate (a rate read from
one or two offers says little; 5 was set beforehand, not tuned: tuning it would read the annotation).

>>> pool = [PoolOffer("1", frozenset({"port", "charg"}), frozenset({"A"}), "F1", frozenset({"A", "B"})),
...         PoolOffer("2", frozenset({"port"}), frozenset({"A"}), "F1", frozenset({"A", "B"})),
...         PoolOffer("3", frozenset({"vent"}), frozenset({"B"}), "F2", frozenset({"B", "C"}))]
>>> prior = ItemPrior.learn(pool, strength=0.0)
>>> prior.item_rate("A"), prior.item_rate("B"), prior.fiche_rate("F2", "B"), prior.lift({"port"}, "A")
(1.0, 0.3333333333333333, 1.0, (1.0, 2))
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from kg.nlp.associations import learn, text_keys
from kg.nlp.offers_csv import offer_text, read_offers
from kg.nlp.rerank import FEATURES, Candidate

TICKED_KINDS = ("savoir-faire", "savoir", "macro-competence")

GROUPS: dict[str, tuple[str, ...]] = {
    "tick": ("tick_rate", "tick_fiche_rate", "tick_seen"),
    "rank": ("tick_rank", "tick_gap"),
    "lift": ("assoc_lift", "assoc_support"),
    # recruiters never tick a savoir-être (France Travail's competences hold none), so the rate means
    # something else per kind: tick_rate times each kind they tick (its kind_* feature)
    "kind": tuple(f"tick_rate_{kind}" for kind in TICKED_KINDS),
}
COLUMNS: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)
# the columns that read nothing of the candidate's own features (all but the "kind" group)
PLAIN: tuple[str, ...] = (*GROUPS["tick"], *GROUPS["rank"], *GROUPS["lift"])
STRENGTH = 5.0  # pseudo-offers of the smoothing (set beforehand, see the module's docstring)
MIN_SUPPORT = 2  # offers writing the word and ticking the item, for an association to count


def same_text(text: str) -> str:
    """The text with its whitespace normalised: two offers whose texts read the same are one.

    >>> same_text(" Maçon\\n  H/F ") == same_text("Maçon H/F")
    True
    """
    return " ".join(text.split())


@dataclass(frozen=True)
class PoolOffer:
    """A real offer of the pool: its id, its text's keys, the items ticked, the declared fiche and the
    items the recruiter could tick (the fiche's, and the ticked ones)."""

    id: str
    keys: frozenset[str]
    ticked: frozenset[str]
    fiche: str
    available: frozenset[str]


def pool(
    offers: Iterable[Mapping[str, Any]], excluded_ids: set[str], excluded_texts: set[str],
    fiche_items: Mapping[str, frozenset[str]],
) -> tuple[list[PoolOffer], Counter[str]]:
    """The offers the statistics are learned from, and how many were left out and why.

    Left out, the first reason that applies: the annotated offers (``excluded_ids``) and any whose
    normalised text (:func:`same_text` of ``intitule + "\\n" + description``) is in ``excluded_texts``
    (a copy of an annotated offer would carry its ticks into its own features); a second occurrence of an
    id or a text (a repeated offer would count its recruiter's choice twice); offers without ticked
    items (nothing to learn).

    >>> items = {"F1": frozenset({"A", "B"})}
    >>> offers = [{"id": "1", "intitule": "Maçon", "description": "Pose", "romeCode": "F1",
    ...            "competences": [{"code": "A"}]},
    ...           {"id": "2", "intitule": "Maçon ", "description": " Pose", "competences": [{"code": "B"}]},
    ...           {"id": "3", "intitule": "Peintre", "description": "", "competences": []}]
    >>> kept, why = pool(offers, {"9"}, {same_text("Maçon\\nPose")}, items)
    >>> kept, dict(why)
    ([], {'annotated text': 2, 'no ticked item': 1})
    >>> kept, why = pool(offers, {"3"}, set(), items)
    >>> [(o.id, sorted(o.available)) for o in kept], dict(why)
    ([('1', ['A', 'B'])], {'repeated': 1, 'annotated id': 1})
    """
    kept: list[PoolOffer] = []
    why: Counter[str] = Counter()
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    for offer in offers:
        listed = offer.get("competences") or []
        ticked = frozenset(str(c["code"]) for c in listed if isinstance(c, Mapping) and c.get("code"))
        text = offer_text(offer)
        key = same_text(text)
        oid = str(offer.get("id") or "")
        if oid in excluded_ids:
            why["annotated id"] += 1
        elif key in excluded_texts:
            why["annotated text"] += 1
        elif oid in seen_ids or key in seen_texts:
            why["repeated"] += 1
        elif not ticked:
            why["no ticked item"] += 1
        else:
            fiche = str(offer.get("romeCode") or "")
            kept.append(PoolOffer(oid, frozenset(text_keys(text)), ticked, fiche,
                                  fiche_items.get(fiche, frozenset()) | ticked))
        seen_ids.add(oid)
        seen_texts.add(key)
    return kept, why


def read_pool(
    data: Path, excluded_ids: set[str], excluded_texts: set[str], fiche_items: Mapping[str, frozenset[str]]
) -> tuple[list[PoolOffer], Counter[str]]:
    """:func:`pool` over every offer file of ``data``/offers (JSON Lines and the flattened CSV dumps,
    :func:`kg.nlp.offers_csv.read_offers`), in name order."""
    files = sorted(p for p in (data / "offers").rglob("*") if p.suffix in {".jsonl", ".csv"})
    return pool((o for p in files for o in read_offers(p)), excluded_ids, excluded_texts, fiche_items)


@dataclass
class ItemPrior:
    """The pool's statistics (:meth:`learn`), read per candidate by :func:`columns`."""

    ticks: Counter[str]
    available: Counter[str]
    fiche_ticks: Counter[tuple[str, str]]
    fiche_offers: Counter[str]
    mean: float
    strength: float
    lifts: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    by_key: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def learn(
        cls, offers: Sequence[PoolOffer], strength: float = STRENGTH, min_support: int = MIN_SUPPORT
    ) -> ItemPrior:
        ticks: Counter[str] = Counter()
        available: Counter[str] = Counter()
        fiche_ticks: Counter[tuple[str, str]] = Counter()
        fiche_offers: Counter[str] = Counter()
        for o in offers:
            ticks.update(o.ticked)
            available.update(o.available)
            fiche_offers[o.fiche] += 1
            fiche_ticks.update((o.fiche, c) for c in o.ticked)
        mean = sum(ticks.values()) / max(1, sum(available.values()))
        table = learn(((o.keys, o.ticked, o.available) for o in offers), min_support)
        lifts = {(k, c): (lift, support) for k, row in table.items() for c, lift, support in row}
        by_key = {k: frozenset(c for c, _, _ in row) for k, row in table.items()}
        return cls(ticks, available, fiche_ticks, fiche_offers, mean, strength, lifts, by_key)

    def item_rate(self, code: str) -> float:
        """Ticked / could be ticked, smoothed towards the pool's mean rate."""
        return (self.ticks[code] + self.strength * self.mean) / (self.available[code] + self.strength)

    def fiche_rate(self, fiche: str, code: str) -> float:
        """Ticked among the offers that declared ``fiche``, smoothed towards :meth:`item_rate`."""
        return ((self.fiche_ticks[fiche, code] + self.strength * self.item_rate(code))
                / (self.fiche_offers[fiche] + self.strength))

    def lift(self, keys: Iterable[str], code: str) -> tuple[float, int]:
        """The highest (lift, support) of one of ``keys`` with the item; (0.0, 0) when none is in the table
        (the support breaks ties)."""
        best = (0.0, 0)
        for k in keys:
            if code in self.by_key.get(k, ()):
                best = max(best, self.lifts[k, code])
        return best


def columns(
    prior: ItemPrior, candidates: Sequence[Candidate], clause_keys: Sequence[frozenset[str]],
    fiches: Sequence[tuple[str, frozenset[str]]], names: Sequence[str] = PLAIN,
) -> numpy.ndarray:
    """The columns ``names`` (of :data:`COLUMNS`; the ``kind`` group reads the candidates' features,
    :data:`kg.nlp.rerank.FEATURES`) for an offer's candidates: ``clause_keys`` the keys of
    each of its clauses (by the candidates' ``clause``), ``fiches`` its predicted fiches (code, items)
    that give the liberal linker's prior, best first.

    >>> pool = [PoolOffer("1", frozenset({"port"}), frozenset({"A"}), "F1", frozenset({"A", "B"})),
    ...         PoolOffer("2", frozenset({"port"}), frozenset({"A"}), "F1", frozenset({"A", "B"}))]
    >>> prior = ItemPrior.learn(pool, strength=0.0)
    >>> a = Candidate(0, "A", 0, 4, frozenset({1}), ())
    >>> b = Candidate(0, "B", 0, 9, frozenset({1, 2}), ())
    >>> columns(prior, [a, b], [frozenset({"port"})], [("F1", frozenset({"A", "B"}))]).round(3).tolist()
    [[1.0, 1.0, 1.099, 1.0, 1.0, 0.0, 1.099], [0.0, 0.0, 1.099, 0.5, -1.0, 0.0, 0.0]]
    """
    if not candidates:
        return numpy.zeros((0, len(names)))
    rows: list[dict[str, float]] = []
    for c in candidates:
        rate = prior.item_rate(c.code)
        fiche = next((code for code, items in fiches if c.code in items), None)
        in_fiche = prior.fiche_rate(fiche, c.code) if fiche is not None else 0.0
        lift, support = prior.lift(clause_keys[c.clause], c.code)
        rows.append({
            "tick_rate": rate, "tick_fiche_rate": in_fiche, "tick_seen": math.log1p(prior.available[c.code]),
            "assoc_lift": math.log(lift) if lift > 0 else 0.0, "assoc_support": math.log1p(support),
            # the value the near-synonyms are ranked by
            "prior": in_fiche if fiche is not None else rate,
        })
        if any(n.startswith("tick_rate_") for n in names):  # the kind features of the candidate
            rows[-1] |= {f"tick_rate_{k}": rate * c.features[FEATURES.index(f"kind_{k}")]
                         for k in TICKED_KINDS}
    for c, values in zip(candidates, rows, strict=True):
        others = [r["prior"] for d, r in zip(candidates, rows, strict=True)
                  if d is not c and d.clause == c.clause and d.used & c.used]
        values["tick_rank"] = 1.0 / (1 + sum(p > values["prior"] for p in others))
        values["tick_gap"] = values["prior"] - max(others) if others else 0.0
    return numpy.array([[r[n] for n in names] for r in rows], dtype=numpy.float64)


def auc(scores: numpy.ndarray, labels: numpy.ndarray) -> float:
    """The probability that a right candidate scores above a wrong one (ties half).

    >>> auc(numpy.array([0.1, 0.4, 0.4, 0.9]), numpy.array([0, 0, 1, 1]))
    0.875
    """
    right, wrong = scores[labels == 1], scores[labels == 0]
    if not len(right) or not len(wrong):
        return math.nan
    above = (right[:, None] > wrong[None, :]).mean()
    tied = (right[:, None] == wrong[None, :]).mean()
    return float(above + tied / 2)


def ordered_pairs(
    candidates: Sequence[Candidate], labels: numpy.ndarray, value: numpy.ndarray
) -> tuple[int, int, int]:
    """Over the pairs of a right and a wrong candidate of one clause sharing a word (the near-synonym
    choice): how many ``value`` orders right, wrong, or ties.

    >>> a = Candidate(0, "A", 0, 4, frozenset({1}), ()); b = Candidate(0, "B", 0, 4, frozenset({1, 2}), ())
    >>> c = Candidate(1, "C", 9, 12, frozenset({1}), ())  # another clause
    >>> ordered_pairs([a, b, c], numpy.array([1, 0, 0]), numpy.array([0.2, 0.5, 0.1]))
    (0, 1, 0)
    """
    right = wrong = tied = 0
    for i, a in enumerate(candidates):
        for j, b in enumerate(candidates):
            if labels[i] == 1 and labels[j] == 0 and a.clause == b.clause and a.used & b.used:
                right += int(value[i] > value[j])
                wrong += int(value[i] < value[j])
                tied += int(value[i] == value[j])
    return right, wrong, tied


def main() -> None:
    """What the prior says of the DEV candidates, without fitting anything (the shipped first-stage
    settings give the ``linked`` feature): each column's AUC, the tick rate's per item kind, and how it
    orders the right and wrong candidates on shared words, beside the liberal linker's score."""
    import sys

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    from rerank_skills import PriorColumns, label, shipped_candidates
    from tune_linker import annotation_parser

    from kg.nlp.rerank import KINDS

    args = annotation_parser(__doc__.splitlines()[0]).parse_args()
    rows, dev, texts, runner, cands = shipped_candidates(args.annotation, args.data, args.store)
    prior = PriorColumns(runner, args.data, {r.id for r in rows}, texts)
    X = prior([numpy.zeros((len(c), 0)) for c in cands], cands, COLUMNS)
    y = [numpy.array([label(c, dev[o]) for c in found], dtype=numpy.int64) for o, found in enumerate(cands)]
    every_x, every_y = numpy.vstack(X), numpy.concatenate(y)
    score = numpy.array([c.features[FEATURES.index("score")] for found in cands for c in found])
    could = numpy.array([prior.prior.available[c.code] > 0 for found in cands for c in found])
    print(f"DEV candidates {len(every_y)}, right {int(every_y.sum())}; of an item the pool could tick"
          f" {int(could.sum())} (right {int(every_y[could].sum())})")
    print("| column | AUC, all candidates | AUC, items the pool could tick |\n|---|---|---|")
    for i, name in enumerate(COLUMNS):
        column = every_x[:, i]
        print(f"| {name} | {auc(column, every_y):.3f} | {auc(column[could], every_y[could]):.3f} |")
    print(f"| score (the liberal linker's, a base feature) | {auc(score, every_y):.3f} |"
          f" {auc(score[could], every_y[could]):.3f} |")
    kinds = numpy.array([next((k for k in KINDS if c.features[FEATURES.index(f"kind_{k}")]), "")
                         for found in cands for c in found])
    rate = every_x[:, COLUMNS.index("tick_rate")]
    for kind in KINDS:
        m = (kinds == kind) & could
        print(f"tick_rate within {kind}: {int(m.sum())} candidates, {int(every_y[m].sum())} right,"
              f" AUC {auc(rate[m], every_y[m]):.3f}")
    best = [numpy.where(x[:, COLUMNS.index("tick_fiche_rate")] > 0, x[:, COLUMNS.index("tick_fiche_rate")],
                        x[:, COLUMNS.index("tick_rate")]) for x in X]
    scores = [numpy.array([c.features[FEATURES.index("score")] for c in found]) for found in cands]
    for name, values in (("the prior (fiche rate, else item rate)", best), ("the liberal score", scores)):
        counts = numpy.array([ordered_pairs(c, yy, v) for c, yy, v in zip(cands, y, values, strict=True)])
        right, wrong, tied = counts.sum(axis=0).tolist()
        print(f"right vs wrong candidate on shared words, ordered by {name}: right {right}, wrong {wrong},"
              f" tied {tied}")


if __name__ == "__main__":
    main()
