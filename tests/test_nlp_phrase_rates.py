"""The learned phrase rates of the skill linker's second stage (kg/nlp/phrase_rates.py): learned from the
training offers only, the shipped table what a held-out offer reads, the data policy, and a model reading
them keeps exactly what it would keep without the prefilter, whose bound reads each candidate's own phrase
once its span is known and never falls under the logit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy
import pytest

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.phrase_rates import FEATURES as PHRASE_FEATURES
from kg.nlp.phrase_rates import PhraseTable, phrase_key, with_phrase_rates
from kg.nlp.rerank import (
    BASE_FEATURES,
    MODEL_FILE,
    NO_ALIASES,
    OTHERS_FEATURES,
    RATE_FEATURES,
    SECTIONS,
    SHIPPED_STRUCTURE,
    Generator,
    Model,
    item_table,
    with_item_rates,
)
from tests.test_nlp_rerank import (
    FICHES,
    PREFILTER_TEXTS,
    ROWS,
    _offer_inputs,
    _random_forest,
    _random_model,
    kept_alike,
)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_rows(ROWS, (), FICHES)


def _offers(seed: int, count: int = 30) -> tuple[list[list[str]], list[list[str]], list[list[int]],
                                                 list[numpy.ndarray]]:
    """Random offers' candidates: items, phrases, clauses, labels (few of each: entries repeat)."""
    rng = numpy.random.default_rng(seed)
    codes = [[str(rng.integers(5)) for _ in range(rng.integers(0, 12))] for _ in range(count)]
    phrases = [[str(rng.integers(4)) for _ in c] for c in codes]
    clauses = [[int(rng.integers(3)) for _ in c] for c in codes]
    y = [rng.integers(0, 2, size=len(c)).astype(float) for c in codes]
    return codes, phrases, clauses, y


def _rows(codes: list[list[str]], phrases: list[list[str]], clauses: list[list[int]], y: list[numpy.ndarray],
          train: list[int]) -> list[numpy.ndarray]:
    """The rows with the item rates then the phrase rates, as the benchmark builds them."""
    X = [numpy.zeros((len(c), 0)) for c in codes]
    rated = with_item_rates(X, codes, y, train)
    return with_phrase_rates(rated, codes, phrases, clauses, y, [r[:, 0] for r in rated], train)


def test_a_held_out_offer_reads_what_the_shipped_table_gives_a_new_offer() -> None:
    codes, phrases, clauses, y = _offers(1)
    train = [*range(0, 30, 2), 1, 3]
    rows = _rows(codes, phrases, clauses, y, train)
    table = PhraseTable.learn(codes, phrases, clauses, y, train)
    items, default = item_table(codes, y, train)
    rate = {code: r for code, r, _ in items}
    read = 0
    for o in range(30):
        if o in train:
            continue
        for i, (code, phrase) in enumerate(zip(codes[o], phrases[o], strict=True)):
            assert rows[o][i, 2:] == pytest.approx(table.values(code, phrase, rate.get(code, default)))
            read += rows[o][i, 3] > 0
    assert read  # some pairs were seen in training


def test_no_offer_reads_its_own_labels_nor_a_held_out_one() -> None:
    codes, phrases, clauses, y = _offers(2)
    train = list(range(20))
    rows = _rows(codes, phrases, clauses, y, train)
    for o in (0, 7, 25):  # two training offers, one held out
        flipped = [1.0 - labels if n == o else labels for n, labels in enumerate(y)]
        again = _rows(codes, phrases, clauses, flipped, train)
        assert numpy.array_equal(again[o], rows[o])
    changed = [1.0 - labels if n >= 20 else labels for n, labels in enumerate(y)]  # the held-out offers'
    assert all(numpy.array_equal(a, b) for a, b in zip(_rows(codes, phrases, clauses, changed, train), rows,
                                                       strict=True))


def test_an_entry_of_a_single_offer_is_neither_stored_nor_read() -> None:
    y = [numpy.array([1.0, 1.0]), numpy.array([1.0]), numpy.array([0.0])]
    codes, phrases, clauses = [["A", "A"], ["A"], ["B"]], [["p", "p"], ["p"], ["q"]], [[0, 1], [0], [0]]
    table = PhraseTable.learn(codes, phrases, clauses, y, [0, 1, 2])
    assert [p for p, *_ in table.phrases] == ["p"] and [(p, c) for p, c, *_ in table.pairs] == [("p", "A")]
    # unseen: the item rate, the base
    assert table.values("B", "q", 0.2) == pytest.approx((0.2, 0.0, table.base, 0.0))
    # a training offer reads an entry only when two *other* offers support it
    rows = _rows(codes, phrases, clauses, y, [0, 1, 2])
    assert rows[0][0, 3] == 0.0 and rows[0][0, 5] == 0.0


def test_the_phrase_key_reads_the_span_as_the_gazetteer_keys_text() -> None:
    assert phrase_key("Rigueur budgétaire") == phrase_key("la rigueur, budgétaire") != phrase_key("rigueur")


def _phrase_model(rng: numpy.random.Generator, table: PhraseTable, trees: bool) -> Model:
    names = (*(f for f in BASE_FEATURES if f not in OTHERS_FEATURES), *SHIPPED_STRUCTURE, *RATE_FEATURES,
             *PHRASE_FEATURES)
    model = replace(_random_model(rng, names), phrases=table)
    if trees:
        model = replace(model, trees=_random_forest(rng, len(names), 6), gate=float(rng.uniform(0.02, 0.3)))
        model = replace(model, threshold=max(model.threshold, model.gate + 0.05))
    return model


