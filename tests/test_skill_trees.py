"""The tree learners of benchmarks/skill_trees.py and the numpy evaluator of kg/nlp/forest.py against
LightGBM, on random rows (no real data). LightGBM is a dev dependency (fitting only): without it these
tests are skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from skill_trees import (
    ALIAS_MONOTONE,
    MONOTONE,
    Boosted,
    Config,
    choose_boosted,
    constraints,
    fit_boosted,
    train,
)

from kg.nlp.forest import Forest
from kg.nlp.rerank import fit_offers

pytest.importorskip("lightgbm")

NAMES = ("score", "coverage", "item_rate", "flag", "other")


def rows(seed: int, n: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Random rows (one 0/1 column, ties included) and labels with an interaction of score and coverage."""
    rng = numpy.random.default_rng(seed)
    X = rng.random((n, len(NAMES)))
    X[:, 3] = X[:, 3] > 0.5
    X[: n // 10, 0] = 0.5  # ties at a value a split may use
    y = (X[:, 0] * X[:, 1] + 0.2 * X[:, 3] + 0.3 * rng.random(n) > 0.55).astype(numpy.float64)
    return X, y


def test_forest_reproduces_lightgbm() -> None:
    X, y = rows(0, 2000)
    init = numpy.random.default_rng(1).normal(size=len(X))
    booster = train(X, y, NAMES, 16, 20, 60, monotone=False, init=init)
    fresh, _ = rows(2, 500)
    fresh = numpy.vstack([fresh, X[:50]])  # rows at the training values too (thresholds between them)
    for rounds in (1, 25, 60):
        forest = Forest.from_lightgbm(booster.dump_model(), rounds)
        expected = booster.predict(fresh, num_iteration=rounds, raw_score=True)
        assert numpy.abs(forest.raw(fresh) - expected).max() < 1e-9
        # most(): no row's sum is above it, and it is a sum of leaves
        assert forest.raw(fresh).max() <= forest.most() + 1e-12
    again = Forest.from_json(Forest.from_lightgbm(booster.dump_model()).to_json())
    assert numpy.abs(again.raw(fresh) - booster.predict(fresh, raw_score=True)).max() < 1e-9


def test_residual_without_rounds_is_the_logistic() -> None:
    X, y = rows(3, 600)
    parts = [X[i::6] for i in range(6)]
    labels = [y[i::6] for i in range(6)]
    model = fit_boosted(parts, labels, list(range(6)), NAMES, Config(4, 20, 0), False, base_l2=1.0)
    base = fit_offers(parts, labels, list(range(6)), NAMES, 1.0)
    assert numpy.allclose(model.probability(X), base.probability(X), atol=1e-12)
    assert numpy.allclose(base.logit(X), numpy.log(base.probability(X) / (1 - base.probability(X))))
    # with rounds, the trees move the logit away from the logistic's
    boosted = fit_boosted(parts, labels, list(range(6)), NAMES, Config(4, 20, 50), False, base_l2=1.0)
    assert not numpy.allclose(boosted.probability(X), base.probability(X))


def test_monotone_trees_never_fall_with_score() -> None:
    X, y = rows(4, 1500)
    booster = train(X, y, NAMES, 8, 20, 80, monotone=True)
    model = Boosted(booster, 80)
    grid = numpy.repeat(rows(5, 40)[0], 11, axis=0)
    grid[:, 0] = numpy.tile(numpy.linspace(0, 1, 11), 40)
    p = model.probability(grid).reshape(40, 11)
    assert (numpy.diff(p, axis=1) >= -1e-12).all()


def test_alias_constraints_add_support_and_precision_only() -> None:
    """The variant "phrase rates + aliases, monotone alias columns" (session 15): MONOTONE's columns plus the
    alias's support and precision; its flag and number of keys stay free."""
    names = (*MONOTONE, "learned_alias", "alias_support", "alias_precision", "alias_keys", "other")
    assert constraints(names, True) == [1] * len(MONOTONE) + [0] * 5
    assert constraints(names, ALIAS_MONOTONE) == [1] * len(MONOTONE) + [0, 1, 1, 0, 0]
    assert constraints(names, False) == [0] * len(names)


def test_trees_never_fall_with_a_column_the_tuple_names() -> None:
    """A tuple of names as ``monotone``: the trees are increasing in those columns, not in the others."""
    X, y = rows(4, 1500)
    y = (X[:, 4] + 0.3 * numpy.random.default_rng(7).random(len(X)) > 0.6).astype(numpy.float64)
    y[X[:, 4] > 0.9] = 0.0  # a fall at the top of "other" that free trees learn
    grid = numpy.repeat(rows(5, 40)[0], 11, axis=0)
    grid[:, 4] = numpy.tile(numpy.linspace(0, 1, 11), 40)
    falls = {}
    for monotone in (("other",), True):
        model = Boosted(train(X, y, NAMES, 8, 20, 80, monotone=monotone), 80)
        falls[monotone] = float(numpy.diff(model.probability(grid).reshape(40, 11), axis=1).min())
    assert falls["other",] >= -1e-12 and falls[True] < -0.05


def test_choose_boosted_uses_only_the_given_offers() -> None:
    X, y = rows(6, 1600)
    parts = [X[i::8] for i in range(8)]
    labels = [y[i::8] for i in range(8)]
    seen: list[set[int]] = []

    def judge(probabilities: dict[int, numpy.ndarray], threshold: float, offers: list[int]) -> float:
        seen.append(set(probabilities))
        tp = sum(float(((probabilities[o] >= threshold) & (labels[o] > 0)).sum()) for o in offers)
        fp = sum(float(((probabilities[o] >= threshold) & (labels[o] == 0)).sum()) for o in offers)
        return 2 * tp / (2 * tp + fp + sum(float(labels[o].sum()) for o in offers) - tp)

    config, threshold = choose_boosted(parts, labels, [0, 1, 2, 3, 4, 5], NAMES, judge, False, None)
    assert all(s == {0, 1, 2, 3, 4, 5} for s in seen)
    assert config.rounds > 0 and 0.05 <= threshold <= 0.8


def test_residual_base_over_some_columns() -> None:
    """base_columns (the variant "trees read more"): the logistic reads only those columns, the trees all;
    with no rounds the cascade is that logistic, with every column it is the plain residual."""
    X, y = rows(6, 600)
    parts = [X[i::6] for i in range(6)]
    labels = [y[i::6] for i in range(6)]
    some = [0, 1, 2]
    model = fit_boosted(parts, labels, list(range(6)), NAMES, Config(4, 20, 0), False, base_l2=1.0,
                        base_columns=some)
    base = fit_offers([p[:, some] for p in parts], labels, list(range(6)), NAMES[:3], 1.0)
    assert model.base is not None and model.base.features == NAMES[:3]
    assert numpy.allclose(model.probability(X), base.probability(X[:, some]), atol=1e-12)
    every = fit_boosted(parts, labels, list(range(6)), NAMES, Config(4, 20, 30), False, base_l2=1.0,
                        base_columns=range(len(NAMES)))
    plain = fit_boosted(parts, labels, list(range(6)), NAMES, Config(4, 20, 30), False, base_l2=1.0)
    assert numpy.allclose(every.probability(X), plain.probability(X), atol=1e-12)
