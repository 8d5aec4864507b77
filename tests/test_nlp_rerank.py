"""The learned second stage of the skill linker (kg/nlp/rerank.py): candidates and their features on a
hand-made example, a fitted toy model, the word competition, and no leakage in the cross-validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy
import pytest

from kg.nlp.forest import Forest
from kg.nlp.gazetteer import Gazetteer
from kg.nlp.linker import Linker, Mention, words
from kg.nlp.rerank import (
    BASE_FEATURES,
    FEATURES,
    LIBERAL,
    OTHERS_FEATURES,
    RATE_FEATURES,
    SECTIONS,
    SHIPPED_STRUCTURE,
    STRUCTURE_FEATURES,
    Candidate,
    Generator,
    Model,
    Reranker,
    choose,
    decide,
    fit,
    held_out,
    matrix,
    with_bins,
    with_item_rates,
    with_overlap,
)
from kg.nlp.text import normalise_phrase
from tests.forest_support import forest_of, random_tree

ROWS = [
    ("100", "Préparer les commandes", "savoir-faire"),
    ("101", "Conditionner des produits", "savoir-faire"),
    ("200", "Gestion des stocks", "savoir"),
    ("300", "Faire preuve de rigueur et de précision", "savoir-etre"),
    ("400", "Conduire un chariot élévateur", "savoir-faire"),
]
FICHES = [("N1103", "100"), ("N1103", "101"), ("N1103", "200"), ("N1101", "400"), ("N1101", "200")]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_rows(ROWS, (), FICHES)


Clause = tuple[int, int, list[tuple[int, int, str]], str]


def clauses_of(text: str, section: str = "missions") -> list[Clause]:
    """One clause per comma-free piece cut at ";" (the pipeline's own cut is tested in test_nlp.py)."""
    out = []
    start = 0
    for piece in text.split(";"):
        end = start + len(piece)
        tokens = [(a + start, b + start, w) for a, b, w in words(piece)]
        out.append((start, end, tokens, section))
        start = end + 1
    return out


def feature(candidate: Candidate, name: str) -> float:
    return candidate.features[FEATURES.index(name)]


def test_candidates_and_their_features(gazetteer: Gazetteer) -> None:
    text = "Préparer les commandes; gestion du stock; rigoureux"
    clauses = clauses_of(text)
    shipped = Linker(gazetteer).link_many([c[2] for c in clauses], text)
    linked = [m for found in shipped for m in found]
    found = Generator(gazetteer, fiches=2).candidates(clauses, text, [("N1103", 0.8), ("N1101", 0.2)], linked)
    by_code = {c.code: c for c in found}
    assert {"100", "200"} <= set(by_code)
    orders = by_code["100"]
    assert (orders.clause, text[orders.start : orders.end]) == (0, "Préparer les commandes")
    assert feature(orders, "coverage") == pytest.approx(1.0)
    assert feature(orders, "exact") == 1.0 and feature(orders, "linked") == 1.0
    assert feature(orders, "fiche1") == 1.0 and feature(orders, "fiche2") == 0.0
    assert feature(orders, "kind_savoir-faire") == 1.0 and feature(orders, "section_missions") == 1.0
    stock = by_code["200"]
    assert text[stock.start : stock.end] == "gestion du stock"
    fiche = (feature(stock, "fiche1"), feature(stock, "fiche2"), feature(stock, "fiche_score"))
    assert fiche == (1.0, 1.0, 1.0)
    assert feature(stock, "fiches_holding") == pytest.approx(numpy.log1p(2))
    assert feature(stock, "exact") == 0.0 and 0.5 < feature(stock, "ratio") < 1.0
    assert len(orders.features) == len(FEATURES)


def test_a_shipped_link_the_liberal_stage_misses_is_still_a_candidate(gazetteer: Gazetteer) -> None:
    text = "Préparer les commandes"
    clauses = clauses_of(text)
    odd = Mention("101", "Conditionner des produits", "savoir-faire", 0.7, "fuzzy", 0, 8, "Préparer")
    found = Generator(gazetteer).candidates(clauses, text, [("N1103", 0.8)], [odd])
    extra = [c for c in found if c.code == "101"]
    assert len(extra) == 1 and feature(extra[0], "linked") == 1.0 and (extra[0].start, extra[0].end) == (0, 8)


def test_a_job_title_span_is_no_candidate(gazetteer: Gazetteer) -> None:
    text = "Gestion des stocks"
    found = Generator(gazetteer, titles=frozenset({normalise_phrase("Gestion des stocks")})).candidates(
        clauses_of(text), text, [("N1103", 0.8)]
    )
    assert found == []


def test_a_fitted_toy_model_orders_and_round_trips(tmp_path: Path) -> None:
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(scale=0.3, size=400) > 0).astype(float)
    model = fit(X, y, ("score", "coverage"), l2=1.0)
    assert model.weights[0] > 0 > model.weights[1]
    accuracy = float(((model.probability(X) >= 0.5) == (y == 1)).mean())
    assert accuracy > 0.9
    again = fit(X, y, ("score", "coverage"), l2=1.0)
    assert again == model  # deterministic
    stronger = fit(X, y, ("score", "coverage"), l2=1000.0)
    assert abs(stronger.weights[0]) < abs(model.weights[0])  # the L2 weight shrinks
    path = tmp_path / "model.json"
    model.save(path)
    assert Model.load(path) == model