def test_a_model_reading_phrase_rates_keeps_with_the_prefilter_what_it_keeps_without(
    gazetteer: Gazetteer, tmp_path: Path,
) -> None:
    """The bounds read the phrase rates at their largest (the span's keys are not read before the
    candidate's features are): the reranker keeps exactly what deciding every candidate keeps."""
    rng = numpy.random.default_rng(21)
    table = PhraseTable((
        (phrase_key("préparer commandes"), "100", 5.0, 6.0), (phrase_key("gestion stock"), "200", 0.0, 9.0),
        (phrase_key("rigueur précision"), "300", 4.0, 4.0)), (
        (phrase_key("préparer commandes"), 6.0, 6.0), (phrase_key("gestion stock"), 1.0, 12.0)), 0.4)
    read = dropped = 0
    for seed in range(12):
        model = _phrase_model(rng, table, trees=seed % 2 == 1)
        for text in PREFILTER_TEXTS:
            for section in SECTIONS:
                case = kept_alike(gazetteer, model, text, section, seed)
                if case is None:
                    continue
                every = case[0]
                read += int((model.rows(every, text)[:, -1] > 0).sum())
                clauses, predicted, linked = _offer_inputs(gazetteer, text, section)
                dropped += len(every) - len(Generator(gazetteer, fiches=2).candidates(
                    clauses, text, predicted, linked, model))
    assert read and dropped  # the spans read the table; the bound still leaves some candidates out
    model.save(tmp_path / "m.json")
    again = Model.load(tmp_path / "m.json")
    assert again == model and again.bound.below == model.bound.below


# A table over the hand-made gazetteer's items with the phrases of PREFILTER_TEXTS, seen and unseen: a pair
# rate high and low for the same item, a phrase seen often (its negative coefficient, in the shipped model,
# is what the item-wide bound cannot know)
BOUND_TABLE = PhraseTable((
    (phrase_key("préparer les commandes"), "100", 6.0, 6.0), (phrase_key("commandes"), "100", 0.0, 8.0),
    (phrase_key("gestion du stock"), "200", 0.0, 9.0), (phrase_key("gestion des stocks"), "200", 7.0, 7.0),
    (phrase_key("rigueur et précision"), "300", 4.0, 4.0)), (
    (phrase_key("préparer les commandes"), 6.0, 40.0), (phrase_key("gestion du stock"), 1.0, 60.0),
    (phrase_key("conduite de chariot"), 0.0, 30.0)), 0.2)


def _bound_models() -> list[Model]:
    """Random models reading the phrase rates (with and without trees), and the shipped model's
    coefficients, gate and trees over :data:`BOUND_TABLE` and an item rate (real-shaped logits)."""
    rng = numpy.random.default_rng(33)
    models = [_phrase_model(rng, BOUND_TABLE, trees=seed % 2 == 1) for seed in range(8)]
    shipped = Model.load(MODEL_FILE)
    models.append(replace(shipped, phrases=BOUND_TABLE, aliases=NO_ALIASES, rates=(("100", 0.8, 2.0),)))
    return models


def test_the_phrase_bound_is_never_under_the_logit_and_leaves_out_more(gazetteer: Gazetteer) -> None:
    """The prefilter's phrase part is the candidate's own (what its row reads), never more than its item's
    largest; every candidate whose logistic logit reaches the gate (no trees: the threshold) is still a
    candidate; and reading the phrase leaves out candidates the item-wide bound lets through."""
    reachable = with_phrase = without_phrase = 0
    for number, model in enumerate(_bound_models()):
        bound = model.bound
        scaled = numpy.array(model.weights) / numpy.array(model.scale)
        columns = [model.features.index(f) for f in PHRASE_FEATURES]
        t = model.gate if model.trees is not None else model.threshold
        for text in PREFILTER_TEXTS:
            for section in SECTIONS:
                clauses, predicted, linked = _offer_inputs(gazetteer, text, section)
                every = Generator(gazetteer, fiches=2).candidates(clauses, text, predicted, linked)
                if not every:
                    continue
                X = model.rows(every, text)
                for c, row in zip(every, X, strict=True):
                    own = bound.phrase_part(c.code, phrase_key(text[c.start : c.end]))
                    assert own == pytest.approx(float(row[columns] @ scaled[columns]), abs=1e-12)
                    assert own <= bound.pair_part(c.code) + 1e-12
                reach = model.logit(X) >= numpy.log(t / (1 - t))
                generator = Generator(gazetteer, fiches=2)
                kept = {(c.clause, c.code, c.start, c.end)
                        for c in generator.candidates(clauses, text, predicted, linked, model)}
                wanted = {(c.clause, c.code, c.start, c.end) for c, r in zip(every, reach, strict=True) if r}
                assert wanted <= kept, (number, text, section)
                reachable += len(wanted)
                with_phrase += len(kept)
                prefilter = generator._prefilter(model)
                prefilter.phrased = False  # the item's largest phrase part, as before
                without_phrase += len(generator.candidates(clauses, text, predicted, linked, model))
    assert reachable  # not vacuous: candidates reach the gate
    assert with_phrase < without_phrase  # the candidates' own phrases leave some out
