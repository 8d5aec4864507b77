"""Why the skill linker misses: every held-out miss and false positive of the learned second stage
(:mod:`kg.nlp.rerank`, the variant "liberal, 3 fiches, all features") under the 5-fold CV of
``benchmarks/rerank_skills.py``, each put in exactly one category by a written rule, and a few changes
the categories point at, measured beside the reference in the same run.

    .venv/bin/python benchmarks/skill_errors.py --store /work/real-s8 [--quick] [--examples 3]

Per outer fold (the folds of ``tune_linker.py``: DEV shuffled with seed 4, every fifth offer), as
``rerank_skills.py`` does it: the first stage's settings chosen by coordinate ascent on the four other
folds (``--quick``: the shipped defaults in every fold, faster, leaks the defaults), the liberal
candidates of every DEV offer, a logistic regression on the 33 base features with its L2 weight and
threshold chosen by an inner 4-fold CV on the training offers, the held-out fold decided with it.

Then every held-out **miss** (a gold unit — the accepted set of an annotated requirement, diplomas
apart — none of whose codes is kept in its offer) and every held-out **false positive** (a kept code
that no annotated mention of the offer accepts) goes into the first category of
:data:`MISS_CATEGORIES` / :data:`FP_CATEGORIES` whose rule applies (:func:`miss_category`,
:func:`fp_category`). Examples are printed as (offer id, offsets, item code): never the offer's text.
Only DEV is read; TEST is never scored here.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy  # noqa: E402

from kg.nlp.associations import text_keys  # noqa: E402
from kg.nlp.evaluate import PR, AnnotatedOffer, GoldMention, annotated_offer, offer_item_pr  # noqa: E402
from kg.nlp.rerank import BASE_FEATURES, FEATURES, Candidate, decide, half_claimed  # noqa: E402

# ---------------------------------------------------------------------------------------------------
# The categories (pure: tests/test_skill_errors.py checks them on hand-made cases)

MISS_CATEGORIES: dict[str, str] = {
    "outside the read clauses": "no candidate overlaps a mention of the unit, and no clause the linker"
    " reads overlaps one (the segmenter put the words in a section it skips)",
    "quality phrased otherwise": "no candidate at the unit's mentions; they are qualities; no lemma key"
    " of their words is a key of any accepted item's labels",
    "paraphrase (no label word)": "no candidate at the unit's mentions; no lemma key of their words is"
    " a key of any accepted item's labels",
    "half the label's words there": "no candidate at the unit's mentions, though at least half of an"
    " accepted item's label keys are among their words (the liberal linker's coverage or compactness"
    " thresholds were not met)",
    "few label words, item of a predicted fiche": "no candidate at the unit's mentions; some keys of an"
    " accepted item's labels, under half, are among their words; an accepted item is listed by one of the"
    " three predicted fiches (the prior's looser rules did not reach it)",
    "few label words, item of no predicted fiche": "the same, no accepted item being listed by the three"
    " predicted fiches",
    "first-stage link dropped": "the best candidate with an accepted code at the mentions is linked by"
    " the first stage (`linked`) and the model puts it under the threshold",
    "below threshold, near": "the best candidate with an accepted code at the mentions has a"
    " probability of at least half the threshold",
    "below threshold, far": "the same, under half the threshold",
    "lost the words to a wrong item": "a candidate with an accepted code at the mentions is above the"
    " threshold but a more probable kept candidate of its clause claimed its words, and that one's item"
    " is accepted by no mention it overlaps",
    "lost the words to another unit": "the same, the winner being accepted by a mention it overlaps",
}

FP_CATEGORIES: dict[str, str] = {
    "related item on a coded mention": "the kept span overlaps a mention with a code; the item shares"
    " at least half of the keys of the shorter label with one of its accepted items (near-duplicate,"
    " broader or narrower)",
    "unrelated item on a coded mention": "the kept span overlaps a mention with a code; the item shares"
    " less than that with every accepted item",
    "null mention, close items listed": "the kept span overlaps a mention in no referential (code null)"
    " that lists alternatives, none of them this item",
    "null mention, no alternative": "the kept span overlaps a mention in no referential with no"
    " alternative: the requirement has no item",
    "on a diploma mention": "the kept span overlaps only diploma mentions",
    "in the job title line": "no mention overlaps; the span is in the title (the offer's first line;"
    " the segmenter keeps it off the requirement side, so this stays empty unless that changes)",
    "knowledge noun off the requirements": "no mention overlaps; the item is a one-key savoir (a"
    " knowledge noun: sector, trade, subject)",
    "unannotated text, opening section": "no mention overlaps; the clause is in the segmenter's opening"
    " section (`intro`: the text before any recognised heading, the whole offer when it has none)",
    "unannotated text, requirement sections": "no mention overlaps; the clause is in the missions,"
    " profile or qualities section (a word used in another sense, or text the guideline excludes)",
}

_LINKED = FEATURES.index("linked")
_ONE_KEY = FEATURES.index("one_key")
_SAVOIR = FEATURES.index("kind_savoir")
_INTRO = FEATURES.index("section_intro")


@dataclass(frozen=True)
class Judged:
    """A held-out candidate, its probability under the fold's model and whether :func:`decide` kept it."""

    candidate: Candidate
    probability: float
    kept: bool


