"""Aliases learned from the annotation's own mentions: second-stage candidates for requirements worded as
no ROME label is (issue #4, sessions 14-15; docs/guides/skill-learned-aliases.md,
docs/guides/skill-learned-aliases-shipping.md, docs/guides/skill-aliases-monotone.md).

Recruiters repeat their phrasings. Each annotated mention of a training offer that names an item (a code,
not a diploma) gives the lemma key set of its text (:func:`kg.nlp.text.word_key`, stop words out) → each
item it accepts (the code and its alternatives). On another offer, a clause whose keyed words hold all the
keys of such an *alias* within a window of at most ``keys + SLACK`` keyed words yields a candidate for its
item (:func:`matches`), unless the liberal first stage already proposed that item on overlapping words
(:func:`new_matches`). Only aliases that at least :data:`MIN_SUPPORT` distinct training offers annotated
are kept (``Table.learn``'s ``min_support``: that many or more). Their features (:data:`COLUMNS`,
:meth:`Stats.columns`): the flag, log(1 + support), the alias's precision in the training clauses (its
windows overlapping a mention that accepts the item ÷ all its windows there) and its number of keys; every
other candidate reads 0 in them.

:class:`Table` learns them (``benchmarks/skill_aliases.py``, ``benchmarks/rerank_skills.py``: a training
offer reads the table without its own share); :class:`Shipped` is what the model file keeps — per alias its
sorted lemma keys, item and counts, no text and no offsets (:meth:`Shipped.to_json`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from kg.nlp.linker import Token
from kg.nlp.text import word_key

if TYPE_CHECKING:
    from kg.nlp.evaluate import AnnotatedOffer

MIN_SUPPORT = 2  # distinct training offers (generalisation, and the data policy of the model file)
SLACK = 2  # a window may hold this many keyed words more than the alias's keys
COLUMNS = ("learned_alias", "alias_support", "alias_precision", "alias_keys")
Keys = frozenset[str]
Clause = tuple[int, int, list[Token], str]
Alias = tuple[Keys, str]  # its keys and item
# the aliases under their first key (the order of min): what matches looks a clause's keys up in
Index = Mapping[str, Sequence[Alias]]


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


def index(aliases: Iterable[Alias]) -> dict[str, list[Alias]]:
    """The aliases under their first key (what :func:`matches` reads; build it once for many offers).

    >>> list(index([(frozenset({"b", "a"}), "1")]))
    ['a']
    """
    out: dict[str, list[Alias]] = {}
    for keys, code in aliases:
        out.setdefault(min(keys), []).append((keys, code))
    return out


def matches(clauses: Sequence[Clause], aliases: Iterable[Alias], by_key: Index | None = None) -> list[Match]:
    """Every (clause, alias) whose keys the clause holds in a window (:func:`window`), one per clause, alias
    keys and item; ``by_key``: ``aliases`` already :func:`index`-ed (then ``aliases`` is not read).

    >>> clause = (0, 22, [(0, 4, "port"), (5, 7, "de"), (8, 15, "charges")], "profile")
    >>> [(m.code, m.start, m.end) for m in matches([clause], [(frozenset({"port", "charg"}), "1")])]
    [('1', 0, 15)]
    """
    if by_key is None:
        by_key = index(aliases)
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


# One alias of the model file: its sorted lemma keys, item, support, windows and right windows
Entry = tuple[tuple[str, ...], str, int, int, int]


@dataclass(frozen=True)
class Shipped:
    """The aliases a model reads (all its training offers' table, :meth:`Table.shipped`): counts only.

    >>> table = Shipped(((("charg", "port"), "1", 2, 3, 2),))
    >>> [m.code for m in table.matches([(0, 15, [(0, 4, "port"), (5, 15, "charges")], "profile")])]
    ['1']
    >>> table.columns(table.matches([(0, 15, [(0, 4, "port"), (5, 15, "charges")], "profile")])[0])
    ... # doctest: +ELLIPSIS
    (1.0, 1.098..., 0.666..., 2.0)
    >>> Shipped.from_json(table.to_json()) == table
    True
    """

    entries: tuple[Entry, ...] = ()

    @cached_property
    def _stats(self) -> dict[Alias, Stats]:
        return {(frozenset(keys), code): Stats(support, windows, right)
                for keys, code, support, windows, right in self.entries}

    @cached_property
    def _index(self) -> dict[str, list[Alias]]:
        return index(self._stats)

    def matches(self, clauses: Sequence[Clause]) -> list[Match]:
        """:func:`matches` of the table's aliases."""
        return matches(clauses, (), self._index) if self.entries else []

    def columns(self, match: Match) -> tuple[float, ...]:
        """The :data:`COLUMNS` of a match of the table."""
        return self._stats[match.keys, match.code].columns(match.keys)

    def to_json(self) -> list[list[object]]:
        return [[list(keys), code, support, windows, right] for keys, code, support, windows, right
                in self.entries]

    @classmethod
    def from_json(cls, rows: Iterable[Sequence[object]]) -> Shipped:
        return cls(tuple((tuple(str(k) for k in keys), str(code), int(support), int(windows), int(right))  # type: ignore[call-overload, attr-defined]
                         for keys, code, support, windows, right in rows))


@dataclass
class Table:
    """Aliases learned from annotated offers, with each offer's share of the counts kept apart (so that a
    training offer can read the table without itself)."""

    # (keys, item) → the offers whose mentions gave it
    supporters: dict[Alias, set[int]] = field(default_factory=dict)
    # (keys, item) → per offer: its windows in the offer's clauses, and those on an accepting mention
    windows: dict[Alias, Counter[int]] = field(default_factory=dict)
    right: dict[Alias, Counter[int]] = field(default_factory=dict)
    # the distinct offers an alias needs (an offer reading the table without itself: other than it)
    min_support: int = MIN_SUPPORT

    @classmethod
    def learn(cls, offers: Iterable[tuple[int, str, AnnotatedOffer, Sequence[Clause]]],
              min_support: int = MIN_SUPPORT, groups: Sequence[int] | None = None) -> Table:
        """The table of ``offers`` given as (number, text, annotation, clauses): the aliases that at least
        ``min_support`` (:data:`MIN_SUPPORT`, never under it: the model file's data policy) of them
        annotated, and their windows in all of their clauses. With ``groups`` (each number's group of
        copies, :func:`kg.nlp.near_copies.copy_groups`; None: each offer its own) the counts are kept by
        group: support counts distinct groups (an ad and its repost are one offer's evidence), and
        :meth:`stats` / :meth:`aliases` ``without`` name a group.

        >>> from kg.nlp.evaluate import AnnotatedOffer, GoldMention
        >>> text = "port de charges"
        >>> clause = (0, 15, [(0, 4, "port"), (5, 7, "de"), (8, 15, "charges")], "profile")
        >>> offer = AnnotatedOffer("x", "", "dev", "", (GoldMention(0, 15, "task", "1", ("2",)),))
        >>> table = Table.learn([(0, text, offer, [clause]), (1, text, offer, [clause])])
        >>> sorted(code for _, code in table.aliases()), table.stats(frozenset({"port", "charg"}), "1")
        (['1', '2'], Stats(support=2, windows=2, right=2))
        >>> table.aliases(without=0)
        []
        >>> table.shipped().entries
        ((('charg', 'port'), '1', 2, 2, 2), (('charg', 'port'), '2', 2, 2, 2))
        >>> Table.learn([(0, text, offer, [clause]), (1, text, offer, [clause])], min_support=3).aliases()
        []
        >>> Table.learn([(0, text, offer, [clause]), (1, text, offer, [clause])], groups=[0, 0]).aliases()
        []
        """
        # (stricter only: the model file keeps no alias fewer than MIN_SUPPORT offers gave)
        if min_support < MIN_SUPPORT:
            raise ValueError(f"min_support {min_support} < MIN_SUPPORT {MIN_SUPPORT}")
        given = [(number if groups is None else groups[number], text, offer, clauses)
                 for number, text, offer, clauses in offers]
        table = cls(min_support=min_support)
        for number, text, offer, _ in given:
            for m in offer.mentions:
                if m.code is None or m.kind == "diploma":
                    continue
                keys = text_key_set(text[m.start : m.end])
                if keys:
                    for code in m.accepted:
                        table.supporters.setdefault((keys, code), set()).add(number)
        table.supporters = {a: s for a, s in table.supporters.items() if len(s) >= min_support}
        for number, _, offer, clauses in given:
            for found in matches(clauses, table.supporters):
                alias = (found.keys, found.code)
                table.windows.setdefault(alias, Counter())[number] += 1
                if any(g.kind != "diploma" and found.code in g.accepted and g.start < found.end
                       and found.start < g.end for g in offer.mentions):
                    table.right.setdefault(alias, Counter())[number] += 1
        return table

    def stats(self, keys: Keys, code: str, without: int | None = None) -> Stats:
        """The alias's evidence, offer (or group) ``without``'s share left out."""
        alias = (keys, code)
        supporters = self.supporters.get(alias, set())
        windows = self.windows.get(alias, Counter())
        right = self.right.get(alias, Counter())
        return Stats(len(supporters - {without}), sum(windows.values()) - windows.get(without, 0),  # type: ignore[arg-type]
                     sum(right.values()) - right.get(without, 0))  # type: ignore[arg-type]

    def aliases(self, without: int | None = None) -> list[Alias]:
        """The aliases at least :attr:`min_support` offers (or groups) other than ``without`` annotated."""
        return [a for a, s in self.supporters.items() if len(s - {without}) >= self.min_support]

    def shipped(self) -> Shipped:
        """The table as the model file keeps it (every alias at least :attr:`min_support` offers annotated,
        sorted by keys and item): lemma keys and counts only."""
        out = []
        for keys, code in self.aliases():
            s = self.stats(keys, code)
            out.append((tuple(sorted(keys)), code, s.support, s.windows, s.right))
        return Shipped(tuple(sorted(out)))
