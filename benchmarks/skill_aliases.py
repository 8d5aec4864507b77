"""Aliases learned from the annotation's own mentions: candidates for requirements worded as no ROME label
is (paraphrases), for the skill linker's second stage (issue #4, session 14;
docs/guides/skill-learned-aliases.md).

Recruiters repeat their phrasings. Each annotated mention of a training offer that names an item (a code,
not a diploma) gives the lemma key set of its text (:func:`kg.nlp.text.word_key`, stop words out) → each
item it accepts (the code and its alternatives). On another offer, a clause whose keyed words hold all the
keys of such an *alias* within a window of at most ``keys + SLACK`` keyed words yields a candidate for its
item, unless the liberal first stage already proposed that item on overlapping words. Only aliases that at
least :data:`MIN_SUPPORT` distinct training offers annotated are used. Their features (:data:`COLUMNS`):
the flag, log(1 + support), the alias's precision in the training clauses (the windows overlapping a mention
that accepts the item ÷ all its windows there) and its number of keys; the other candidates get 0.

Everything is learned from the offers given (the training folds under the CV); a training offer reads the
table without its own mentions and windows (:meth:`Table.stats` ``without``), as a new offer would.

    .venv/bin/python benchmarks/skill_aliases.py --store /work/real-s13 [--fold-seed 5]

prints the *ceiling* (DEV units with an accepted candidate, the liberal first stage's against the same with
the aliases learned on the other folds) and how many held-out alias candidates there are and how many are
right, per fold seed (the shipped first-stage settings: ``rerank_skills.py --quick``'s candidates).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy

from kg.nlp import learned_aliases
from kg.nlp.evaluate import AnnotatedOffer
from kg.nlp.learned_aliases import (
    COLUMNS,
    MIN_SUPPORT,
    SLACK,
    Clause,
    Match,
    Shipped,
    Table,
    matches,
    new_matches,
)
from kg.nlp.rerank import FEATURES, Candidate, Generator, decide

__all__ = ["COLUMNS", "MIN_SUPPORT", "SLACK", "Table", "candidate", "matches", "new_matches", "report",
           "with_aliases", "with_shipped_aliases"]

def candidate(
    generator: Generator, clause: Clause, number: int, text: str, predicted: Sequence[tuple[str, float]],
    match: Match,
) -> Candidate | None:
    """The alias match as a second-stage candidate (:meth:`kg.nlp.rerank.Generator.alias_candidate`, the
    code the extraction runs), its features padded with 0 to :data:`kg.nlp.rerank.FEATURES` (the offer's
    features, ``item_clauses`` …, 0); its alias columns are the caller's (:func:`with_aliases`)."""
    assert match.clause == number
    top = predicted[: generator.fiches]
    lists = [generator.gazetteer.fiche_items.get(code, frozenset()) for code, _ in top]
    generator._fiches = {}  # (the generator keeps an item's fiche features per offer)
    return generator.alias_candidate(clause, match, text, lists, [score for _, score in top], len(FEATURES))


def _new_candidates(
    generator: Generator, found: Sequence[Candidate], clauses: Sequence[Clause], text: str,
    predicted: Sequence[tuple[str, float]], found_matches: Sequence[Match],
) -> list[tuple[Candidate, Match]]:
    """The alias candidates of one offer (:func:`candidate`) for the matches whose item no candidate of
    ``found`` proposes on overlapping words (:func:`kg.nlp.learned_aliases.new_matches`), with their match."""
    spans = [(c.clause, c.code, c.start, c.end) for c in found]
    out = []
    for m in new_matches(found_matches, spans):
        c = candidate(generator, clauses[m.clause], m.clause, text, predicted, m)
        if c is not None:
            out.append((c, m))
    return out