def _overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def units(offer: AnnotatedOffer) -> dict[frozenset[str], list[GoldMention]]:
    """The offer's gold units (what recall counts) and the mentions stating each.

    >>> o = AnnotatedOffer("1", "", "dev", "", (GoldMention(0, 4, "quality", "A"),
    ...     GoldMention(9, 12, "quality", "A"), GoldMention(20, 25, "task", None, ("B",)),
    ...     GoldMention(30, 33, "diploma", "C")))
    >>> {tuple(sorted(k)): [m.start for m in v] for k, v in units(o).items()}
    {('A',): [0, 9]}
    """
    out: dict[frozenset[str], list[GoldMention]] = {}
    for m in offer.mentions:
        if m.code is not None and m.kind != "diploma":
            out.setdefault(m.accepted, []).append(m)
    return out


def near(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two labels' key sets share at least half of the shorter one's keys.

    >>> near(frozenset({"respect", "regl", "secur"}), frozenset({"regl", "secur"}))
    True
    >>> near(frozenset({"aid", "person"}), frozenset({"prepar", "repas", "person"}))  # 1 of 2
    True
    >>> near(frozenset({"conduir", "engin", "chanti"}), frozenset({"prepar", "repas", "engin"}))  # 1 of 3
    False
    """
    if not a or not b:
        return False
    return len(a & b) * 2 >= min(len(a), len(b))


def miss_category(
    mentions: Sequence[GoldMention], accepted: frozenset[str], judged: Sequence[Judged], threshold: float,
    clauses: Sequence[tuple[int, int]], mention_keys: Sequence[frozenset[str]],
    label_keys: Mapping[str, frozenset[str]], offer: AnnotatedOffer, prior: frozenset[str] = frozenset(),
) -> str:
    """The first :data:`MISS_CATEGORIES` rule that a missed unit meets. ``mentions``: the unit's
    mentions, ``mention_keys`` their words' lemma keys; ``judged``: the offer's candidates; ``clauses``:
    the (start, end) of the clauses the linker reads; ``label_keys``: an item's labels' keys; ``prior``:
    the items of the offer's three predicted fiches."""
    at = [j for j in judged if j.candidate.code in accepted
          and any(_overlap(j.candidate.start, j.candidate.end, m.start, m.end) for m in mentions)]
    if not at:
        if not any(_overlap(s, e, m.start, m.end) for s, e in clauses for m in mentions):
            return "outside the read clauses"
        labels = frozenset().union(*(label_keys.get(code, frozenset()) for code in accepted))
        words = frozenset().union(*mention_keys)
        if not words & labels:
            if all(m.kind == "quality" for m in mentions):
                return "quality phrased otherwise"
            return "paraphrase (no label word)"
        if any(len(words & label_keys.get(code, frozenset())) * 2 >= len(label_keys.get(code, frozenset()))
               for code in accepted if label_keys.get(code)):
            return "half the label's words there"
        if accepted & prior:
            return "few label words, item of a predicted fiche"
        return "few label words, item of no predicted fiche"
    best = max(at, key=lambda j: j.probability)
    if best.probability < threshold:
        if best.candidate.features[_LINKED] > 0:
            return "first-stage link dropped"
        return "below threshold, near" if best.probability * 2 >= threshold else "below threshold, far"
    # above the threshold and not kept (else the unit were found): a kept candidate claimed its words
    winners = [j for j in judged if j.kept and j.candidate.clause == best.candidate.clause
               and j.candidate.used & best.candidate.used]
    for w in winners:
        if any(w.candidate.code in m.accepted and m.kind != "diploma"
               and _overlap(w.candidate.start, w.candidate.end, m.start, m.end) for m in offer.mentions):
            return "lost the words to another unit"
    return "lost the words to a wrong item"


def fp_category(
    code: str, judged: Sequence[Judged], offer: AnnotatedOffer, title_end: int,
    label_keys: Mapping[str, frozenset[str]],
) -> str:
    """The first :data:`FP_CATEGORIES` rule that a false positive ``code`` meets, read at its most
    probable kept candidate (``judged``: the offer's candidates; ``title_end``: where the title line
    ends)."""
    best = max((j for j in judged if j.kept and j.candidate.code == code), key=lambda j: j.probability)
    c = best.candidate
    over = [m for m in offer.mentions if _overlap(c.start, c.end, m.start, m.end)]
    coded = [m for m in over if m.code is not None and m.kind != "diploma"]
    if coded:
        mine = label_keys.get(code, frozenset())
        if any(near(mine, label_keys.get(a, frozenset())) for m in coded for a in m.accepted):
            return "related item on a coded mention"
        return "unrelated item on a coded mention"
    null = [m for m in over if m.code is None and m.kind != "diploma"]
    if null:
        if any(m.alternatives for m in null):
            return "null mention, close items listed"
        return "null mention, no alternative"
    if over:
        return "on a diploma mention"
    if c.start < title_end:
        return "in the job title line"
    if c.features[_SAVOIR] > 0 and c.features[_ONE_KEY] > 0:
        return "knowledge noun off the requirements"
    if c.features[_INTRO] > 0:
        return "unannotated text, opening section"
    return "unannotated text, requirement sections"


def false_positives(offer: AnnotatedOffer, kept: Sequence[Candidate]) -> list[str]:
    """The kept codes that precision counts wrong (as :func:`kg.nlp.evaluate.offer_item_pr` does).

    >>> o = AnnotatedOffer("1", "", "dev", "", (GoldMention(0, 4, "task", None, ("B",)),
    ...     GoldMention(9, 12, "diploma", None, ("D",))))
    >>> kept = [Candidate(0, c, 0, 1, frozenset(), ()) for c in ("B", "D", "X", "X")]
    >>> false_positives(o, kept)
    ['X']
    """
    acceptable: set[str] = set()
    for m in offer.mentions:
        if m.kind != "diploma":
            acceptable |= m.accepted
    diploma = {c for m in offer.mentions if m.kind == "diploma" for c in m.accepted} - acceptable
    return sorted({c.code for c in kept} - acceptable - diploma)


def categorise(
    offer: AnnotatedOffer, judged: Sequence[Judged], threshold: float, clauses: Sequence[tuple[int, int]],
    text: str, title_end: int, label_keys: Mapping[str, frozenset[str]], prior: frozenset[str] = frozenset(),
) -> tuple[list[tuple[str, frozenset[str], GoldMention]], list[tuple[str, str, Candidate]]]:
    """Every miss of the offer (category, unit, its first mention) and every false positive (category,
    code, its most probable kept candidate)."""
    kept = [j.candidate for j in judged if j.kept]
    codes = {c.code for c in kept}
    misses = []
    for accepted, mentions in units(offer).items():
        if accepted & codes:
            continue
        keys = [frozenset(text_keys(text[m.start : m.end])) for m in mentions]
        category = miss_category(mentions, accepted, judged, threshold, clauses, keys, label_keys, offer,
                                 prior)
        misses.append((category, accepted, mentions[0]))
    wrong = []
    for code in false_positives(offer, kept):
        best = max((j for j in judged if j.kept and j.candidate.code == code), key=lambda j: j.probability)
        wrong.append((fp_category(code, judged, offer, title_end, label_keys), code, best.candidate))
    return misses, wrong


# ---------------------------------------------------------------------------------------------------
# The CV (the reference of rerank_skills.py) and the changes measured beside it


Rule = Callable[[Sequence[Candidate], Sequence[float], float], list[Candidate]]


@dataclass(frozen=True)
class Variant:
    """A change measured under the same CV: ``extra`` appends feature columns to an offer's rows (from
    its candidates and :class:`Context`, nothing learned), ``names`` names them; ``rules``: decision rules
    replacing :func:`decide` (candidates, probabilities, threshold → kept), the inner CV choosing one with
    the L2 weight and threshold; ``settings``: the liberal linker's settings changed (more candidates)."""

    extra: Callable[[Sequence[Candidate], numpy.ndarray, Any], numpy.ndarray] | None = None
    names: tuple[str, ...] = ()
    rules: tuple[tuple[str, Rule], ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()


def run_variant(
    variant: Variant, dev: Sequence[AnnotatedOffer], cands: Sequence[list[Candidate]], context: Sequence[Any],
    train: Sequence[int], fold: Sequence[int],
) -> tuple[PR, dict[int, list[Judged]], tuple[float, float, str]]:
    """The variant fitted on ``train`` and decided on ``fold``: pooled counts, the held-out candidates
    judged, and the L2 weight, threshold and rule the inner CV chose."""
    from rerank_skills import data

    from kg.nlp.rerank import choose, fit_offers

    X, y = data(dev, cands, BASE_FEATURES)
    if variant.extra is not None:
        X = [variant.extra(c, x, context[o]) for o, (c, x) in enumerate(zip(cands, X, strict=True))]
    names = (*BASE_FEATURES, *variant.names)
    best: tuple[float, float, float, str, Rule] | None = None
    for rule_name, rule in variant.rules or (("decide", decide),):
        seen: list[float] = []
        judge = judge_for(dev, cands, rule)

        def noting(probabilities: Mapping[int, numpy.ndarray], threshold: float, chosen: Sequence[int],
                   judge: Callable[..., float] = judge, seen: list[float] = seen) -> float:
            seen.append(judge(probabilities, threshold, chosen))
            return seen[-1]

        l2, threshold = choose(X, y, train, names, noting)
        if best is None or max(seen) > best[0] + 1e-9:  # ties: the first rule (the reference's first)
            best = (max(seen), l2, threshold, rule_name, rule)
    assert best is not None
    _, l2, threshold, rule_name, rule = best
    model = fit_offers(X, y, train, names, l2)
    total = PR(0, 0, 0, 0)
    judged: dict[int, list[Judged]] = {}
    for o in fold:
        probs = model.probability(X[o]).tolist() if cands[o] else []
        kept = rule(cands[o], probs, threshold)
        ids = {id(c) for c in kept}
        judged[o] = [Judged(c, p, id(c) in ids) for c, p in zip(cands[o], probs, strict=True)]
        total = total + offer_item_pr(dev[o], {c.code for c in kept})
    return total, judged, (l2, threshold, rule_name)


def compete(limit: float) -> Rule:
    """:func:`decide` with another limit on the share of a candidate's words that kept candidates of its
    clause may already claim: it is dropped when the claimed share reaches ``limit`` (``decide``: 0.5; a
    tiny limit drops it when any of its words is claimed).

    >>> a = Candidate(0, "A", 0, 5, frozenset({0, 1}), ())
    >>> b = Candidate(0, "B", 0, 9, frozenset({1, 2, 3}), ())
    >>> [k.code for k in compete(0.5)([a, b], [0.9, 0.8], 0.5)]  # B: one of its three words claimed
    ['A', 'B']
    >>> [k.code for k in compete(1e-9)([a, b], [0.9, 0.8], 0.5)]
    ['A']
    >>> all(compete(0.5)([a, b], p, 0.5) == decide([a, b], p, 0.5) for p in ([0.9, 0.8], [0.6, 0.7]))
    True
    """

    def loses(candidate: Candidate, taken: set[int], kept_in_clause: Sequence[Candidate]) -> bool:
        return bool(candidate.used) and len(candidate.used & taken) >= limit * len(candidate.used)

    return partial(decide, loses=loses)


def raised(column: str, offset: float) -> Rule:
    """:func:`decide` with the threshold raised by ``offset`` for the candidates whose feature ``column`` is
    set (a threshold for one section or kind).

    >>> row = tuple(1.0 if f == "section_intro" else 0.0 for f in FEATURES)
    >>> a = Candidate(0, "A", 0, 5, frozenset({0}), row)
    >>> raised("section_intro", 0.1)([a], [0.55], 0.5), raised("section_intro", 0.0)([a], [0.55], 0.5) == [a]
    ([], True)
    """
    i = FEATURES.index(column)

    def rule(
        candidates: Sequence[Candidate], probabilities: Sequence[float], threshold: float
    ) -> list[Candidate]:
        shifted = [p - offset if c.features[i] > 0 else p
                   for c, p in zip(candidates, probabilities, strict=True)]
        return decide(candidates, shifted, threshold)

    return rule


def twins(
    label_keys: Mapping[str, frozenset[str]], alike: Callable[[frozenset[str], frozenset[str]], bool]
) -> Rule:
    """:func:`decide`, except that a candidate whose words a kept one claimed is kept too when its item's
    label keys are ``alike`` that one's (near-duplicate ROME items on the same words: the annotation
    accepts one of them, not always the model's first).

    >>> a = Candidate(0, "A", 0, 5, frozenset({0, 1}), ())
    >>> b = Candidate(0, "B", 0, 5, frozenset({0, 1}), ())
    >>> c = Candidate(0, "C", 0, 5, frozenset({0, 1}), ())
    >>> safety = frozenset({"regl", "secur"})
    >>> keys = {"A": safety, "B": safety, "C": frozenset({"engin"})}
    >>> [k.code for k in twins(keys, frozenset.__eq__)([a, b, c], [0.9, 0.8, 0.7], 0.5)]
    ['A', 'B']
    >>> [k.code for k in twins(keys, frozenset.__eq__)([a, b, c], [0.9, 0.4, 0.7], 0.5)]  # B under it
    ['A']
    """

    def loses(candidate: Candidate, taken: set[int], kept_in_clause: Sequence[Candidate]) -> bool:
        if not half_claimed(candidate, taken, kept_in_clause):
            return False
        mine = label_keys.get(candidate.code, frozenset())
        return not any(k.used & candidate.used and alike(mine, label_keys.get(k.code, frozenset()))
                       for k in kept_in_clause)

    return partial(decide, loses=loses)


_SCORE = FEATURES.index("score")
_COVERAGE = FEATURES.index("coverage")


def looser(candidates: Sequence[Candidate], X: numpy.ndarray, context: Any) -> numpy.ndarray:
    """One 0/1 column: the candidate passes only the looser settings of the variant "more candidates" (its
    coverage under the shipped liberal 0.6 or its score under 0.5), so the linear model can put the extra
    candidates apart.

    >>> row = tuple(0.55 if f in ("coverage", "score") else 0.0 for f in FEATURES)
    >>> looser([Candidate(0, "A", 0, 1, frozenset(), row)], numpy.zeros((1, 0)), None).tolist()
    [[1.0]]
    """
    extra = numpy.array([[1.0 if c.features[_COVERAGE] < 0.6 or c.features[_SCORE] < 0.5 else 0.0]
                         for c in candidates]).reshape(len(candidates), 1)
    return numpy.hstack([X, extra]) if len(X) else numpy.zeros((0, X.shape[1] + 1))


# products of features the analysis points at: the false positives in the opening section are mostly
# savoirs of no predicted fiche that the first stage links at full coverage
_FICHES = [FEATURES.index(f) for f in ("fiche1", "fiche2", "fiche3")]
_PRODUCTS = ("savoir_in_opening", "no_fiche_in_opening", "linked_no_fiche")


def opening_products(candidates: Sequence[Candidate], X: numpy.ndarray, context: Any) -> numpy.ndarray:
    """Three 0/1 columns: a savoir in the opening section, an item of no predicted fiche in it, a first-stage
    link of an item of no predicted fiche.

    >>> row = tuple(1.0 if f in ("kind_savoir", "section_intro", "linked") else 0.0 for f in FEATURES)
    >>> opening_products([Candidate(0, "A", 0, 1, frozenset(), row)], numpy.zeros((1, 0)), None).tolist()
    [[1.0, 1.0, 1.0]]
    """
    extra = numpy.zeros((len(candidates), len(_PRODUCTS)))
    for n, c in enumerate(candidates):
        f = c.features
        none = not any(f[i] for i in _FICHES)
        extra[n] = (f[_SAVOIR] * f[_INTRO], float(none) * f[_INTRO], float(none) * f[_LINKED])
    return numpy.hstack([X, extra]) if len(X) else numpy.zeros((0, X.shape[1] + len(_PRODUCTS)))


def judge_for(
    dev: Sequence[AnnotatedOffer], cands: Sequence[list[Candidate]],
    rule: Callable[[Sequence[Candidate], Sequence[float], float], list[Candidate]],
) -> Callable[[Mapping[int, numpy.ndarray], float, Sequence[int]], float]:
    """The inner CV's judge (``rerank_skills.judge_with``'s pooled F1) deciding with ``rule``."""

    def judge(probabilities: Mapping[int, numpy.ndarray], threshold: float, chosen: Sequence[int]) -> float:
        total = PR(0, 0, 0, 0)
        for o in chosen:
            kept = rule(cands[o], probabilities[o].tolist(), threshold)
            total = total + offer_item_pr(dev[o], {c.code for c in kept})
        return total.f1

    return judge


VARIANTS: dict[str, Variant] = {
    "stricter word competition (dropped when 1/2, 1/4 or any of its words are claimed; inner CV)":
        Variant(rules=tuple((f"claimed limit {limit}", compete(limit)) for limit in (0.5, 0.25, 1e-9))),
    "higher threshold in the opening section (+0 … +0.3, chosen by the inner CV)":
        Variant(rules=tuple((f"opening +{o}", raised("section_intro", o))
                            for o in (0.0, 0.05, 0.1, 0.2, 0.3))),
    "+ opening-section and no-fiche products (3 features)":
        Variant(extra=opening_products, names=_PRODUCTS),
    "more candidates (liberal min_coverage 0.5, min_score 0.4, prior_coverage 0.2)":
        Variant(settings=(("min_coverage", 0.5), ("min_score", 0.4), ("prior_coverage", 0.2))),
    "more candidates of the predicted fiches only (liberal prior_coverage 0.15)":
        Variant(settings=(("prior_coverage", 0.15),)),
    "more candidates, marked (the same, + a 0/1 feature: passes only the looser settings)":
        Variant(settings=(("min_coverage", 0.5), ("min_score", 0.4), ("prior_coverage", 0.2)),
                extra=looser, names=("looser",)),
}


def main() -> None:
    from rerank_skills import Links, offer_candidates
    from tune_linker import (
        Runner,
        annotation_parser,
        ascend,
        cv_folds,
        declared_codes,
        dev_groups,
        offer_texts,
        pooled,
        row,
        shipped_settings,
    )

    from kg.nlp.rerank import LIBERAL, Generator

    parser = annotation_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the shipped linker settings in every fold instead of the per-fold ascent")
    parser.add_argument("--examples", type=int, default=3, help="examples printed per category")
    parser.add_argument("--variant", action="append", default=[], metavar="TEXT",
                        help="measure only the changes whose name holds TEXT (repeatable; default: all)")
    parser.add_argument("--dump", type=Path, default=None,
                        help="write every categorised error as JSON lines (ids, offsets, codes; no text)")
    parser.add_argument("--save", type=Path, default=None,
                        help="pickle the reference's held-out candidates and decisions (git-ignored var/)")
    parser.add_argument("--item-prior", action="append", default=[], metavar="GROUPS",
                        help="also measure the item prior's feature groups (benchmarks/item_prior.py GROUPS,"
                        " comma-separated, e.g. tick,kind); repeatable")
    parser.add_argument("--categorise", default=None, metavar="TEXT",
                        help="categorise the errors of the change whose name holds TEXT (default: the"
                        " reference)")
    parser.add_argument("--load", type=Path, default=None,
                        help="categorise the errors of a run saved with --save (no CV)")
    args = parser.parse_args()
    texts = offer_texts(args.data)
    if args.load:
        import pickle

        from kg.nlp.gazetteer import Gazetteer
        from kg.store import StoreLayout, open_store

        with args.load.open("rb") as fh:
            state = pickle.load(fh)  # our own file, written by --save
        gazetteer = Gazetteer.cached(open_store(args.store), StoreLayout(args.store).current())
        report(state, texts, gazetteer.fiche_items, args.examples, args.dump)
        return
    lines = args.annotation.read_text().splitlines()
    rows = [annotated_offer(json.loads(line)) for line in lines if line.strip()]
    dev = [r for r in rows if r.split == "dev"]  # TEST is never read here
    t0 = time.perf_counter()
    runner = Runner(args.store, dev, texts, declared_codes(args.data))
    links = Links(runner)
    component: Any = runner.component  # the pas_skill_linker pipe (kg.nlp.pipeline.SkillLinker)
    generators: dict[tuple[tuple[str, Any], ...], Generator] = {
        (): Generator(runner.gazetteer, fiches=3, titles=component._titles)}
    label_keys: dict[str, frozenset[str]] = {}
    for entry in runner.gazetteer.entries:
        label_keys[entry.code] = label_keys.get(entry.code, frozenset()) | frozenset(entry.keys)
    clauses = [[(s, e) for s, e, _, _ in component.clauses_of(doc)] for doc in runner.docs]
    context = [Context(dev[o].id, len(texts[dev[o].id][0]), clauses[o], texts[dev[o].id][1])
               for o in range(len(dev))]
    print(f"loaded in {time.perf_counter() - t0:.0f} s")
    defaults = shipped_settings(runner.linker)
    # copies and near-copies in one outer fold (kg.nlp.near_copies; the inner CV of `choose` is not grouped)
    order, folds = cv_folds(len(dev), groups=dev_groups(dev, texts))
    variants = {"reference: liberal, 3 fiches, all features": Variant()}
    chosen = {k: v for k, v in VARIANTS.items() if not args.variant or any(t in k for t in args.variant)}
    variants |= chosen
    twin_name = "keep near-duplicate items on the same words (same label keys, or near ones; inner CV)"
    if not args.variant or any(t in twin_name for t in args.variant):
        variants[twin_name] = Variant(rules=(
            ("decide", decide), ("same-key twins", twins(label_keys, frozenset.__eq__)),
            ("near twins", twins(label_keys, near))))
    if args.item_prior:
        from item_prior import GROUPS, columns
        from rerank_skills import PriorColumns

        prior = PriorColumns(runner, args.data, {r.id for r in rows}, texts)
        index = {offer.id: o for o, offer in enumerate(dev)}

        def extra(cands: Sequence[Candidate], X: numpy.ndarray, context: Context,
                  names: tuple[str, ...]) -> numpy.ndarray:
            o = index[context.id]
            added = columns(prior.prior, cands, prior.clause_keys[o], prior.fiches[o], names)
            return numpy.hstack([X, added])

        for spec in args.item_prior:
            names = tuple(n for group in spec.split(",") for n in GROUPS[group])
            variants[f"+ item prior: {spec}"] = Variant(extra=partial(extra, names=names), names=names)
    categorised = next((name for name in variants if args.categorise and args.categorise in name),
                       next(iter(variants)))
    print(f"errors categorised: {categorised}")
    before = PR(0, 0, 0, 0)
    totals = {name: PR(0, 0, 0, 0) for name in variants}
    ceilings = {name: PR(0, 0, 0, 0) for name in variants}
    counted = {name: 0 for name in variants}
    saved: dict[int, tuple[list[Judged], float]] = {}
    for number, fold in enumerate(folds):
        t1 = time.perf_counter()
        train = [o for o in order if o not in fold]
        point = defaults if args.quick else ascend(runner, defaults, train)
        before = before + pooled(runner.counts(point), fold)
        linked = links(point)
        by_settings: dict[tuple[tuple[str, Any], ...], list[list[Candidate]]] = {}
        for name, variant in variants.items():
            if variant.settings not in by_settings:
                if variant.settings not in generators:
                    generators[variant.settings] = Generator(
                        runner.gazetteer, fiches=3, settings=LIBERAL | dict(variant.settings),
                        titles=component._titles)
                by_settings[variant.settings] = offer_candidates(runner, generators[variant.settings], texts,
                                                                 linked)
            cands = by_settings[variant.settings]
            total, judged, chosen_by = run_variant(variant, dev, cands, context, train, fold)
            totals[name] = totals[name] + total
            for o in fold:
                ceilings[name] = ceilings[name] + offer_item_pr(dev[o], {c.code for c in cands[o]})
                counted[name] += len(cands[o])
            if name == categorised:  # the reference, or the change asked for: its errors are categorised
                for o in fold:
                    saved[o] = (judged[o], chosen_by[1])
            print(f"fold {number}: {name}: l2 {chosen_by[0]}, threshold {chosen_by[1]}, rule {chosen_by[2]}")
        print(f"fold {number} ({len(fold)} offers) in {time.perf_counter() - t1:.0f} s;"
              f" linker settings {'shipped' if args.quick else point}")

    print(f"\n| DEV split, {len(dev)} offers, 5-fold CV held out | P | R | F1 | units found |"
          " ceiling (units with an accepted candidate) | candidates |\n|---|---|---|---|---|---|---|")
    settings = "shipped" if args.quick else "chosen per fold"
    print(row(f"before: linker, settings {settings}", before) + " | |")
    for name in variants:
        c = ceilings[name]
        print(row(name, totals[name]) + f" {c.found}/{c.gold} ({c.recall:.3f}) | {counted[name]} |")
    state = {"dev": dev, "judged": saved, "clauses": clauses, "predicted": runner.predicted,
             "label_keys": label_keys}
    if args.save:
        import pickle

        with args.save.open("wb") as fh:
            pickle.dump(state, fh)
    report(state, texts, runner.gazetteer.fiche_items, args.examples, args.dump)


def report(
    state: Mapping[str, Any], texts: Mapping[str, tuple[str, str]], fiche_items: Mapping[str, frozenset[str]],
    examples: int, dump: Path | None,
) -> None:
    """Categorise the reference's held-out errors (``state``: the DEV offers, their judged candidates and
    threshold, clauses, predicted fiches, the items' label keys) and print the two tables."""
    dev: Sequence[AnnotatedOffer] = state["dev"]
    misses: list[tuple[str, str, GoldMention, frozenset[str]]] = []
    wrongs: list[tuple[str, str, Candidate]] = []
    total = PR(0, 0, 0, 0)
    for o, (judged, threshold) in sorted(state["judged"].items()):
        offer = dev[o]
        title, text = texts[offer.id]
        top = [code for code, _ in state["predicted"][o][:3]]
        prior = frozenset().union(*(fiche_items.get(code, frozenset()) for code in top))
        missed_here, wrong_here = categorise(offer, judged, threshold, state["clauses"][o], text, len(title),
                                             state["label_keys"], prior)
        misses += [(cat, offer.id, mention, unit) for cat, unit, mention in missed_here]
        wrongs += [(cat, offer.id, cand) for cat, _, cand in wrong_here]
        total = total + offer_item_pr(offer, {j.candidate.code for j in judged if j.kept})
    missed = total.gold - total.found
    wrong = total.predicted - total.correct
    assert len(misses) == missed and len(wrongs) == wrong, (len(misses), missed, len(wrongs), wrong)
    print(f"\ncategorised, held out: P {total.precision:.3f} R {total.recall:.3f}"
          f" ({total.found}/{total.gold})")
    table("misses (gold units not found)", MISS_CATEGORIES, Counter(c for c, *_ in misses), missed,
          {cat: [f"({oid}, {m.start}-{m.end}, {'/'.join(sorted(u))})" for c, oid, m, u in misses if c == cat]
           for cat in MISS_CATEGORIES}, examples)
    table("false positives (kept codes no mention accepts)", FP_CATEGORIES, Counter(c for c, *_ in wrongs),
          wrong, {cat: [f"({oid}, {k.start}-{k.end}, {k.code})" for c, oid, k in wrongs if c == cat]
                  for cat in FP_CATEGORIES}, examples)
    if dump:
        with dump.open("w") as f:
            for cat, oid, m, u in misses:
                f.write(json.dumps({"error": "miss", "category": cat, "id": oid, "start": m.start,
                                    "end": m.end, "kind": m.kind, "accepted": sorted(u)}) + "\n")
            for cat, oid, k in wrongs:
                f.write(json.dumps({"error": "fp", "category": cat, "id": oid, "start": k.start,
                                    "end": k.end, "code": k.code,
                                    "features": dict(zip(FEATURES, k.features, strict=False))}) + "\n")


@dataclass(frozen=True)
class Context:
    """What a variant may read of an offer besides its candidates: its id, where its title line ends, the
    offsets of the clauses the linker reads, and its text (for rules on words; never printed)."""

    id: str
    title_end: int
    clauses: Sequence[tuple[int, int]]
    text: str


def table(
    title: str, categories: Mapping[str, str], counts: Counter[str], total: int,
    examples: Mapping[str, list[str]], shown: int,
) -> None:
    print(f"\n| {title} | count | share | rule | examples (offer id, offsets, item) |"
          "\n|---|---:|---:|---|---|")
    for cat, rule in categories.items():
        n = counts.get(cat, 0)
        share = n / total if total else 0.0
        print(f"| {cat} | {n} | {share:.1%} | {rule} | {' '.join(examples[cat][:shown])} |")
    print(f"| all | {total} | | | |")


if __name__ == "__main__":
    main()
