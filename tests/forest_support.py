"""Random tree ensembles in :class:`kg.nlp.forest.Forest`'s flat layout, for the tests of the evaluator
(tests/test_nlp_forest.py) and of the cascade's bound (tests/test_nlp_rerank.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy

from kg.nlp.forest import Forest

Tree = tuple[list[int], list[float], list[int], list[int], list[float]]


def random_tree(
    rng: numpy.random.Generator, columns: int, depth: int, split: float, value: tuple[float, float],
    threshold: Callable[[numpy.random.Generator], float],
) -> Tree:
    """An unbalanced tree of at most ``depth`` splits: each node a split with probability ``split`` (on a
    random column, at ``threshold(rng)``), its leaf value drawn from a normal (loc, scale) = ``value``; a
    leaf is its own children, threshold +inf."""
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
        v.append(float(rng.normal(loc=value[0], scale=value[1])))
        if left and rng.random() < split:
            f[at] = int(rng.integers(columns))
            th[at] = threshold(rng)
            lf[at] = grow(left - 1)
            r[at] = grow(left - 1)
        return at

    grow(depth)
    return f, th, lf, r, v


def forest_of(trees: list[Tree]) -> Forest:
    """The trees as one :class:`Forest`."""
    return Forest(*(tuple(tuple(t[part]) for t in trees) for part in range(5)))  # type: ignore[arg-type]
