"""Groups of copies (kg.nlp.near_copies) and the skill linker's leave-group-out: folds, inner parts and the
learned evidence (item rates, phrase rates, learned aliases) never let an offer read its copy's labels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy
import pytest

from kg.nlp.evaluate import AnnotatedOffer, GoldMention
from kg.nlp.learned_aliases import Table
from kg.nlp.near_copies import NEAR_COPY, copy_groups, grouped_parts
from kg.nlp.phrase_rates import PhraseTable, with_phrase_rates
from kg.nlp.rerank import with_item_rates

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from tune_linker import cv_folds

BODY = ("Vous réaliserez la pose de parpaings, le coulage des dalles et le montage des murs en briques sur "
        "nos chantiers de maisons individuelles. Permis B exigé, expérience de deux ans souhaitée.")


def test_near_copy_threshold_is_the_annotation_rule() -> None:
    from rapidfuzz import fuzz

    edited = BODY.replace("deux ans", "trois ans")
    assert fuzz.ratio(f"Maçon {BODY}", f"Maçon {edited}") >= NEAR_COPY
    other = "Conduite de chariot élévateur en entrepôt logistique, préparation de commandes, inventaires."
    assert copy_groups([("Maçon", BODY), ("Maçon", edited), ("Cariste", other)]) == [0, 0, 2]
    # the exact keys alone do not see the edit in the description's first 300 characters
    assert copy_groups([("Maçon", BODY), ("Maçon", edited)], near=None) == [0, 1]


def test_groups_are_transitive_and_named_by_their_smallest_offer() -> None:
    a = "x" * 40
    b = "x" * 36 + "yyyy"  # ratio(a, b) 90, ratio(b, c) 90, ratio(a, c) 80: one group through b
    c = "x" * 32 + "yyyy" + "zzzz"
    groups = copy_groups([("", "autre chose"), ("", c), ("", b), ("", a)])
    assert groups == [0, 1, 1, 1]


def test_folds_keep_copies_together_and_other_offers_in_place() -> None:
    n = 40
    order, plain = cv_folds(n, 4)
    groups = list(range(n))
    groups[order[1]] = groups[order[7]] = groups[order[30]] = order[1]  # three copies of one ad
    grouped_order, grouped = cv_folds(n, 4, groups)
    assert grouped_order == order
    fold_of = {o: k for k, fold in enumerate(grouped) for o in fold}
    assert fold_of[order[1]] == fold_of[order[7]] == fold_of[order[30]]
    plain_of = {o: k for k, fold in enumerate(plain) for o in fold}
    moved = {o for o in range(n) if fold_of[o] != plain_of[o]}
    assert moved == {order[7], order[30]}
    assert sorted(o for fold in grouped for o in fold) == list(range(n))


def test_inner_parts_keep_copies_together() -> None:
    # 3 and 0 one ad, 1 and 5 another: each follows its first member's part of the plain stride
    assert grouped_parts([3, 0, 1, 2, 4, 5], 3, groups=[0, 1, 2, 0, 4, 1]) == [[3, 0, 2], [4], [1, 5]]
    assert grouped_parts([3, 0, 1, 2, 4, 5], 3) == [[3, 2], [0, 4], [1, 5]]


def _rates_of(labels: list[float], groups: list[int] | None) -> list[list[float]]:
    X = [numpy.zeros((1, 0))] * len(labels)
    y = [numpy.array([v]) for v in labels]
    rows = with_item_rates(X, [["A"]] * len(labels), y, list(range(len(labels))), 0.0, groups)
    return [r[0].tolist() for r in rows]


def test_item_rates_do_not_read_the_copy_s_labels() -> None:
    # offers 0 and 1 one ad; 2 and 3 others: 0's rates must not move with its copy's label
    groups = [0, 0, 2, 3]
    assert _rates_of([1.0, 1.0, 0.0, 1.0], groups)[0] == _rates_of([1.0, 0.0, 0.0, 1.0], groups)[0]
    # ungrouped (the default), the copy's label is read
    assert _rates_of([1.0, 1.0, 0.0, 1.0], None)[0] != _rates_of([1.0, 0.0, 0.0, 1.0], None)[0]


def _phrase_rows(labels: list[float], groups: list[int] | None, min_offers: int = 1) -> list[list[float]]:
    n = len(labels)
    X = [numpy.zeros((1, 0))] * n
    y = [numpy.array([v]) for v in labels]
    rows = with_phrase_rates(X, [["A"]] * n, [["p"]] * n, [[0]] * n, y, [numpy.array([0.5])] * n,
                             list(range(n)), smoothing=0.0, min_offers=min_offers, groups=groups)
    return [r[0].tolist() for r in rows]


def test_phrase_rates_do_not_read_the_copy_s_labels_and_count_groups() -> None:
    groups = [0, 0, 2, 3]
    assert _phrase_rows([1.0, 1.0, 0.0, 1.0], groups)[0] == _phrase_rows([1.0, 0.0, 0.0, 1.0], groups)[0]
    # support by group: offer 2 sees the ad (0 and 1) and offer 3, two groups, not three offers
    assert _phrase_rows([1.0, 1.0, 0.0, 1.0], groups, min_offers=3)[2][1] == 0.0
    assert _phrase_rows([1.0, 1.0, 0.0, 1.0], None, min_offers=3)[2][1] > 0.0
    y = [numpy.array([1.0])] * 3
    table = PhraseTable.learn([["A"]] * 3, [["p"]] * 3, [[0]] * 3, y, [0, 1, 2], min_offers=3,
                              groups=[0, 0, 2])
    assert table.pairs == ()


def test_learned_aliases_count_groups_and_leave_the_group_out() -> None:
    text = "port de charges"
    clause = (0, 15, [(0, 4, "port"), (5, 7, "de"), (8, 15, "charges")], "profile")
    offer = AnnotatedOffer("x", "", "dev", "", (GoldMention(0, 15, "task", "1"),))
    given = [(o, text, offer, [clause]) for o in range(3)]
    groups = [0, 0, 2]
    table = Table.learn(given, groups=groups)
    (alias,) = table.aliases()
    assert table.stats(*alias).support == 2  # two groups, not three offers
    assert table.aliases(without=groups[1]) == []  # offer 1 without its group: one supporter left
    assert Table.learn(given).aliases(without=1) != []  # ungrouped: offers 0 and 2 remain


@pytest.mark.parametrize("seed", [4, 5])
def test_every_offer_in_one_fold(seed: int) -> None:
    groups = [o // 2 * 2 for o in range(20)]  # pairs of copies
    _, folds = cv_folds(20, seed, groups)
    for fold in folds:
        assert {groups[o] for o in fold}.isdisjoint({groups[o] for f in folds if f is not fold for o in f})