def with_aliases(
    offers: Sequence[AnnotatedOffer], texts: Sequence[str], clauses: Sequence[Sequence[Clause]],
    predicted: Sequence[Sequence[tuple[str, float]]], generator: Generator, cands: Sequence[list[Candidate]],
    train: Sequence[int], min_support: int = MIN_SUPPORT, groups: Sequence[int] | None = None,
) -> tuple[list[list[Candidate]], list[numpy.ndarray], Counter[str]]:
    """Every offer's candidates with its alias candidates appended (the aliases that at least
    ``min_support`` of the ``train`` offers annotated; every offer reads them without its group's share:
    a training offer without its own and its copies', ``groups`` as :meth:`Table.learn`'s), the
    :data:`COLUMNS` of each (0 for the others), and counts (aliases, alias candidates in and out of
    ``train``)."""
    inside = set(train)
    table = Table.learn(((o, texts[o], offers[o], clauses[o]) for o in train), min_support, groups)
    out: list[list[Candidate]] = []
    columns: list[numpy.ndarray] = []
    counts: Counter[str] = Counter(aliases=len(table.aliases()))
    for o, found in enumerate(cands):
        # (an offer outside train with no copy in it has no share: nothing is left out)
        without = o if groups is None else groups[o]
        new = _new_candidates(generator, found, clauses[o], texts[o], predicted[o],
                              matches(clauses[o], table.aliases(without)))
        extra = [c for c, _ in new]
        rows = [table.stats(m.keys, m.code, without).columns(m.keys) for _, m in new]
        counts["training" if o in inside else "held out"] += len(extra)
        out.append([*found, *extra])
        block = numpy.zeros((len(found) + len(extra), len(COLUMNS)))
        if rows:
            block[len(found):] = numpy.array(rows)
        columns.append(block)
    return out, columns, counts


def with_shipped_aliases(
    shipped: Shipped, texts: Sequence[str], clauses: Sequence[Sequence[Clause]],
    predicted: Sequence[Sequence[tuple[str, float]]], generator: Generator, cands: Sequence[list[Candidate]],
) -> list[list[Candidate]]:
    """Every offer's candidates with the alias candidates of a model's table appended (``shipped``: the
    model file's, learned on all DEV), their :data:`COLUMNS` in ``Candidate.alias`` (what
    :meth:`kg.nlp.rerank.Model.rows` reads): what ``rerank_skills.py --test`` scores on TEST offers, as
    :func:`with_aliases` builds them for a held-out fold.

    >>> from kg.nlp.gazetteer import Gazetteer
    >>> generator = Generator(Gazetteer.from_rows([("1", "Manutention de charges", "savoir-faire")]))
    >>> text = "Port de charges lourdes"
    >>> clause = (0, 23, [(0, 4, "Port"), (5, 7, "de"), (8, 15, "charges"), (16, 23, "lourdes")], "profile")
    >>> table = Shipped(((("charg", "port"), "1", 2, 3, 2),))
    >>> (found,) = with_shipped_aliases(table, [text], [[clause]], [[("F", 1.0)]], generator, [[]])
    >>> [(c.code, text[c.start : c.end], c.alias[0]) for c in found]
    [('1', 'Port de charges', 1.0)]
    """
    out: list[list[Candidate]] = []
    for o, found in enumerate(cands):
        new = _new_candidates(generator, found, clauses[o], texts[o], predicted[o],
                              shipped.matches(clauses[o]))
        out.append([*found, *(replace(c, alias=shipped.columns(m)) for c, m in new)])
    return out


def report(
    offers: Sequence[AnnotatedOffer], cands: Sequence[list[Candidate]], columns: Sequence[numpy.ndarray],
    probabilities: Mapping[int, numpy.ndarray], threshold: float, judged: Iterable[int],
) -> Counter[str]:
    """What the alias candidates of the ``judged`` offers do once decided (:func:`kg.nlp.rerank.decide`):
    how many are kept, how many of those are right at their span, and the units (distinct accepted sets, as
    :func:`kg.nlp.evaluate.offer_item_pr` counts them) that only they find, by the kind of their mentions.

    >>> from kg.nlp.evaluate import GoldMention
    >>> gold = AnnotatedOffer("o", "", "dev", "", (GoldMention(0, 5, "task", "1"),
    ...                                            GoldMention(9, 12, "task", "2")))
    >>> cands = [Candidate(0, "1", 0, 5, frozenset({0}), ()), Candidate(1, "2", 9, 12, frozenset({3}), ())]
    >>> flags = [numpy.array([[0.0], [1.0]])]
    >>> dict(report([gold], [cands], flags, {0: numpy.array([0.9, 0.8])}, 0.5, [0]))
    {'kept': 1, 'right': 1, 'units': 1, 'units task': 1}
    """
    out: Counter[str] = Counter()
    for o in judged:
        flagged = {id(c) for c, row in zip(cands[o], columns[o], strict=True) if row[0] > 0}
        kept = decide(cands[o], probabilities[o].tolist(), threshold)
        mine = [c for c in kept if id(c) in flagged]
        others = {c.code for c in kept if id(c) not in flagged}
        out["kept"] += len(mine)
        out["right"] += sum(any(g.kind != "diploma" and c.code in g.accepted and g.start < c.end
                                and c.start < g.end for g in offers[o].mentions) for c in mine)
        codes = {c.code for c in mine}
        units: dict[frozenset[str], str] = {}
        for g in offers[o].mentions:
            if g.code is not None and g.kind != "diploma" and g.accepted & codes and not g.accepted & others:
                units.setdefault(g.accepted, g.kind)
        out["units"] += len(units)
        out.update(f"units {kind}" for kind in units.values())
    return out