def test_decide_keeps_the_most_probable_per_clause_and_lets_words_be_claimed_once() -> None:
    a = Candidate(0, "A", 0, 9, frozenset({0, 1}), ())
    b = Candidate(0, "B", 0, 9, frozenset({0, 1, 2}), ())
    c = Candidate(0, "C", 10, 15, frozenset({5}), ())
    d = Candidate(1, "A", 20, 29, frozenset({0, 1}), ())
    kept = decide([a, b, c, d], [0.6, 0.9, 0.7, 0.4], 0.5)
    assert [k.code for k in kept] == ["B", "C"]
    assert matrix([], FEATURES[:2]).shape == (0, 2)


def _offers(rng: numpy.random.Generator, count: int) -> tuple[list[numpy.ndarray], list[numpy.ndarray]]:
    X = [rng.normal(size=(6, 2)) for _ in range(count)]
    y = [(x[:, 0] > 0).astype(float) for x in X]
    return X, y


def _judge(y: list[numpy.ndarray]):  # type: ignore[no-untyped-def]
    def judge(probabilities, threshold, offers):  # type: ignore[no-untyped-def]
        right = sum(float(((probabilities[o] >= threshold) == (y[o] == 1)).mean()) for o in offers)
        return right / len(offers)

    return judge


def test_no_fold_sees_its_held_out_offers() -> None:
    rng = numpy.random.default_rng(1)
    X, y = _offers(rng, 20)
    folds = [list(range(i, 20, 5)) for i in range(5)]
    first, models_first = held_out(X, y, folds, ("score", "coverage"), _judge(y))
    # Flip the labels and scramble the features of fold 0's offers: the model that judges fold 0 must not
    # move (nothing of these offers reached it), while the models of the other folds do.
    X2 = [x.copy() for x in X]
    y2 = [v.copy() for v in y]
    for o in folds[0]:
        y2[o] = 1.0 - y2[o]
        X2[o][:, 1] = rng.normal(size=6) * 10
    second, models_second = held_out(X2, y2, folds, ("score", "coverage"), _judge(y2))
    assert models_first[0] == models_second[0]
    assert all(a != b for a, b in zip(models_first[1:], models_second[1:], strict=True))
    for o in folds[1]:  # an unchanged offer of another fold, judged by a model that saw fold 0
        assert not numpy.allclose(first[o], second[o])
    assert set(first) == set(range(20))


def test_the_inner_choice_reads_only_the_offers_it_is_given() -> None:
    rng = numpy.random.default_rng(2)
    X, y = _offers(rng, 16)
    given = list(range(12))
    chosen = choose(X, y, given, ("score", "coverage"), _judge(y))
    for o in range(12, 16):  # other offers' data changed: the same choice
        y[o] = 1.0 - y[o]
        X[o] = X[o] * 100
    assert choose(X, y, given, ("score", "coverage"), _judge(y)) == chosen


