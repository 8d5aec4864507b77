"""A small numpy evaluator of a gradient-boosted tree ensemble (LightGBM's, exported to JSON): the trees of
the skill linker's second stage (:class:`kg.nlp.rerank.Model`, ``trees``), evaluated without LightGBM at
run time (LightGBM fits them, in ``benchmarks/skill_trees.py`` only: a dev dependency).

Every tree is stored flat: per node, the feature it splits on, the threshold (a row goes left when its
value is ``<=`` it), the left and right children; a leaf is a node whose children are itself, with a
threshold of +inf, and its value. All trees are padded to the same node count and walked together, one
level per step, for all rows at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy


@dataclass(frozen=True)
class Forest:
    """Trees as nested tuples per tree: ``feature``, ``threshold``, ``left``, ``right``, ``value`` (one
    entry per node, the root first). ``raw`` sums the leaves' values (log-odds).

    >>> stump = Forest(((0, 0, 0),), ((0.5, numpy.inf, numpy.inf),), ((1, 1, 2),), ((2, 1, 2),),
    ...                ((0.0, -1.0, 2.0),))
    >>> stump.raw(numpy.array([[0.2], [0.5], [0.9]])).tolist()
    [-1.0, -1.0, 2.0]
    >>> stump.most()
    2.0
    """

    feature: tuple[tuple[int, ...], ...]
    threshold: tuple[tuple[float, ...], ...]
    left: tuple[tuple[int, ...], ...]
    right: tuple[tuple[int, ...], ...]
    value: tuple[tuple[float, ...], ...]

    @cached_property
    def _arrays(self) -> tuple[numpy.ndarray, ...]:
        """The trees padded to one node count (a padding node is a leaf of value 0, never reached), deepest
        tree first, with every node's index offset by its tree's place, so one flat take walks all trees;
        each node's two children side by side (left at ``2 * node``, right at ``2 * node + 1``: a leaf's
        are itself); per step of the walk, how many trees (a prefix) still have a split to take.

        (Perf only: the shallower trees stop walking once they reach their leaves — on the shipped 400 trees
        8.1 steps each on average instead of the deepest's 14 — and one take finds the next node.)"""
        depths = [self._depth(t) for t in range(len(self.feature))]
        order = sorted(range(len(depths)), key=lambda t: -depths[t])
        width = max((len(f) for f in self.feature), default=1)
        count = len(self.feature)
        feature = numpy.zeros((count, width), dtype=numpy.int64)
        threshold = numpy.full((count, width), numpy.inf)
        left = numpy.tile(numpy.arange(width), (count, 1))
        right = left.copy()
        value = numpy.zeros((count, width))
        for place, t in enumerate(order):
            n = len(self.feature[t])
            feature[place, :n] = self.feature[t]
            threshold[place, :n] = self.threshold[t]
            left[place, :n] = self.left[t]
            right[place, :n] = self.right[t]
            value[place, :n] = self.value[t]
        offset = (numpy.arange(count) * width)[:, None]
        children = numpy.stack([(left + offset).ravel(), (right + offset).ravel()], axis=1).ravel()
        walking = numpy.array([sum(d > step for d in depths) for step in range(max(depths, default=0))],
                              dtype=numpy.int64)
        # the trees' places back in the stored order: the leaves are summed in that order, so the sums are
        # those of the walk before the reordering, to the last bit
        stored = numpy.argsort(numpy.array(order, dtype=numpy.int64))
        return feature.ravel(), threshold.ravel(), children, value.ravel(), offset.ravel(), walking, stored

    def _depth(self, tree: int) -> int:
        """The most splits on a path from tree ``tree``'s root to a leaf."""
        left, right = self.left[tree], self.right[tree]
        deepest = 0
        stack = [(0, 0)]
        while stack:
            node, depth = stack.pop()
            if left[node] == node:
                deepest = max(deepest, depth)
            else:
                stack += [(left[node], depth + 1), (right[node], depth + 1)]
        return deepest

    def raw(self, X: numpy.ndarray) -> numpy.ndarray:
        """The sum of the trees' leaf values for each row of ``X`` (columns: the features split on)."""
        if not self.feature or not len(X):
            return numpy.zeros(len(X))
        feature, threshold, children, value, offset, walking, stored = self._arrays
        node = numpy.broadcast_to(offset, (len(X), len(offset))).copy()  # each row at each root
        rows = numpy.arange(len(X))[:, None] * X.shape[1]
        flat = numpy.ascontiguousarray(X, dtype=numpy.float64).ravel()
        for trees in walking.tolist():
            part = node[:, :trees]
            go_right = ~(flat.take(rows + feature.take(part)) <= threshold.take(part))
            node[:, :trees] = children.take(2 * part + go_right)
        return numpy.ascontiguousarray(value.take(node)[:, stored]).sum(axis=1)

    def most(self) -> float:
        """The largest sum of leaf values any row can reach (each tree's largest leaf): what a bound of the
        logit adds for the trees."""
        return float(sum(max(v[n] for n in range(len(v)) if left[n] == n)
                         for v, left in zip(self.value, self.left, strict=True)))

    def to_json(self) -> list[dict[str, list[Any]]]:
        return [{"feature": list(f), "threshold": [t if t != numpy.inf else "inf" for t in th],
                 "left": list(lf), "right": list(r), "value": list(v)}
                for f, th, lf, r, v in zip(self.feature, self.threshold, self.left, self.right, self.value,
                                           strict=True)]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Sequence[Any]]]) -> Forest:
        """The forest :meth:`to_json` wrote.

        >>> f = Forest(((0, 0, 0),), ((0.5, numpy.inf, numpy.inf),), ((1, 1, 2),), ((2, 1, 2),),
        ...            ((0.0, -1.0, 2.0),))
        >>> import json; Forest.from_json(json.loads(json.dumps(f.to_json()))) == f
        True
        """
        return cls(tuple(tuple(int(v) for v in t["feature"]) for t in data),
                   tuple(tuple(float(v) for v in t["threshold"]) for t in data),
                   tuple(tuple(int(v) for v in t["left"]) for t in data),
                   tuple(tuple(int(v) for v in t["right"]) for t in data),
                   tuple(tuple(float(v) for v in t["value"]) for t in data))

    @classmethod
    def from_lightgbm(cls, dump: Mapping[str, Any], rounds: int | None = None) -> Forest:
        """The first ``rounds`` trees of a LightGBM booster's ``dump_model()`` (numerical ``<=`` splits;
        a row's missing values are not handled: the rows have none)."""
        feature, threshold, left, right, value = [], [], [], [], []
        for info in dump["tree_info"][:rounds]:
            f: list[int] = []
            th: list[float] = []
            lf: list[int] = []
            r: list[int] = []
            v: list[float] = []

            def add(node: Mapping[str, Any]) -> int:
                at = len(f)  # noqa: B023 (called in this iteration)
                f.append(0)  # noqa: B023
                th.append(numpy.inf)  # noqa: B023
                lf.append(at)  # noqa: B023
                r.append(at)  # noqa: B023
                v.append(float(node.get("leaf_value", 0.0)))  # noqa: B023
                if "split_feature" in node:
                    assert node["decision_type"] == "<=", node["decision_type"]
                    f[at] = int(node["split_feature"])  # noqa: B023
                    th[at] = float(node["threshold"])  # noqa: B023
                    lf[at] = add(node["left_child"])  # noqa: B023
                    r[at] = add(node["right_child"])  # noqa: B023
                return at

            add(info["tree_structure"])
            feature.append(tuple(f))
            threshold.append(tuple(th))
            left.append(tuple(lf))
            right.append(tuple(r))
            value.append(tuple(v))
        return cls(tuple(feature), tuple(threshold), tuple(left), tuple(right), tuple(value))