def main() -> None:
    """The ceiling with and without the aliases, per fold of the CV's folds (see the module's doc)."""
    import time

    from rerank_skills import label, shipped_candidates
    from tune_linker import annotation_parser, cv_folds, dev_groups

    from kg.nlp.evaluate import PR, offer_item_pr

    parser = annotation_parser(__doc__.splitlines()[0])
    parser.add_argument("--fold-seed", type=int, action="append", default=[], metavar="N",
                        help="the CV's fold seed (repeatable; default 4 and 5)")
    parser.add_argument("--slack", type=int, default=SLACK, metavar="N",
                        help=f"keyed words a window may hold beyond the alias's keys (default {SLACK})")
    args = parser.parse_args()
    learned_aliases.SLACK = args.slack
    t0 = time.perf_counter()
    _, dev, texts, runner, base = shipped_candidates(args.annotation, args.data, args.store)
    clauses = [runner.component.clauses_of(doc) for doc in runner.docs]
    every = [(o, texts[offer.id][1], offer, clauses[o]) for o, offer in enumerate(dev)]
    print(f"loaded in {time.perf_counter() - t0:.0f} s; {sum(map(len, base))} liberal candidates")
    print("\n| fold seed | ceiling, liberal first stage | ceiling with the aliases | units gained | aliases"
          " per fold (mean) | held-out alias candidates | right at their span | right in the offer |"
          "\n|---|---|---|---|---|---|---|---|")
    groups = dev_groups(dev, texts)  # copies in one fold, one supporter (kg.nlp.near_copies)
    for seed in args.fold_seed or [4, 5]:
        _, folds = cv_folds(len(dev), seed, groups)
        before = after = PR(0, 0, 0, 0)
        count = right = anywhere = 0
        tables = 0
        kinds: Counter[str] = Counter()
        for fold in folds:
            table = Table.learn((e for e in every if e[0] not in fold), groups=groups)
            known = table.aliases()
            tables += len(known)
            for o in fold:
                spans = [(c.clause, c.code, c.start, c.end) for c in base[o]]
                found = new_matches(matches(clauses[o], known), spans)
                codes = {c.code for c in base[o]}
                plus = codes | {m.code for m in found}
                before = before + offer_item_pr(dev[o], codes)
                after = after + offer_item_pr(dev[o], plus)
                count += len(found)
                for m in found:
                    as_candidate = _Spanned(m.code, m.start, m.end)
                    right += label(as_candidate, dev[o])  # type: ignore[arg-type]
                    anywhere += label(as_candidate, dev[o], anywhere=True)  # type: ignore[arg-type]
                for mention in dev[o].mentions:  # the kinds of the units gained
                    accepted = mention.accepted
                    if (mention.code and mention.kind != "diploma" and not accepted & codes
                            and accepted & plus):
                        kinds[mention.kind] += 1
        print(f"| {seed} | {before.found}/{before.gold} | {after.found}/{after.gold} |"
              f" {after.found - before.found} | {tables / len(folds):.0f} | {count} | {right} | {anywhere} |")
        print(f"fold seed {seed}: mentions of the units gained by kind {dict(kinds.most_common())}")


@dataclass(frozen=True)
class _Spanned:
    """What :func:`rerank_skills.label` reads of a candidate."""

    code: str
    start: int
    end: int


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
