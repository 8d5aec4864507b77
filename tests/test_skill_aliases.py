"""The aliases learned from annotated mentions (benchmarks/skill_aliases.py) on hand-made offers (no real
data): what is learned, where it matches, what a training offer reads without itself, the candidates."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

# (appended: first, benchmarks/graphql.py would shadow the graphql package for the modules collected after)
sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))

from skill_aliases import (
    COLUMNS,
    MIN_SUPPORT,
    Table,
    matches,
    new_matches,
    with_aliases,
    with_shipped_aliases,
)

from kg.nlp.evaluate import AnnotatedOffer, GoldMention
from kg.nlp.gazetteer import Gazetteer
from kg.nlp.learned_aliases import window
from kg.nlp.linker import words
from kg.nlp.rerank import FEATURES, Candidate, Generator

TEXT = "Port de charges lourdes. Accueil client"
# the offer's two clauses, as SkillLinker.clauses_of gives them
CLAUSES = [(0, 24, words(TEXT[:24]), "profile"),
           (25, 39, [(s + 25, e + 25, w) for s, e, w in words(TEXT[25:])], "missions")]


def offer(number: int, *mentions: GoldMention) -> AnnotatedOffer:
    return AnnotatedOffer(f"o{number}", "f.jsonl", "dev", "", mentions)


CARRY = GoldMention(0, 23, "task", "1", ("2",))  # "Port de charges lourdes" → item 1, alternative 2


def given(*offers: AnnotatedOffer) -> list[tuple[int, str, AnnotatedOffer, list]]:
    return [(n, TEXT, o, CLAUSES) for n, o in enumerate(offers)]


def test_support_counts_distinct_offers() -> None:
    # the same phrase annotated twice in one offer is one offer's support: not learned
    once = Table.learn(given(offer(0, CARRY, CARRY), offer(1)))
    assert once.aliases() == []
    twice = Table.learn(given(offer(0, CARRY), offer(1, CARRY), offer(2)))
    keys = frozenset({"port", "charg", "lourd"})
    assert sorted(twice.aliases()) == [(keys, "1"), (keys, "2")]
    # every offer's clause holds it; the third offer's is not annotated
    stats = twice.stats(keys, "1")
    assert (stats.support, stats.windows, stats.right) == (2, 3, 2)
    # an offer reads the table without its own share: under MIN_SUPPORT without itself
    assert twice.aliases(without=0) == [] and len(twice.aliases(without=2)) == 2
    assert twice.stats(keys, "1", without=2) == type(stats)(2, 2, 2)
    assert MIN_SUPPORT == 2


def test_a_stricter_support() -> None:
    """min_support 3 (the variant "phrase rates + aliases (support >= 3)"): an alias two offers annotated is
    dropped, one three did is kept, and an offer reads it only when three others annotated it."""
    keys = frozenset({"port", "charg", "lourd"})
    two = given(offer(0, CARRY), offer(1, CARRY), offer(2))
    assert Table.learn(two, min_support=3).aliases() == []
    four = given(offer(0, CARRY), offer(1, CARRY), offer(2, CARRY), offer(3, CARRY), offer(4))
    table = Table.learn(four, min_support=3)
    assert sorted(table.aliases()) == [(keys, "1"), (keys, "2")]
    assert table.stats(keys, "1").support == 4 and len(table.aliases(without=0)) == 2
    assert Table.learn(four[1:], min_support=3).aliases(without=1) == []
    assert [e[2] for e in table.shipped().entries] == [4, 4]
    # the default is MIN_SUPPORT; under it, refused (the model file's data policy)
    assert Table.learn(two).aliases() == Table.learn(two, min_support=MIN_SUPPORT).aliases() != []
    with pytest.raises(ValueError):
        Table.learn(two, min_support=1)


def test_with_aliases_reads_the_support_it_is_given() -> None:
    gazetteer = Gazetteer.from_rows([("1", "Manutention de charges", "savoir-faire")])
    generator = Generator(gazetteer, fiches=3)
    offers = [offer(0, CARRY), offer(1, CARRY), offer(2, CARRY), offer(3)]
    texts, clauses, predicted = [TEXT] * 4, [CLAUSES] * 4, [[("F", 1.0)]] * 4
    cands: list[list[Candidate]] = [[] for _ in offers]
    _, _, loose = with_aliases(offers, texts, clauses, predicted, generator, cands, train=[0, 1, 2])
    out, _, strict = with_aliases(offers, texts, clauses, predicted, generator, cands, [0, 1, 2], 3)
    # (item 2 is not in the gazetteer: no candidate) three supporters: the held-out offer reads the alias;
    # a training offer has two others, under 3
    assert loose["held out"] == strict["held out"] == 1 and loose["training"] == 3
    assert strict["training"] == 0 and [len(found) for found in out] == [0, 0, 0, 1]


def test_diplomas_and_null_mentions_give_no_alias() -> None:
    diploma = GoldMention(0, 23, "diploma", "1")
    null = GoldMention(0, 23, "task", None, ("1",))
    assert Table.learn(given(offer(0, diploma, null), offer(1, diploma, null))).aliases() == []


def test_window_is_compact() -> None:
    keyed = [(0, "port"), (1, "a"), (2, "b"), (3, "c"), (4, "charg")]
    assert window(keyed, frozenset({"port", "charg"}), 3) == (0, 4)
    assert window(keyed, frozenset({"port", "charg"}), 2) is None
    # a key missing: no window
    assert window(keyed, frozenset({"port", "vent"}), 9) is None


def test_matches_and_the_first_stage_first() -> None:
    keys = frozenset({"port", "charg"})
    found = matches(CLAUSES, [(keys, "1"), (frozenset({"accueil"}), "3")])
    assert [(m.clause, m.code, TEXT[m.start : m.end]) for m in found] == [
        (0, "1", "Port de charges"), (1, "3", "Accueil")]
    # the first stage proposed item 1 on overlapping words: only the other match is new
    assert [m.code for m in new_matches(found, [(0, "1", 8, 15)])] == ["3"]
    # ... on other words of the clause, or another item there: both are
    assert len(new_matches(found, [(0, "1", 16, 23), (0, "2", 0, 4)])) == 2


def test_with_aliases_learns_from_training_offers_only() -> None:
    gazetteer = Gazetteer.from_rows([("1", "Manutention de charges", "savoir-faire"),
                                     ("2", "Port de charges", "savoir-faire"),
                                     ("3", "Accueil", "savoir-faire")])
    generator = Generator(gazetteer, fiches=3)
    offers = [offer(0, CARRY), offer(1, CARRY), offer(2, CARRY), offer(3)]
    texts = [TEXT] * 4
    clauses = [CLAUSES] * 4
    predicted = [[("F", 1.0)]] * 4
    # the first stage proposed item 2 on the words in every offer
    first = Candidate(0, "2", 0, 15, frozenset({0, 2}), (0.0,) * len(FEATURES))
    cands = [[first] for _ in offers]
    out, columns, counts = with_aliases(offers, texts, clauses, predicted, generator, cands, train=[0, 1, 2])
    # each offer gets a candidate of item 1 (not of item 2, already proposed there); the training offers
    # read the support of the two others
    assert [[c.code for c in found] for found in out] == [["2", "1"]] * 4
    assert counts["training"] == 3 and counts["held out"] == 1 and counts["aliases"] == 2
    alias = out[3][1]
    assert (alias.clause, TEXT[alias.start : alias.end]) == (0, "Port de charges lourdes")
    assert len(alias.features) == len(FEATURES) and alias.features[FEATURES.index("score")] == 0.0
    assert alias.features[FEATURES.index("kind_savoir-faire")] == 1.0
    # the columns: 0 for the first stage's candidate; flag, log(1 + support), precision, keys for the alias
    assert columns[0][0].tolist() == [0.0] * len(COLUMNS)
    held, trained = columns[3][1].round(3).tolist(), columns[0][1].round(3).tolist()
    assert held == [1.0, 1.386, 1.0, 3.0] and trained == [1.0, 1.099, 1.0, 3.0]
    # trained on two offers only: a training offer has one other supporter, under MIN_SUPPORT
    out, _, counts = with_aliases(offers, texts, clauses, predicted, generator, cands, train=[0, 1])
    assert counts["training"] == 0 and counts["held out"] == 2
    assert [len(found) for found in out] == [1, 1, 2, 2]


def test_a_models_table_gives_a_test_offer_the_candidates_a_held_out_fold_reads() -> None:
    """rerank_skills.py --test: the model file's table (learned on the training offers) proposes on a new
    offer the alias candidates and columns that with_aliases gives a held-out offer."""
    gazetteer = Gazetteer.from_rows([("1", "Manutention de charges", "savoir-faire"),
                                     ("2", "Port de charges", "savoir-faire")])
    generator = Generator(gazetteer, fiches=3)
    offers = [offer(0, CARRY), offer(1, CARRY), offer(2, CARRY), offer(3)]
    texts, clauses, predicted = [TEXT] * 4, [CLAUSES] * 4, [[("F", 1.0)]] * 4
    first = Candidate(0, "2", 0, 15, frozenset({0, 2}), (0.0,) * len(FEATURES))
    cands = [[first] for _ in offers]
    held, columns, _ = with_aliases(offers, texts, clauses, predicted, generator, cands, train=[0, 1, 2])
    shipped = Table.learn((o, TEXT, offers[o], CLAUSES) for o in (0, 1, 2)).shipped()
    (found,) = with_shipped_aliases(shipped, texts[3:], clauses[3:], predicted[3:], generator, cands[3:])
    assert [replace(c, alias=()) for c in found] == held[3] and len(found) == 2
    assert [list(c.alias) if c.alias else [0.0] * len(COLUMNS) for c in found] == columns[3].tolist()
