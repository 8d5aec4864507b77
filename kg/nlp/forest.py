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

COMPACT = 3  # steps of the walk between two set-asides of the pairs at their leaf (Forest.raw)


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
        """The trees padded to one node count (a padding node is a leaf of value 0, never reached), with
        every node's index offset by its tree's place, so one flat take walks all trees; each node's two
        children side by side (left at ``2 * node``, right at ``2 * node + 1``: a leaf's are itself);
        whether each node is a leaf; the deepest tree's depth (as an array of one)."""
        width = max((len(f) for f in self.feature), default=1)
        count = len(self.feature)
        feature = numpy.zeros((count, width), dtype=numpy.int64)
        threshold = numpy.full((count, width), numpy.inf)
        left = numpy.tile(numpy.arange(width), (count, 1))
        right = left.copy()
        value = numpy.zeros((count, width))
        for t in range(count):
            n = len(self.feature[t])
            feature[t, :n] = self.feature[t]
            threshold[t, :n] = self.threshold[t]
            left[t, :n] = self.left[t]
            right[t, :n] = self.right[t]
            value[t, :n] = self.value[t]
        offset = (numpy.arange(count) * width)[:, None]
        leaf = ((left == numpy.arange(width)) & (right == numpy.arange(width))).ravel()
        children = numpy.stack([(left + offset).ravel(), (right + offset).ravel()], axis=1).ravel()
        depth = numpy.array([max((self._depth(t) for t in range(count)), default=0)], dtype=numpy.int64)
        return feature.ravel(), threshold.ravel(), children, value.ravel(), offset.ravel(), leaf, depth

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
        """The sum of the trees' leaf values for each row of ``X`` (columns: the features split on).

        Every (row, tree) pair walks one level a step, all pairs at once; every :data:`COMPACT` steps the
        pairs that reached their leaf (a leaf is its own children: it stays put) are set aside, so the others
        walk on alone (perf only: on the shipped trees a row's path is 4 splits long on average, the trees
        up to 14 deep). The leaves' values are summed in the trees' stored order, row by row."""
        if not self.feature or not len(X):
            return numpy.zeros(len(X))
        feature, threshold, children, value, offset, leaf, depth = self._arrays
        rows, columns = X.shape
        node = numpy.tile(offset, rows)  # pair r * trees + t: row r at tree t's root
        base = numpy.repeat(numpy.arange(rows) * columns, len(offset))  # where the pair's row starts in flat
        flat = numpy.ascontiguousarray(X, dtype=numpy.float64).ravel()
        reached: numpy.ndarray | None = None  # every pair's node once pairs are set aside (else: node)
        walking = numpy.arange(0)  # then, the pairs still walking (node holds theirs)
        steps = int(depth[0])
        for step in range(steps):
            go_right = ~(flat.take(base + feature.take(node)) <= threshold.take(node))
            node = children.take(2 * node + go_right)
            if step % COMPACT == COMPACT - 1 and step < steps - 1:
                on = numpy.flatnonzero(~leaf.take(node))
                if reached is None:
                    reached, walking = node, on
                else:
                    reached[walking] = node
                    walking = walking.take(on)
                node, base = node.take(on), base.take(on)
                if not len(node):
                    break
        if reached is None:
            reached = node
        else:
            reached[walking] = node
        return value.take(reached.reshape(rows, len(offset))).sum(axis=1)

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