def test_the_learned_item_rates_never_read_an_offer_outside_the_training_set() -> None:
    rng = numpy.random.default_rng(3)
    X = [numpy.zeros((4, 0)) for _ in range(10)]
    codes = [[str(rng.integers(0, 3)) for _ in range(4)] for _ in range(10)]
    y = [(rng.random(4) > 0.5).astype(float) for _ in range(10)]
    train = list(range(7))
    first = with_item_rates(X, codes, y, train)
    assert all(rows.shape == (4, 2) for rows in first)
    # the labels of the offers outside the training set changed: no offer's rates move
    y2 = [v if o in train else 1.0 - v for o, v in enumerate(y)]
    second = with_item_rates(X, codes, y2, train)
    assert all(numpy.array_equal(a, b) for a, b in zip(first, second, strict=True))
    # a training offer's own labels never reach its own rows (left out), but reach the others'
    y3 = [1.0 - v if o == 0 else v for o, v in enumerate(y)]
    third = with_item_rates(X, codes, y3, train)
    assert numpy.array_equal(first[0], third[0])
    assert not all(numpy.array_equal(a, b) for a, b in zip(first[1:], third[1:], strict=True))
    # smoothing pulls an item seen once towards the overall rate; an unseen item gets that rate
    labels = [numpy.array([1.0]), numpy.array([0.0]), numpy.array([0.0])]
    rows = with_item_rates([numpy.zeros((1, 0))] * 3, [["A"], ["B"], ["C"]], labels, [0, 1], smoothing=1.0)
    assert rows[2][0].tolist() == [0.5, 0.0]  # C: never a candidate in training, the rate of all


def test_the_inner_choice_learns_the_rates_without_each_inner_part() -> None:
    rng = numpy.random.default_rng(4)
    X, y = _offers(rng, 12)
    given = list(range(12))
    seen: list[list[int]] = []

    def build(train):  # type: ignore[no-untyped-def]
        seen.append(list(train))
        return X

    assert choose(X, y, given, ("score", "coverage"), _judge(y), build=build) == choose(
        X, y, given, ("score", "coverage"), _judge(y))
    parts = [given[i::4] for i in range(4)]
    assert seen == [[o for o in given if o not in part] for part in parts]


def test_the_bins_and_the_word_competition_as_features() -> None:
    names = ("score", "coverage", "fiche_score", "token_set")
    rows = with_bins(numpy.array([[0.95, 0.6, 1.0, 0.0], [0.5, 1.0, 0.0, 0.7]]), names)
    assert rows.shape == (2, 4 + 14)
    assert rows[0, 4:8].tolist() == [1, 1, 1, 0] and rows[1, 8:12].tolist() == [1, 1, 1, 1]
    assert with_bins(numpy.zeros((0, 4)), names).shape == (0, 18)
    def scored(value: float) -> tuple[float, ...]:
        return tuple(value if name == "score" else 0.0 for name in FEATURES)

    a = Candidate(0, "A", 0, 9, frozenset({0, 1}), scored(0.9))
    b = Candidate(0, "B", 0, 9, frozenset({1, 2, 3, 4}), scored(0.7))
    c = Candidate(1, "C", 20, 29, frozenset({1}), scored(0.8))
    extra = with_overlap([b, a, c], numpy.zeros((3, 0)))
    assert extra[:, 0].tolist() == [0.25, 0.0, 0.0]  # B: one of its four words claimed by A; C: own clause
    assert extra[0, 1] == pytest.approx(numpy.log1p(1))


def test_the_reranker_turns_kept_candidates_into_mentions(gazetteer: Gazetteer) -> None:
    text = "Préparer les commandes; gestion du stock"
    clauses = clauses_of(text)
    # a model that trusts the exact reading of the label alone
    model = Model(("exact",), (0.5,), (0.5,), (4.0,), 0.0, 0.5)
    reranker = Reranker(Generator(gazetteer), model)
    mentions = reranker.mentions(clauses, text, [("N1103", 0.8)], [])
    assert [(m.code, m.method, m.text) for m in mentions] == [("100", "exact", "Préparer les commandes")]
    assert mentions[0].score == pytest.approx(1 / (1 + numpy.exp(-4.0)))


