"""Gradient-boosted trees (LightGBM) as the skill linker's second stage: the learners of the variants
"trees: …" of ``benchmarks/rerank_skills.py`` (docs/guides/skill-boosted-trees.md) and of the shipped cascade
(:class:`kg.nlp.rerank.Model` ``trees`` and ``gate``, docs/guides/skill-tree-cascade.md).

The trees read the same rows as the shipped logistic regression (:class:`kg.nlp.rerank.Model`); their
settings (leaves, least rows per leaf, rounds) and the decision threshold are chosen together by the same
inner 4-fold CV over the training offers as the logistic's L2 and threshold (:func:`kg.nlp.rerank.choose`),
on a small grid fixed beforehand (:data:`GRID`). "Residual": the trees start from the logistic's logit
(LightGBM's ``init_score``) and learn what it misses; zero rounds (the logistic alone) is then on the grid.

LightGBM is a dev dependency (pyproject's dev extras): it fits the trees; the runtime evaluates them with
:class:`kg.nlp.forest.Forest`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from kg.nlp.near_copies import grouped_parts
from kg.nlp.rerank import THRESHOLDS, Model, fit_offers

# The grid, fixed before any run (not tuned on the outer folds): LightGBM's learning rate 0.05 and L2 1.0
# throughout; rounds are read off one fit per (leaves, min_leaf) (the first n trees)
LEAVES = (4, 8, 16)
MIN_LEAF = (20, 80)
ROUNDS = (50, 100, 200, 400)
LEARNING_RATE = 0.05
# The wider grid of session 13 (the variants "..., wide grid"; fixed before any run): session 12's inner CV
# often chose the edge of the grid above (16 leaves, 400 rounds). Twice the learning rate reaches what 800
# rounds would at the shipped 400 trees' evaluation cost; 32 leaves and a leaf minimum of 160 widen the other
# two edges
WIDE_LEAVES = (4, 8, 16, 32)
WIDE_MIN_LEAF = (20, 80, 160)
WIDE_RATES = (0.05, 0.1)
TREE_L2 = 1.0
# increasing in these (the "monotone" variants): a better match or an item more often right is never
# less likely right; nor a (phrase, item) pair or a phrase more often right (benchmarks/phrase_rates.py,
# session 14: the shipped model reads neither, its trees are unchanged)
MONOTONE = ("score", "coverage", "item_rate", "pair_rate", "phrase_rate")
# the variant "phrase rates + aliases, monotone alias columns" (session 15, fixed before its run): also an
# alias annotated by more training offers, or more often right in their clauses, is never less likely right
ALIAS_MONOTONE = (*MONOTONE, "alias_support", "alias_precision")
# a booster's monotone constraints: none (False), MONOTONE (True) or these increasing columns
Monotone = bool | tuple[str, ...]

Judge = Callable[[Mapping[int, numpy.ndarray], float, Sequence[int]], float]


@dataclass(frozen=True)
class Config:
    """One point of the grid."""

    leaves: int
    min_leaf: int
    rounds: int
    rate: float = LEARNING_RATE


@dataclass
class Boosted:
    """Trees (a LightGBM booster, its first ``rounds`` trees) on top of an optional logistic base;
    ``probability`` as :class:`kg.nlp.rerank.Model`'s."""

    booster: Any
    rounds: int
    base: Model | None = None
    threshold: float = 0.5
    # the cascade (kg.nlp.rerank.Model.gate): rows whose base probability is under it get 0
    gate: float = 0.0
    # the columns the base reads (None: all); the trees read all (the variants "trees read more")
    base_columns: Sequence[int] | None = None

    def base_rows(self, X: numpy.ndarray) -> numpy.ndarray:
        """The columns of ``X`` the base reads."""
        return X if self.base_columns is None else X[:, list(self.base_columns)]

    def raw(self, X: numpy.ndarray) -> numpy.ndarray:
        out = self.base.logit(self.base_rows(X)) if self.base is not None else numpy.zeros(len(X))
        if self.rounds and len(X):
            out = out + self.booster.predict(X, num_iteration=self.rounds, raw_score=True)
        return out

    def probability(self, X: numpy.ndarray) -> numpy.ndarray:
        out = 1.0 / (1.0 + numpy.exp(-self.raw(X)))
        if self.gate > 0 and self.base is not None and len(X):
            out = numpy.where(self.base.probability(self.base_rows(X)) >= self.gate, out, 0.0)
        return out


