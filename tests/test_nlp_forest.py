"""The numpy tree evaluator (kg/nlp/forest.py) against a plain recursive walk, on random trees and rows (the
comparison with LightGBM itself is in tests/test_skill_trees.py, skipped without LightGBM)."""

from __future__ import annotations

import json

import numpy

from kg.nlp.forest import Forest
from tests.forest_support import Tree, forest_of, random_tree


def _tree(rng: numpy.random.Generator, columns: int, depth: int) -> Tree:
    """Leaf values around 0; some thresholds on 0, 0.5 or 1 (the rows' tie values)."""
    return random_tree(rng, columns, depth, 0.7, (0.0, 1.0), lambda g: float(g.choice([0.0, 0.5, 1.0]))
                       if g.random() < 0.3 else float(g.random()))


def _walk(forest: Forest, row: numpy.ndarray) -> float:
    total = 0.0
    for feature, threshold, left, right, value in zip(forest.feature, forest.threshold, forest.left,
                                                      forest.right, forest.value, strict=True):
        node = 0
        while left[node] != node:
            node = left[node] if row[feature[node]] <= threshold[node] else right[node]
        total += value[node]
    return total


def test_the_forest_sums_the_leaves_a_plain_walk_reaches() -> None:
    rng = numpy.random.default_rng(3)
    for count, depth in ((1, 0), (5, 2), (40, 6)):
        trees = [_tree(rng, 4, depth) for _ in range(count)]
        forest = forest_of(trees)
        X = rng.random((200, 4))
        X[:30] = rng.choice([0.0, 0.5, 1.0], size=(30, 4))  # rows on the split values (ties go left)
        expected = [_walk(forest, row) for row in X]
        assert numpy.allclose(forest.raw(X), expected, rtol=0, atol=1e-12)
        assert forest.raw(X).max() <= forest.most() + 1e-12
        again = Forest.from_json(json.loads(json.dumps(forest.to_json())))
        assert again == forest and numpy.array_equal(again.raw(X), forest.raw(X))
    assert forest.raw(numpy.zeros((0, 4))).shape == (0,)


def test_the_sums_are_those_of_the_leaves_in_the_stored_order_to_the_last_bit() -> None:
    """Raw sums, per row, each tree's leaf (a plain walk) in the trees' stored order, as numpy sums a row:
    bit for bit, whichever pairs the walk sets aside on the way (trees deeper than several set-asides, rows
    on the split values, one row and many)."""
    rng = numpy.random.default_rng(8)
    for count, depth in ((1, 0), (3, 1), (30, 5), (60, 13)):
        forest = forest_of([_tree(rng, 4, depth) for _ in range(count)])
        for rows in (1, 2, 45):
            X = rng.random((rows, 4))
            X[: rows // 2] = rng.choice([0.0, 0.5, 1.0], size=(rows // 2, 4))
            leaves = numpy.array([[_walk(forest_of([_single(forest, t)]), row) for t in range(count)]
                                  for row in X])
            assert numpy.array_equal(forest.raw(X), leaves.sum(axis=1)), (count, depth, rows)


def _single(forest: Forest, t: int) -> Tree:
    """Tree ``t`` of ``forest`` in :func:`forest_of`'s layout."""
    return (list(forest.feature[t]), list(forest.threshold[t]), list(forest.left[t]), list(forest.right[t]),
            list(forest.value[t]))