def test_a_model_with_item_rates_looks_them_up_and_its_bound_keeps_the_same_decisions(
    gazetteer: Gazetteer, tmp_path: Path,
) -> None:
    text = "Préparer les commandes; gestion du stock; conditionner les produits"
    clauses = clauses_of(text)
    generator = Generator(gazetteer)
    names = ("coverage", "exact", "ratio", "item_rate", "item_seen")
    # the item rate decides: "100" is learned right, "200" wrong, unseen items get the default rate
    model = Model(names, (0.0,) * 5, (1.0,) * 5, (0.5, 0.5, 0.5, 8.0, 0.0), -5.0, 0.5,
                  (("100", 0.9, 1.0), ("200", 0.05, 2.0)), 0.3)
    found = generator.candidates(clauses, text, [("N1103", 0.8)], [])
    rows = model.rows(found)
    for c, row in zip(found, rows, strict=True):
        assert tuple(row[3:]) == model.rate(c.code)
    kept = decide(found, model.probability(rows).tolist(), model.threshold)
    assert {k.code for k in kept} == {"100"}
    # the bound leaves out only candidates the model cannot keep: the same decisions
    mentions = Reranker(generator, model).mentions(clauses, text, [("N1103", 0.8)], [])
    assert [(m.code, m.start, m.end) for m in mentions] == [(k.code, k.start, k.end) for k in kept]
    assert len(generator.candidates(clauses, text, [("N1103", 0.8)], [], model)) < len(found)
    model.save(tmp_path / "m.json")
    assert Model.load(tmp_path / "m.json") == model


def test_the_model_rows_are_its_features_columns_in_its_order(gazetteer: Gazetteer) -> None:
    """Model.rows (one copy by index, the rates set per column) gives, column by column, the features the
    model names in its order and the item rates, wherever they stand among them."""
    text = "Préparer les commandes; gestion du stock; conditionner les produits"
    found = Generator(gazetteer).candidates(clauses_of(text), text, [("N1103", 0.8)], [])
    assert len(found) > 1
    names = ("item_seen", "ratio", "coverage", "item_rate", "score")
    model = Model(names, (0.0,) * 5, (1.0,) * 5, (1.0,) * 5, 0.0, 0.5, (("100", 0.9, 3.0),), 0.3)
    rows = model.rows(found)
    for c, row in zip(found, rows.tolist(), strict=True):
        rate, seen = model.rate(c.code)
        assert row == [seen, feature(c, "ratio"), feature(c, "coverage"), rate, feature(c, "score")]
    assert rows.flags["C_CONTIGUOUS"] and rows.dtype == numpy.float64


def test_the_pipeline_runs_the_second_stage_only_with_the_occupation_candidates(gazetteer: Gazetteer) -> None:
    from kg.nlp.pipeline import load_pipeline

    nlp = load_pipeline(gazetteer)
    component = nlp.get_pipe("pas_skill_linker")
    text = "Préparateur\nVos missions :\n- Préparer les commandes\n- gestion du stock"

    def codes(occupations: list[tuple[str, float]] | None) -> list[str]:
        doc = nlp.make_doc(text)
        doc._.occupations = occupations
        return [m.code for m in next(iter(nlp.pipe([doc])))._.skills]

    # no model: the first stage (the shipped model's own decisions on this toy gazetteer are no fixed fact:
    # they move with each refit)
    component.reranker = None
    assert codes([("N1103", 0.8)]) == ["100", "200"]
    component.reranker = Reranker(Generator(gazetteer), Model(("exact",), (0.5,), (0.5,), (4.0,), 0.0, 0.5))
    assert codes(None) == ["100", "200"]  # no occupation candidates: the first stage
    assert codes([("N1103", 0.8)]) == ["100"]  # the second stage keeps the exact reading only


def test_the_features_of_the_offer_around_a_clause(gazetteer: Gazetteer) -> None:
    text = "Préparer les commandes; préparation des commandes; gestion du stock"
    clauses = clauses_of(text)
    linked = [m for found in Linker(gazetteer).link_many([c[2] for c in clauses], text) for m in found]
    assert sorted({m.code for m in linked}) == ["100", "200"]
    found = Generator(gazetteer, fiches=1).candidates(clauses, text, [("N1103", 0.8)], linked)
    orders = [c for c in found if c.code == "100"]
    stock = next(c for c in found if c.code == "200")
    assert len(orders) == 2
    assert all(feature(c, "item_clauses") == pytest.approx(numpy.log1p(2)) for c in orders)
    assert all(feature(c, "linked_elsewhere") == 1.0 for c in orders)
    assert feature(stock, "linked_elsewhere") == 0.0
    assert feature(stock, "item_clauses") == pytest.approx(numpy.log1p(1))
    # the top fiche lists both linked items
    assert feature(stock, "fiche_linked") == pytest.approx(numpy.log1p(2))


