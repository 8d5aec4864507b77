"""Aliases learned from the annotation's own mentions: candidates for requirements worded as no ROME label
is (paraphrases), for the skill linker's second stage (issue #4, session 14; docs/readme/aliases.md).

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

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy

from kg.nlp.evaluate import AnnotatedOffer
from kg.nlp.linker import Token
from kg.nlp.rerank import FEATURES, Candidate, Generator, _strength, decide
from kg.nlp.text import word_key

MIN_SUPPORT = 2  # distinct training offers (generalisation, and the data policy of the model file)
SLACK = 2  # a window may hold this many keyed words more than the alias's keys
COLUMNS = ("learned_alias", "alias_support", "alias_precision", "alias_keys")
Keys = frozenset[str]
Clause = tuple[int, int, list[Token], str]


def token_keys(tokens: Sequence[Token]) -> list[tuple[int, str]]:
    """A clause's keyed words: (token number, lemma key), function words left out.

    >>> token_keys([(0, 4, "Port"), (5, 7, "de"), (8, 15, "charges")])
    [(0, 'port'), (2, 'charg')]
    """
    return [(n, k) for n, (_, _, w) in enumerate(tokens) if (k := word_key(w)) is not None]


def text_key_set(text: str) -> Keys:
    """The lemma keys of a mention's text (the keys of the words :func:`kg.nlp.text.words` finds).

    >>> sorted(text_key_set("Port de charges lourdes"))
    ['charg', 'lourd', 'port']
    """
    from kg.nlp.associations import text_keys

    return frozenset(text_keys(text))


def window(keyed: Sequence[tuple[int, str]], keys: Keys, slack: int | None = None) -> tuple[int, int] | None:
    """The narrowest run of ``keyed`` (places ``first`` to ``last``) holding every key of ``keys``, when it
    spans at most ``len(keys) + slack`` keyed words (the first such run on ties), else None.

    >>> keyed = [(0, "port"), (2, "charg"), (3, "lourd"), (5, "vent")]
    >>> window(keyed, frozenset({"port", "lourd"})), window(keyed, frozenset({"port", "vent"}), 1)
    ((0, 2), None)
    """
    best: tuple[int, int] | None = None
    need = len(keys)
    slack = SLACK if slack is None else slack
    for first, (_, key) in enumerate(keyed):
        if key not in keys:
            continue
        seen: set[str] = set()
        for last in range(first, min(len(keyed), first + need + slack)):
            if keyed[last][1] in keys:
                seen.add(keyed[last][1])
                if len(seen) == need:
                    if best is None or last - first < best[1] - best[0]:
                        best = (first, last)
                    break
    return best


@dataclass(frozen=True)
class Match:
    """An alias found in a clause: the clause's number, the item, the span's offsets, the clause tokens it
    uses (for :func:`kg.nlp.rerank.decide`'s word competition) and the alias's keys."""

    clause: int
    code: str
    start: int
    end: int
    used: frozenset[int]
    keys: Keys


def matches(clauses: Sequence[Clause], aliases: Iterable[tuple[Keys, str]]) -> list[Match]:
    """Every (clause, alias) whose keys the clause holds in a window (:func:`window`), one per clause, alias
    keys and item.

    >>> clause = (0, 22, [(0, 4, "port"), (5, 7, "de"), (8, 15, "charges")], "profile")
    >>> [(m.code, m.start, m.end) for m in matches([clause], [(frozenset({"port", "charg"}), "1")])]
    [('1', 0, 15)]
    """
    by_key: dict[str, list[tuple[Keys, str]]] = {}
    for keys, code in aliases:
        by_key.setdefault(min(keys), []).append((keys, code))
    out = []
    for number, (_, _, tokens, _) in enumerate(clauses):
        keyed = token_keys(tokens)
        present = {k for _, k in keyed}
        for key in sorted(present & by_key.keys()):
            for keys, code in by_key[key]:
                if not keys <= present:
                    continue
                found = window(keyed, keys)
                if found is None:
                    continue
                used = frozenset(keyed[p][0] for p in range(found[0], found[1] + 1) if keyed[p][1] in keys)
                start, end = tokens[keyed[found[0]][0]][0], tokens[keyed[found[1]][0]][1]
                out.append(Match(number, code, start, end, used, keys))
    return out


@dataclass(frozen=True)
class Stats:
    """An alias's evidence: distinct offers that annotated it, its windows in their clauses, and those
    overlapping a mention that accepts its item."""

    support: int
    windows: int
    right: int

    def columns(self, keys: Keys) -> tuple[float, ...]:
        """Its :data:`COLUMNS` values.

        >>> Stats(3, 4, 3).columns(frozenset({"a", "b"}))
        (1.0, 1.3862943611198906, 0.75, 2.0)
        """
        return (1.0, math.log1p(self.support), self.right / self.windows if self.windows else 0.0,
                float(len(keys)))


@dataclass
class Table:
    """Aliases learned from annotated offers, with each offer's share of the counts kept apart (so that a
    training offer can read the table without itself)."""

    # (keys, item) → the offers whose mentions gave it
    supporters: dict[tuple[Keys, str], set[int]] = field(default_factory=dict)
    # (keys, item) → per offer: its windows in the offer's clauses, and those on an accepting mention
    windows: dict[tuple[Keys, str], Counter[int]] = field(default_factory=dict)
    right: dict[tuple[Keys, str], Counter[int]] = field(default_factory=dict)

    @classmethod
    def learn(cls, offers: Iterable[tuple[int, str, AnnotatedOffer, Sequence[Clause]]]) -> Table:
        """The table of ``offers`` given as (number, text, annotation, clauses): the aliases that at least
        :data:`MIN_SUPPORT` of them annotated, and their windows in all of their clauses.

        >>> from kg.nlp.evaluate import GoldMention
        >>> text = "port de charges"
        >>> clause = (0, 15, [(0, 4, "port"), (5, 7, "de"), (8, 15, "charges")], "profile")
        >>> offer = AnnotatedOffer("x", "", "dev", "", (GoldMention(0, 15, "task", "1", ("2",)),))
        >>> table = Table.learn([(0, text, offer, [clause]), (1, text, offer, [clause])])
        >>> sorted(code for _, code in table.aliases()), table.stats(frozenset({"port", "charg"}), "1")
        (['1', '2'], Stats(support=2, windows=2, right=2))
        >>> table.aliases(without=0)
        []
        """
        given = list(offers)
        table = cls()
        for number, text, offer, _ in given:
            for m in offer.mentions:
                if m.code is None or m.kind == "diploma":
                    continue
                keys = text_key_set(text[m.start : m.end])
                if keys:
                    for code in m.accepted:
                        table.supporters.setdefault((keys, code), set()).add(number)
        table.supporters = {a: s for a, s in table.supporters.items() if len(s) >= MIN_SUPPORT}
        for number, _, offer, clauses in given:
            for m in matches(clauses, table.supporters):
                alias = (m.keys, m.code)
                table.windows.setdefault(alias, Counter())[number] += 1
                if any(g.kind != "diploma" and m.code in g.accepted and g.start < m.end and m.start < g.end
                       for g in offer.mentions):
                    table.right.setdefault(alias, Counter())[number] += 1
        return table

    def stats(self, keys: Keys, code: str, without: int | None = None) -> Stats:
        """The alias's evidence, offer ``without``'s share left out."""
        alias = (keys, code)
        supporters = self.supporters.get(alias, set())
        windows = self.windows.get(alias, Counter())
        right = self.right.get(alias, Counter())
        return Stats(len(supporters - {without}), sum(windows.values()) - windows.get(without, 0),  # type: ignore[arg-type]
                     sum(right.values()) - right.get(without, 0))  # type: ignore[arg-type]

    def aliases(self, without: int | None = None) -> list[tuple[Keys, str]]:
        """The aliases at least :data:`MIN_SUPPORT` offers other than ``without`` annotated."""
        return [a for a, s in self.supporters.items() if len(s - {without}) >= MIN_SUPPORT]  # type: ignore[arg-type]


def new_matches(found: Sequence[Match], spans: Iterable[tuple[int, str, int, int]]) -> list[Match]:
    """The matches whose item no candidate (``spans``: clause, item, start, end) proposes on overlapping
    words of the clause; per (clause, item), the one with the most keys (then the first).

    >>> keys = frozenset({"a"})
    >>> found = [Match(0, "1", 0, 5, frozenset({0}), keys), Match(0, "2", 0, 5, frozenset({0}), keys)]
    >>> [m.code for m in new_matches(found, [(0, "1", 3, 9)])]
    ['2']
    """
    taken: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for clause, code, start, end in spans:
        taken.setdefault((clause, code), []).append((start, end))
    best: dict[tuple[int, str], Match] = {}
    for m in found:
        if any(s < m.end and m.start < e for s, e in taken.get((m.clause, m.code), ())):
            continue
        known = best.get((m.clause, m.code))
        if known is None or len(m.keys) > len(known.keys):
            best[m.clause, m.code] = m
    return list(best.values())


def candidate(
    generator: Generator, clause: Clause, number: int, text: str, predicted: Sequence[tuple[str, float]],
    match: Match,
) -> Candidate | None:
    """The alias match as a second-stage candidate: the features the liberal generator gives a candidate
    (:meth:`kg.nlp.rerank.Generator._features`, the verb and head of the label's structure, the span's
    rapidfuzz ratios) with the liberal score 0 and no competitor, over the item's form that shares the most
    keys with the clause; None when the gazetteer has no such item."""
    entries = generator._by_code.get(match.code)
    if not entries:
        return None
    _, _, tokens, section = clause
    keyed = generator.linker.keyed(tokens)
    positions: dict[str, list[tuple[int, float]]] = {}
    for order, (_, key, factor) in enumerate(keyed):
        positions.setdefault(key, []).append((order, factor))
    strength = _strength(positions)
    entry_number = max(entries, key=lambda n: len(generator.gazetteer.entries[n].keyset & positions.keys()))
    inside = [o for o, (t, _, _) in enumerate(keyed) if t in match.used]
    if not inside:  # (words the gazetteer does not key: its keyed words in the window, if any)
        inside = [o for o, (t, _, _) in enumerate(keyed)
                  if tokens[t][0] >= match.start and tokens[t][1] <= match.end]
    if not inside:  # no word of the window is in the gazetteer's vocabulary: no feature to read
        return None
    top = [code for code, _ in predicted[: generator.fiches]]
    lists = [generator.gazetteer.fiche_items.get(code, frozenset()) for code in top]
    scores = [score for _, score in predicted[: generator.fiches]]
    generator._fiches = {}  # (the generator keeps an item's fiche features per offer)
    values = generator._features(entry_number, 0.0, inside[0], inside[-1], inside, keyed, strength, section,
                                 lists, scores, 0.0, len(positions), False)
    values += generator._core_features(entry_number, strength)
    entry = generator.gazetteer.entries[entry_number]
    features = generator._span_features(values, entry, text[match.start : match.end])
    features += (0.0,) * (len(FEATURES) - len(features))  # the offer's features (item_clauses, …): 0
    return Candidate(number, match.code, match.start, match.end, match.used, features)


def with_aliases(
    offers: Sequence[AnnotatedOffer], texts: Sequence[str], clauses: Sequence[Sequence[Clause]],
    predicted: Sequence[Sequence[tuple[str, float]]], generator: Generator, cands: Sequence[list[Candidate]],
    train: Sequence[int],
) -> tuple[list[list[Candidate]], list[numpy.ndarray], Counter[str]]:
    """Every offer's candidates with its alias candidates appended (the aliases learned from the ``train``
    offers; a training offer reads them without its own share), the :data:`COLUMNS` of each (0 for the
    others), and counts (aliases, alias candidates in and out of ``train``)."""
    inside = set(train)
    table = Table.learn((o, texts[o], offers[o], clauses[o]) for o in train)
    out: list[list[Candidate]] = []
    columns: list[numpy.ndarray] = []
    counts: Counter[str] = Counter(aliases=len(table.aliases()))
    for o, found in enumerate(cands):
        without = o if o in inside else None
        spans = [(c.clause, c.code, c.start, c.end) for c in found]
        extra: list[Candidate] = []
        rows: list[tuple[float, ...]] = []
        for m in new_matches(matches(clauses[o], table.aliases(without)), spans):
            c = candidate(generator, clauses[o][m.clause], m.clause, texts[o], predicted[o], m)
            if c is not None:
                extra.append(c)
                rows.append(table.stats(m.keys, m.code, without).columns(m.keys))
        counts["training" if without is not None else "held out"] += len(extra)
        out.append([*found, *extra])
        block = numpy.zeros((len(found) + len(extra), len(COLUMNS)))
        if rows:
            block[len(found):] = numpy.array(rows)
        columns.append(block)
    return out, columns, counts


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
    global SLACK
    import json
    import time

    from rerank_skills import Links, label, offer_candidates
    from tune_linker import Runner, annotation_parser, cv_folds, offer_texts, shipped_settings

    from kg.nlp.evaluate import PR, annotated_offer, offer_item_pr
    from kg.nlp.rerank import Generator

    parser = annotation_parser(__doc__.splitlines()[0])
    parser.add_argument("--fold-seed", type=int, action="append", default=[], metavar="N",
                        help="the CV's fold seed (repeatable; default 4 and 5)")
    parser.add_argument("--slack", type=int, default=SLACK, metavar="N",
                        help=f"keyed words a window may hold beyond the alias's keys (default {SLACK})")
    args = parser.parse_args()
    SLACK = args.slack
    t0 = time.perf_counter()
    rows = [annotated_offer(json.loads(line)) for line in args.annotation.read_text().splitlines()
            if line.strip()]
    dev = [r for r in rows if r.split == "dev"]
    texts = offer_texts(args.data)
    runner = Runner(args.store, dev, texts)
    generator = Generator(runner.gazetteer, fiches=3, titles=runner.component._titles)
    base = offer_candidates(runner, generator, texts, Links(runner)(shipped_settings(runner.linker)))
    clauses = [runner.component.clauses_of(doc) for doc in runner.docs]
    every = [(o, texts[offer.id][1], offer, clauses[o]) for o, offer in enumerate(dev)]
    print(f"loaded in {time.perf_counter() - t0:.0f} s; {sum(map(len, base))} liberal candidates")
    print("\n| fold seed | ceiling, liberal first stage | ceiling with the aliases | units gained | aliases"
          " per fold (mean) | held-out alias candidates | right at their span | right in the offer |"
          "\n|---|---|---|---|---|---|---|---|")
    for seed in args.fold_seed or [4, 5]:
        _, folds = cv_folds(len(dev), seed)
        before = after = PR(0, 0, 0, 0)
        count = right = anywhere = 0
        tables = 0
        kinds: Counter[str] = Counter()
        for fold in folds:
            table = Table.learn(e for e in every if e[0] not in fold)
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