def constraints(names: Sequence[str], monotone: Monotone) -> list[int]:
    """LightGBM's ``monotone_constraints`` for the columns ``names``: 1 (increasing) for those of
    :data:`MONOTONE` (``monotone`` True) or of the tuple ``monotone``, 0 for the others (all 0: False).

    >>> names = ("score", "alias_support", "alias_precision", "alias_keys")
    >>> constraints(names, True), constraints(names, ALIAS_MONOTONE), constraints(names, False)
    ([1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0])
    """
    increasing = () if monotone is False else MONOTONE if monotone is True else monotone
    return [1 if n in increasing else 0 for n in names]


def train(X: numpy.ndarray, y: numpy.ndarray, names: Sequence[str], leaves: int, min_leaf: int, rounds: int,
          monotone: Monotone, init: numpy.ndarray | None = None, rate: float = LEARNING_RATE) -> Any:
    """A LightGBM booster of ``rounds`` trees (deterministic: one thread, no sampling)."""
    import lightgbm

    params: dict[str, Any] = {
        "objective": "binary", "num_leaves": leaves, "min_data_in_leaf": min_leaf,
        "learning_rate": rate, "lambda_l2": TREE_L2, "num_threads": 1, "verbose": -1,
        "deterministic": True, "force_row_wise": True, "seed": 0, "min_sum_hessian_in_leaf": 1e-3,
    }
    if monotone:
        params["monotone_constraints"] = constraints(names, monotone)
    data = lightgbm.Dataset(X, label=y, init_score=init, feature_name=[n.replace("-", "_") for n in names],
                            free_raw_data=False)
    return lightgbm.train(params, data, num_boost_round=max(rounds, 1))


def _stacked(X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], offers: Sequence[int]
             ) -> tuple[numpy.ndarray, numpy.ndarray]:
    kept = [o for o in offers if len(X[o])]
    return numpy.vstack([X[o] for o in kept]), numpy.concatenate([y[o] for o in kept])


def fit_boosted(
    X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], offers: Sequence[int], names: Sequence[str],
    config: Config, monotone: Monotone, base_l2: float | None, threshold: float = 0.5,
    base_columns: Sequence[int] | None = None,
) -> Boosted:
    """The trees (on the logistic fitted with ``base_l2`` when given, over ``base_columns`` only when given)
    fitted on ``offers``' rows."""
    rows, labels = _stacked(X, y, offers)
    base, init = _base(X, y, offers, names, base_l2, rows, base_columns)
    booster = train(rows, labels, names, config.leaves, config.min_leaf, config.rounds, monotone, init,
                    config.rate)
    return Boosted(booster, config.rounds, base, threshold, base_columns=base_columns)


def restricted(
    X: Sequence[numpy.ndarray], names: Sequence[str],
    build: Callable[[Sequence[int]], Sequence[numpy.ndarray]] | None, columns: Sequence[int] | None,
) -> tuple[Sequence[numpy.ndarray], Sequence[str], Callable[[Sequence[int]], Sequence[numpy.ndarray]] | None]:
    """``X``, ``names`` and ``build`` with only ``columns`` (all when None): what the logistic of the
    variant "trees read more" reads.

    >>> X, names, build = restricted([numpy.arange(6.0).reshape(2, 3)], ("a", "b", "c"), None, [0, 2])
    >>> X[0].tolist(), names, build
    ([[0.0, 2.0], [3.0, 5.0]], ['a', 'c'], None)
    """
    if columns is None:
        return X, names, build
    picked = list(columns)
    inner = build

    def narrowed(train: Sequence[int]) -> list[numpy.ndarray]:
        assert inner is not None
        return [x[:, picked] for x in inner(train)]

    return [x[:, picked] for x in X], [names[i] for i in picked], narrowed if build is not None else None


def _base(
    X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], offers: Sequence[int], names: Sequence[str],
    base_l2: float | None, rows: numpy.ndarray, columns: Sequence[int] | None,
) -> tuple[Model | None, numpy.ndarray | None]:
    """The residual's base (the logistic over ``columns``, all when None) and its logit on ``rows``."""
    if base_l2 is None:
        return None, None
    Xb, names_b, _ = restricted(X, names, None, columns)
    base = fit_offers(Xb, y, offers, names_b, base_l2)
    return base, base.logit(rows if columns is None else rows[:, list(columns)])