def test_a_phrase_the_second_stage_drops_is_emerging_again(gazetteer: Gazetteer) -> None:
    from kg.nlp.pipeline import load_pipeline

    nlp = load_pipeline(gazetteer)
    component = nlp.get_pipe("pas_skill_linker")
    text = "Préparateur\nVos missions :\n- Préparer les commandes\n- gestion du stock"

    def run(occupations: list[tuple[str, float]] | None) -> tuple[list[str], list[str]]:
        doc = nlp.make_doc(text)
        doc._.occupations = occupations
        done = next(iter(nlp.pipe([doc])))
        return [m.code for m in done._.skills], [str(e["text"]) for e in done._.emerging]

    component.reranker = None  # (not the shipped model: its decisions here move with each refit)
    assert run([("N1103", 0.8)]) == (["100", "200"], [])  # the first stage links both, nothing emerges
    component.reranker = Reranker(Generator(gazetteer), Model(("exact",), (0.5,), (0.5,), (4.0,), 0.0, 0.5))
    component.forget()
    # the second stage keeps the exact reading only: the stock phrase is emerging, as if never linked
    assert run([("N1103", 0.8)]) == (["100"], ["gestion du stock"])
    # a model that keeps everything: nothing emerges
    component.reranker = Reranker(Generator(gazetteer), Model(("score",), (0.0,), (1.0,), (0.0,), 9.0, 0.5))
    assert run([("N1103", 0.8)])[1] == []


