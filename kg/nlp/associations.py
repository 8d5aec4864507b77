"""Word ↔ ROME item associations learned from the recruiter-chosen ``competences`` of real offers
(distant supervision for the skill linker, issue #4).

A France Travail offer carries the items its recruiter ticked in its fiche (``competences``). These are
not a gold standard of what the text states (recruiters tick items the text never names), but an offer
whose text holds a word and whose recruiter ticked an item more often than the other offers of fiches
listing that item is a clue that the word may be a paraphrase of it ("port de charges" ↔ *Lever des
charges*). For each (word key, item) the *lift* is the share of the offers writing the word that ticked
the item, over the share of all offers that ticked it, both counted among the offers whose declared
fiche lists the item (the item was on offer to the recruiter); ``support`` is how many offers both
wrote the word and ticked the item.

>>> offers = [({"port", "charg"}, {"1"}, {"1", "2"}), ({"port"}, {"1"}, {"1", "2"}),
...           ({"vent"}, {"2"}, {"1", "2"}), ({"vent", "charg"}, set(), {"1", "2"})]
>>> table = learn(offers, min_support=2)
>>> table["port"]
(('1', 2.0, 2),)
>>> "charg" in table  # ticked once with it, once without: no clue at support 2
False

The linker reads the table (:class:`kg.nlp.linker.Linker` ``associations``) only for the items of the
offer's predicted fiche and only when CV chooses a lift threshold; what was measured is in
``docs/guides/skill-linking-associations.md``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable

from kg.nlp.text import word_key, words

# key → ((item code, lift, support), …), the highest lift first
Table = dict[str, tuple[tuple[str, float, int], ...]]


def text_keys(text: str) -> set[str]:
    """The distinct lemma keys of a text's content words.

    >>> sorted(text_keys("Port de charges lourdes, port de gants"))
    ['charg', 'gant', 'lourd', 'port']
    """
    return {k for _, _, w in words(text) if (k := word_key(w)) is not None}


def learn(
    offers: Iterable[tuple[Collection[str], Collection[str], Collection[str]]], min_support: int = 2
) -> Table:
    """The associations of ``offers`` given as (the text's keys, the ticked item codes, the item codes of
    the declared fiche — the items the recruiter could tick). Ticked codes outside the fiche count
    as available for that offer."""
    rows = [(set(keys), set(ticked), set(candidates) | set(ticked)) for keys, ticked, candidates in offers]
    together: Counter[tuple[str, str]] = Counter()
    available: Counter[str] = Counter()
    chosen: Counter[str] = Counter()
    for keys, ticked, candidates in rows:
        available.update(candidates)
        chosen.update(ticked)
        together.update((k, c) for k in keys for c in ticked)
    pairs = {pair for pair, n in together.items() if n >= min_support}
    by_key: dict[str, set[str]] = defaultdict(set)
    for k, c in pairs:
        by_key[k].add(c)
    seen: Counter[tuple[str, str]] = Counter()  # offers writing the key where the item was available
    for keys, _, candidates in rows:
        for k in keys & by_key.keys():
            seen.update((k, c) for c in by_key[k] & candidates)
    table: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for k, c in pairs:
        lift = (together[k, c] / seen[k, c]) / (chosen[c] / available[c])
        table[k].append((c, round(lift, 6), together[k, c]))
    return {k: tuple(sorted(v, key=lambda t: (-t[1], t[0]))) for k, v in sorted(table.items())}
