"""The numpy tree evaluator (kg/nlp/forest.py) against a plain recursive walk, on random trees and rows (the
comparison with LightGBM itself is in tests/test_skill_trees.py, skipped without LightGBM)."""

from __future__ import annotations

import json

import numpy

from kg.nlp.forest import Forest


def _tree(rng: numpy.random.Generator, columns: int, depth: int) -> tuple[list[int], list[float], list[int],
                                                                           list[int], list[float]]:
    """A random unbalanced tree in Forest's flat layout (a leaf: its own children, threshold +inf)."""
    f: list[int] = []
    th: list[float] = []
    lf: list[int] = []
    r: list[int] = []
    v: list[float] = []

    def grow(left: int) -> int:
        at = len(f)
        f.append(0)
        th.append(numpy.inf)
        lf.append(at)
        r.append(at)
        v.append(float(rng.normal()))
        if left and rng.random() < 0.7:
            f[at] = int(rng.integers(columns))
            th[at] = float(rng.choice([0.0, 0.5, 1.0])) if rng.random() < 0.3 else float(rng.random())
            lf[at] = grow(left - 1)
            r[at] = grow(left - 1)
        return at

    grow(depth)
    return f, th, lf, r, v


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
        forest = Forest(*(tuple(tuple(t[part]) for t in trees) for part in range(5)))  # type: ignore[arg-type]
        X = rng.random((200, 4))
        X[:30] = rng.choice([0.0, 0.5, 1.0], size=(30, 4))  # rows on the split values (ties go left)
        expected = [_walk(forest, row) for row in X]
        assert numpy.allclose(forest.raw(X), expected, rtol=0, atol=1e-12)
        assert forest.raw(X).max() <= forest.most() + 1e-12
        again = Forest.from_json(json.loads(json.dumps(forest.to_json())))
        assert again == forest and numpy.array_equal(again.raw(X), forest.raw(X))
    assert forest.raw(numpy.zeros((0, 4))).shape == (0,)