def choose_boosted(
    X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], offers: Sequence[int], names: Sequence[str],
    judge: Judge, monotone: Monotone, base_l2: float | None, parts: int = 4,
    build: Callable[[Sequence[int]], Sequence[numpy.ndarray]] | None = None,
    groups: Sequence[int] | None = None,
) -> tuple[Config, float]:
    """The grid point and threshold whose out-of-fold decisions over ``offers`` (``parts``-fold inner CV,
    the parts of :func:`kg.nlp.rerank.choose`) ``judge`` scores best; ties to the first (fewer leaves,
    smaller leaf minimum, fewer rounds, lower threshold). ``build`` and ``groups`` as in ``choose``."""
    return choose_cascade(X, y, offers, names, judge, monotone, base_l2, (0.0,), parts, build,
                          groups=groups)[0.0]


def choose_cascade(
    X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], offers: Sequence[int], names: Sequence[str],
    judge: Judge, monotone: Monotone, base_l2: float | None, gates: Sequence[float], parts: int = 4,
    build: Callable[[Sequence[int]], Sequence[numpy.ndarray]] | None = None, wide: bool = False,
    base_columns: Sequence[int] | None = None, groups: Sequence[int] | None = None,
) -> dict[float, tuple[Config, float]]:
    """Per gate, :func:`choose_boosted`'s choice for the cascade at that gate: the inner CV's held-out
    probabilities are 0 where the base logistic's probability is under the gate (what
    :class:`kg.nlp.rerank.Model` with trees decides). The boosters are fitted once for all gates; gate 0
    (or no base) is the plain residual. ``wide``: the grid of :data:`WIDE_LEAVES`, :data:`WIDE_MIN_LEAF`,
    :data:`WIDE_RATES`."""
    rounds = ((0,) if base_l2 is not None else ()) + ROUNDS
    grid = [(leaves, min_leaf, rate) for leaves in (WIDE_LEAVES if wide else LEAVES)
            for min_leaf in (WIDE_MIN_LEAF if wide else MIN_LEAF)
            for rate in (WIDE_RATES if wide else (LEARNING_RATE,))]
    # zero rounds is the logistic whatever the grid point: one configuration
    configs = list(dict.fromkeys(Config(leaves, min_leaf, r, rate) if r else Config(grid[0][0], grid[0][1], 0)
                                 for leaves, min_leaf, rate in grid for r in rounds))
    probabilities: dict[tuple[float, Config], dict[int, numpy.ndarray]] = {
        (g, c): {} for g in gates for c in configs}
    for part in grouped_parts(offers, parts, groups):  # (copies in one part: groups, as choose's)
        rest = [o for o in offers if o not in part]
        Xp = X if build is None else build(rest)
        rows, labels = _stacked(Xp, y, rest)
        base, init = _base(Xp, y, rest, names, base_l2, rows, base_columns)
        held = [o for o in part if len(Xp[o])]
        held_rows = numpy.vstack([Xp[o] for o in held]) if held else numpy.zeros((0, len(names)))
        cuts = numpy.cumsum([len(Xp[o]) for o in held])[:-1]
        for leaves, min_leaf, rate in grid:
            booster = train(rows, labels, names, leaves, min_leaf, max(ROUNDS), monotone, init, rate)
            for r in rounds:
                config = Config(leaves, min_leaf, r, rate) if r else Config(grid[0][0], grid[0][1], 0)
                for g in gates:
                    model = Boosted(booster, r, base, gate=g, base_columns=base_columns)
                    found = numpy.split(model.probability(held_rows), cuts) if held else []
                    into = probabilities[g, config]
                    into.update({o: numpy.zeros(0) for o in part})
                    into.update(dict(zip(held, found, strict=True)))
    chosen: dict[float, tuple[Config, float]] = {}
    for g in gates:
        best = (-1.0, configs[0], 0.5)
        for config in configs:
            for threshold in THRESHOLDS:
                score = judge(probabilities[g, config], threshold, offers)
                if score > best[0] + 1e-9:
                    best = (score, config, threshold)
        chosen[g] = (best[1], best[2])
    return chosen
