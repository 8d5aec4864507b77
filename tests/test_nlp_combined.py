"""A model reading session 14's two learned features together — the phrase rates (kg/nlp/phrase_rates.py)
and the learned aliases (kg/nlp/learned_aliases.py) — on hand-made offers and gazetteers (no real text):
with its prefilter and bounds on, the reranker keeps exactly what deciding every candidate keeps (the
liberal ones and the alias candidates the CV builds), and the model file keeps both tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy
import pytest

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.learned_aliases import new_matches
from kg.nlp.phrase_rates import FEATURES as PHRASE_FEATURES
from kg.nlp.phrase_rates import PhraseTable, phrase_key
from kg.nlp.rerank import (
    ALIAS_FEATURES,
    BASE_FEATURES,
    OTHERS_FEATURES,
    RATE_FEATURES,
    SECTIONS,
    SHIPPED_STRUCTURE,
    Candidate,
    Generator,
    Model,
    Reranker,
    decide,
)
from tests.test_nlp_learned_aliases import TABLE, candidate
from tests.test_nlp_rerank import FICHES, PREFILTER_TEXTS, ROWS, _offer_inputs, _random_forest, _random_model

# phrase rates on the words of the prefilter texts, for items the liberal stage proposes there and for the
# aliases' items (TABLE: "préparer les commandes" → 100 and 101, "produits" → 101 and 400 ...)
PHRASES = PhraseTable((
    (phrase_key("préparer les commandes"), "100", 5.0, 6.0),
    (phrase_key("préparer les commandes"), "101", 5.0, 6.0), (phrase_key("produits"), "400", 0.0, 4.0),
    (phrase_key("gestion stock"), "200", 0.0, 9.0), (phrase_key("rigueur précision"), "300", 4.0, 4.0)), (
    (phrase_key("préparer les commandes"), 6.0, 7.0), (phrase_key("produits"), 1.0, 12.0),
    (phrase_key("gestion stock"), 1.0, 12.0)), 0.4)
# the column order of the benchmark's variant "phrase rates + aliases, cascade at gate 0.15" and of --write
NAMES = (*(f for f in BASE_FEATURES if f not in OTHERS_FEATURES), *SHIPPED_STRUCTURE, *ALIAS_FEATURES,
         *RATE_FEATURES, *PHRASE_FEATURES)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_rows(ROWS, (), FICHES)


def _model(rng: numpy.random.Generator, trees: bool) -> Model:
    model = replace(_random_model(rng, NAMES), phrases=PHRASES, aliases=TABLE)
    if trees:
        model = replace(model, trees=_random_forest(rng, len(NAMES), 6), gate=float(rng.uniform(0.02, 0.3)))
        model = replace(model, threshold=max(model.threshold, model.gate + 0.05))
    return model


def _every(gazetteer: Gazetteer, text: str, section: str) -> list[Candidate]:
    """Every candidate no bound left out: the liberal ones (no model) and, where none of their item is on
    overlapping words, the aliases' (as benchmarks/skill_aliases.py builds them, the table's columns)."""
    clauses, predicted, linked = _offer_inputs(gazetteer, text, section)
    every = Generator(gazetteer, fiches=2).candidates(clauses, text, predicted, linked)
    spans = [(c.clause, c.code, c.start, c.end) for c in every]
    for m in new_matches(TABLE.matches(clauses), spans):
        c = candidate(Generator(gazetteer, fiches=2), clauses[m.clause], m.clause, text, predicted, m)
        if c is not None:
            every.append(replace(c, alias=TABLE.columns(m)))
    return every


def test_a_model_reading_phrase_rates_and_aliases_keeps_with_the_prefilter_what_it_keeps_without(
    gazetteer: Gazetteer, tmp_path: Path,
) -> None:
    rng = numpy.random.default_rng(14)
    aliases_kept = phrased_aliases = dropped = 0
    for seed in range(12):
        model = _model(rng, trees=seed % 2 == 1)
        for text in PREFILTER_TEXTS:
            for section in SECTIONS:
                every = _every(gazetteer, text, section)
                if not every:
                    continue
                rows = model.rows(every, text)
                kept = decide(every, model.probability(rows).tolist(), model.threshold)
                clauses, predicted, linked = _offer_inputs(gazetteer, text, section)
                reranker = Reranker(Generator(gazetteer, fiches=2), model)
                got = reranker.mentions(clauses, text, predicted, linked)
                assert [(m.start, m.end, m.code) for m in got] == sorted(
                    (k.start, k.end, k.code) for k in kept), (seed, text, section)
                aliases_kept += sum(m.method == "alias" for m in got)
                # the alias candidates read the phrase rates of their spans too
                flag, pair_seen = NAMES.index("learned_alias"), NAMES.index("pair_seen")
                phrased_aliases += int(((rows[:, flag] > 0) & (rows[:, pair_seen] > 0)).sum())
                dropped += len(every) - len(Generator(gazetteer, fiches=2).candidates(
                    clauses, text, predicted, linked, model))
    # not vacuous: aliases are kept, some read a (phrase, item) pair, the bound leaves candidates out
    assert aliases_kept and phrased_aliases and dropped
    model.save(tmp_path / "m.json")
    again = Model.load(tmp_path / "m.json")
    assert again == model and again.phrases == PHRASES and again.aliases == TABLE
    assert again.bound.below == model.bound.below