def test_the_switch_on_without_the_model_file_says_so(
    gazetteer: Gazetteer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kg.nlp.pipeline
    import kg.nlp.rerank

    monkeypatch.setattr(kg.nlp.pipeline, "RERANK", True)
    monkeypatch.setattr(kg.nlp.rerank, "MODEL_FILE", tmp_path / "rerank-model.json")
    with pytest.raises(FileNotFoundError, match="second stage is on but its model file"):
        kg.nlp.pipeline.load_pipeline(gazetteer)
    shipped = Path(kg.nlp.rerank.__file__).with_name("rerank-model.json")
    monkeypatch.setattr(kg.nlp.rerank, "MODEL_FILE", shipped)
    component = kg.nlp.pipeline.load_pipeline(gazetteer).get_pipe("pas_skill_linker")
    assert component.reranker is not None  # the shipped file: the second stage is on


def test_build_with_the_switch_on_and_no_model_file_stops_first_with_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: `kg build` used to find the missing file at the NLP stage, after every source, and word
    it as "cannot write the new build in …" (its handler for a full disk); now it stops before reading
    any source, with the cause, and leaves the store untouched."""
    from typer.testing import CliRunner

    import kg.nlp.rerank
    from kg.cli import app

    monkeypatch.setenv("PASSERELLES_NLP_RERANK", "1")
    monkeypatch.setattr(kg.nlp.rerank, "MODEL_FILE", tmp_path / "rerank-model.json")
    store = tmp_path / "store"
    result = CliRunner().invoke(app, ["build", "--store", str(store)])
    assert result.exit_code == 1, result.output
    assert "second stage is on but its model file" in result.output
    assert "cannot write" not in result.output and "records" not in result.output  # no source was read
    assert not store.exists() or not any(store.iterdir())


def test_the_model_file_is_package_data() -> None:
    """A non-editable install ships the model file (pyproject's package data names it)."""
    import fnmatch
    import tomllib

    from kg.nlp.rerank import MODEL_FILE

    root = Path(__file__).resolve().parents[1]
    declared = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = declared.get("package-data", {}).get("kg.nlp", [])
    assert MODEL_FILE.is_file() and any(fnmatch.fnmatch(MODEL_FILE.name, p) for p in patterns)


def _random_model(rng: numpy.random.Generator, names: tuple[str, ...]) -> Model:
    """A model over ``names`` with random means, scales, weights, bias and threshold, and a learned rate for
    item "100" (the bounds must hold for any model)."""
    return Model(names, tuple(rng.normal(scale=0.3, size=len(names)).tolist()),
                 tuple(rng.uniform(0.5, 2.0, size=len(names)).tolist()),
                 tuple(rng.normal(scale=1.5, size=len(names)).tolist()), float(rng.normal(scale=2.0)),
                 float(rng.uniform(0.1, 0.9)), (("100", 0.8, 1.0),), 0.2)


# Texts the prefilter tests read (requirements with tasks, a tool and qualities)
PREFILTER_TEXTS = (
    "Préparer les commandes; gestion du stock; conditionner les produits; rigueur et précision",
    "Préparation des commandes et gestion des stocks; conduite de chariot; produits conditionnés",
    "Vous préparez les commandes, gérez le stock et conduisez le chariot élévateur",
)


def _offer_inputs(
    gazetteer: Gazetteer, text: str, section: str
) -> tuple[list, list[tuple[str, float]], list]:
    """The clauses of ``text`` read as ``section``, two predicted fiches and the first stage's links: what
    the generator reads for one offer."""
    clauses = clauses_of(text, section)
    shipped = Linker(gazetteer).link_many([c[2] for c in clauses], text)
    return clauses, [("N1103", 0.8), ("N1101", 0.5)], [m for found in shipped for m in found]


def test_the_prefilter_leaves_out_only_candidates_the_bound_leaves_out(gazetteer: Gazetteer) -> None:
    rng = numpy.random.default_rng(7)
    dropped = left = exact_out = 0
    for seed in range(12):
        # some models read the label's structure too, all of it or the shipped part (their bound is then in
        # the prefilter's); the shipped part is the first of STRUCTURE_FEATURES
        structure = ((), STRUCTURE_FEATURES, SHIPPED_STRUCTURE)[seed % 3]
        names = (*BASE_FEATURES, *structure, *RATE_FEATURES)
        read = len(BASE_FEATURES) + len(structure)
        model = _random_model(rng, names)
        bound = model.bound
        for text in PREFILTER_TEXTS:
            for section in SECTIONS:
                clauses, predicted, linked = _offer_inputs(gazetteer, text, section)
                every = Generator(gazetteer, fiches=2).candidates(clauses, text, predicted, linked)
                # (and, the model reading the span's features, those hopeless once they are known)
                expected = [(c.clause, c.code, c.start, c.end, c.features[:read]) for c in every
                            if not bound.hopeless(c.features, c.code)
                            and not bound.hopeless_exactly(c.features, c.code)]
                exact_out += sum(not bound.hopeless(c.features, c.code) and bound.hopeless_exactly(
                    c.features, c.code) for c in every)
                kept = Generator(gazetteer, fiches=2).candidates(clauses, text, predicted, linked, model)
                got = [(c.clause, c.code, c.start, c.end, c.features[:read]) for c in kept]
                assert got == expected, (seed, text)
                dropped += len(every) - len(kept)
                left += len(kept)
    assert dropped and left  # the models leave out some candidates and keep others
    assert exact_out  # some only once their span's features are known


def test_a_clause_met_again_gets_the_same_candidates_and_a_changed_setting_is_not_read_from_memory(
    gazetteer: Gazetteer,
) -> None:
    generator = Generator(gazetteer)
    first = "Préparer les commandes;gestion du stock"
    second = "Conduire le chariot;gestion du stock;Préparer les commandes"  # the same two clauses, elsewhere
    predicted = [("N1103", 0.8)]
    generator.candidates(clauses_of(first), first, predicted)
    again = generator.candidates(clauses_of(second), second, predicted)
    fresh = Generator(gazetteer).candidates(clauses_of(second), second, predicted)
    assert again == fresh and len(generator._memo) == 3  # two of the three met before
    generator.linker.min_coverage = 0.99  # a setting changed on the instance: the memo is not read
    changed = generator.candidates(clauses_of(second), second, predicted)
    other = Generator(gazetteer, settings={**LIBERAL, "min_coverage": 0.99})
    assert changed == other.candidates(clauses_of(second), second, predicted)
    generator.forget()
    assert not generator._memo


def test_the_early_bound_leaves_out_only_candidates_the_model_cannot_keep() -> None:
    """Generator.early (perf only): the candidates the liberal linker does not even score are hopeless
    whatever their window, so a model that reads no other candidate's score gets the same candidates with
    and without it; an item with two forms (two entries) is left out only with both."""
    rows = [*ROWS, ("200", "Gestion de stock et inventaire", "savoir"),
            ("101", "Emballer les produits", "savoir-faire"),
            ("500", "Réception des marchandises", "savoir-faire"), ("600", "Préparation", "savoir")]
    fiches = [*FICHES, ("N1103", "500"), ("N1101", "600")]
    gazetteer = Gazetteer.from_rows(rows, (), fiches)
    texts = [
        "Préparer les commandes; gestion du stock et de l'inventaire; conditionner et emballer les produits",
        "Préparation des commandes et gestion des stocks; chariot; réception, contrôle, emballage",
        "Vous préparez les commandes, gérez le stock et conduisez le chariot élévateur; rigueur et précision",
    ]
    rng = numpy.random.default_rng(11)
    early_out = kept_total = 0
    for seed in range(16):
        structure = ((), STRUCTURE_FEATURES, SHIPPED_STRUCTURE)[seed % 3]  # some read the label's structure
        names = (*(f for f in BASE_FEATURES if f not in OTHERS_FEATURES), *structure, *RATE_FEATURES)
        model = _random_model(rng, names)
        for text in texts:
            for section in SECTIONS:
                clauses = clauses_of(text, section)
                # (the tiny gazetteer's idf are low: one-word list items name a task only with a low floor)
                for predicted, lone in (([("N1103", 0.8), ("N1101", 0.5)], 0.5), ([("N1101", 0.9)], 5.0)):
                    shipped = Linker(gazetteer).link_many([c[2] for c in clauses], text)
                    linked = [m for found in shipped for m in found]
                    settings = {**LIBERAL, "prior_lone_word": lone}
                    late = Generator(gazetteer, fiches=2, settings=settings, early=False)
                    expected = late.candidates(clauses, text, predicted, linked, model)
                    early = Generator(gazetteer, fiches=2, settings=settings)
                    got = early.candidates(clauses, text, predicted, linked, model)
                    # the same candidates, the same values of the features the model reads (best_other, margin
                    # and rank, not read, are those among the candidates scored)
                    assert [(c.clause, c.code, c.start, c.end, c.used) for c in got] == [
                        (c.clause, c.code, c.start, c.end, c.used) for c in expected]
                    if got:
                        assert numpy.array_equal(model.rows(got), model.rows(expected)), (seed, text, section)
                    early_out += sum(len(found[2][1]) for found in late._memo.values()) - sum(
                        len(found[2][1]) for found in early._memo.values())
                    kept_total += len(got)
    assert early_out > 0 and kept_total > 0  # some are left out before their window, some candidates kept


def test_the_early_bound_is_off_when_the_model_reads_the_other_candidates(gazetteer: Gazetteer) -> None:
    model = Model(BASE_FEATURES, (0.0,) * len(BASE_FEATURES), (1.0,) * len(BASE_FEATURES),
                  (0.1,) * len(BASE_FEATURES), 0.0, 0.5)
    generator = Generator(gazetteer)
    assert generator._early(model, [0.8]) is None
    reduced = tuple(f for f in BASE_FEATURES if f not in OTHERS_FEATURES)
    other = Model(reduced, (0.0,) * len(reduced), (1.0,) * len(reduced), (0.1,) * len(reduced), 0.0, 0.5)
    assert generator._early(other, [0.8, 0.5]) is not None
    assert generator._early(other, [0.5, 0.8]) is None  # fiche_score could pass 1: no early bound
    assert Generator(gazetteer, early=False)._early(other, [0.8]) is None


def _random_forest(rng: numpy.random.Generator, columns: int, count: int) -> Forest:
    """``count`` random trees of depth 1 to 3 over ``columns`` features, split on values in the rows' range,
    their leaves of either sign (mostly positive: the trees lift candidates over the threshold)."""
    return forest_of([random_tree(rng, columns, int(rng.integers(1, 4)), 0.8, (1.0, 2.0),
                                  lambda g: float(g.uniform(-0.5, 1.5))) for _ in range(count)])


def test_the_cascade_with_the_prefilter_decides_as_without_it(gazetteer: Gazetteer, tmp_path: Path) -> None:
    """A model with trees: the prefilter (and the early bound) bound the logistic's logit against the gate,
    so the reranker keeps exactly what the unfiltered cascade keeps — among them candidates whose logistic
    probability is under the threshold (a bound at the threshold would have dropped them)."""
    rng = numpy.random.default_rng(12)
    lifted = dropped = 0
    for seed in range(12):
        structure = ((), SHIPPED_STRUCTURE)[seed % 2]
        names = (*(f for f in BASE_FEATURES if f not in OTHERS_FEATURES), *structure, *RATE_FEATURES)
        model = replace(_random_model(rng, names), trees=_random_forest(rng, len(names), 6),
                        gate=float(rng.uniform(0.02, 0.3)))
        model = replace(model, threshold=max(model.threshold, model.gate + 0.05))
        logistic = replace(model, trees=None)
        for text in PREFILTER_TEXTS:
            for section in SECTIONS:
                clauses, predicted, linked = _offer_inputs(gazetteer, text, section)
                every = Generator(gazetteer, fiches=2).candidates(clauses, text, predicted, linked)
                if not every:
                    continue
                probabilities = model.probability(model.rows(every))
                kept = decide(every, probabilities.tolist(), model.threshold)
                reranker = Reranker(Generator(gazetteer, fiches=2), model)
                got = reranker.mentions(clauses, text, predicted, linked)
                assert [(m.start, m.end, m.code) for m in got] == sorted(
                    (k.start, k.end, k.code) for k in kept), (seed, text, section)
                base = logistic.probability(logistic.rows(every))
                at = {id(c): n for n, c in enumerate(every)}
                lifted += sum(base[at[id(k)]] < model.threshold for k in kept)
                dropped += int((base < model.gate).sum())
    assert lifted and dropped  # the trees keep some the logistic alone would not; the gate drops some
    model.save(tmp_path / "m.json")
    again = Model.load(tmp_path / "m.json")
    assert again == model and again.bound.below == model.bound.below


def test_a_model_without_trees_loads_and_bounds_as_before() -> None:
    """The fields ``trees`` and ``gate`` default to a plain logistic: an old model file reads the same, and
    its bound is at the threshold, not at the gate."""
    old = {"features": ["score"], "mean": [0.0], "scale": [1.0], "weights": [2.0], "bias": -1.0,
           "threshold": 0.4}
    model = Model.from_json(old)
    assert model.trees is None and model.gate == 0.0 and model.to_json() == old
    assert model.bound.below == pytest.approx(numpy.log(0.4 / 0.6) + 1.0 - 1e-6)  # score is no span feature
    # with trees, the bound reads the gate
    gated = replace(model, trees=_random_forest(numpy.random.default_rng(0), 1, 2), gate=0.1)
    assert gated.bound.below == pytest.approx(numpy.log(0.1 / 0.9) + 1.0 - 1e-6)


def test_candidates_under_the_gate_are_left_out_by_their_span_only_when_they_could_not_be_kept(
    gazetteer: Gazetteer,
) -> None:
    """The prefilter leaves out, once their span's features are known, candidates under the gate: they would
    get 0, which decide drops at a threshold above 0 — not at a threshold of 0, where they are kept."""
    rng = numpy.random.default_rng(5)
    names = (*(f for f in BASE_FEATURES if f not in OTHERS_FEATURES), *RATE_FEATURES)
    model = replace(_random_model(rng, names), trees=_random_forest(rng, len(names), 3), gate=0.2)
    generator = Generator(gazetteer, fiches=2)
    assert generator._prefilter(model).spans and model.bound.spans_decide
    anything = replace(model, threshold=0.0)
    assert not Generator(gazetteer)._prefilter(anything).spans and not anything.bound.spans_decide
    assert not any(anything.bound.hopeless_exactly(c.features, c.code) for text in PREFILTER_TEXTS
                   for c in generator.candidates(*_offer_inputs(gazetteer, text, "missions")[:1], text,
                                                 [("N1103", 0.8)]))
    without = _random_model(rng, tuple(f for f in names if f not in ("exact", "ratio", "token_set")))
    assert without.bound.spans_decide and not Generator(gazetteer)._prefilter(without).spans  # none read
