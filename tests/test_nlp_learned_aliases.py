"""The learned aliases as the extraction runs them (kg/nlp/learned_aliases.py, kg/nlp/rerank.py) on hand-made
offers and gazetteers (no real text): the shipped generator proposes the alias candidates the CV proposed
(benchmarks/skill_aliases.py), whatever the model's bound leaves out, and `kg extract` names them "alias"."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy
import pyoxigraph as ox
import pytest
from typer.testing import CliRunner

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.learned_aliases import COLUMNS, Shipped, new_matches, text_key_set
from kg.nlp.rerank import (
    ALIAS_FEATURES,
    BASE_FEATURES,
    FEATURES,
    OFFER_FEATURES,
    OTHERS_FEATURES,
    RATE_FEATURES,
    SECTIONS,
    SHIPPED_STRUCTURE,
    STRUCTURE_FEATURES,
    Candidate,
    Generator,
    Model,
    Reranker,
)
from tests.test_nlp_rerank import FICHES, PREFILTER_TEXTS, ROWS, _offer_inputs, _random_model


def _benchmark_candidate() -> Callable[..., Candidate | None]:
    """benchmarks/skill_aliases.py's ``candidate`` (the CV's alias candidates), loaded from its file: putting
    benchmarks/ on sys.path would shadow packages (its graphql.py) for the test modules collected after."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "skill_aliases.py"
    spec = importlib.util.spec_from_file_location("skill_aliases_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module.candidate  # type: ignore[no-any-return]


candidate = _benchmark_candidate()


def shipped_table(phrases: list[tuple[str, str]]) -> Shipped:
    """A model file's table: each phrase's keys → item, as if two training offers had annotated it."""
    return Shipped(tuple(sorted((tuple(sorted(text_key_set(p))), code, 2, 3, 2) for p, code in phrases)))


# aliases on the prefilter texts' words: for items the liberal stage proposes there and for others
TABLE = shipped_table([("préparer les commandes", "100"), ("préparer les commandes", "101"),
                       ("stock", "200"), ("stock", "100"), ("produits", "101"), ("produits", "400"),
                       ("chariot", "400"), ("rigueur", "300"), ("commandes", "300")])


def test_the_columns_are_the_benchmarks() -> None:
    assert ALIAS_FEATURES == COLUMNS and not set(ALIAS_FEATURES) & set(FEATURES)


def test_the_shipped_alias_candidates_are_the_cvs_whatever_the_bound_leaves_out() -> None:
    """The rule "no candidate of the item on overlapping words" reads, in the extraction, the liberal
    candidates the CV read (all of them, no model: benchmarks/skill_aliases.py), though the model's bounds
    leave most of them out before they are scored: the aliases' items are protected from the early bound."""
    gazetteer = Gazetteer.from_rows(ROWS, (), FICHES)
    rng = numpy.random.default_rng(5)
    width = len(FEATURES) - len(OFFER_FEATURES)
    compared = mattered = 0
    for seed in range(9):
        structure = ((), STRUCTURE_FEATURES, SHIPPED_STRUCTURE)[seed % 3]
        names = (*(f for f in BASE_FEATURES if f not in OTHERS_FEATURES), *structure, *ALIAS_FEATURES,
                 *RATE_FEATURES)
        model = replace(_random_model(rng, names), aliases=TABLE)
        for text in PREFILTER_TEXTS:
            for section in SECTIONS:
                clauses, predicted, linked = _offer_inputs(gazetteer, text, section)
                found = Generator(gazetteer, fiches=2).candidates(clauses, text, predicted, linked, model)
                late = Generator(gazetteer, fiches=2, early=False).candidates(
                    clauses, text, predicted, linked, model)
                assert found == late  # the early bound changes nothing, the alias candidates included
                got = [(c.clause, c.code, c.start, c.end, c.used, c.features, c.alias)
                       for c in found if c.alias]
                # the CV's: every liberal candidate (no model), the aliases where none of their item is
                every = Generator(gazetteer, fiches=2).candidates(clauses, text, predicted, linked)
                spans = [(c.clause, c.code, c.start, c.end) for c in every]
                expected = []
                for m in new_matches(TABLE.matches(clauses), spans):
                    generator = Generator(gazetteer, fiches=2)
                    c = candidate(generator, clauses[m.clause], m.clause, text, predicted, m)
                    if c is not None:
                        expected.append((c.clause, c.code, c.start, c.end, c.used, c.features[:width],
                                         TABLE.columns(m)))
                assert got == expected, (seed, text, section)
                compared += len(got)
                # matches whose item's liberal candidate the bound left out: without the protection they
                # would have become candidates the CV never saw
                kept = {(c.clause, c.code) for c in found if not c.alias}
                mattered += sum((m.clause, m.code) not in kept and any(
                    (s[0], s[1]) == (m.clause, m.code) and s[2] < m.end and m.start < s[3] for s in spans)
                    for m in TABLE.matches(clauses))
                if found:  # the model reads the alias columns (0 for the others)
                    rows = model.rows(found)
                    column = model.features.index("learned_alias")
                    assert rows[:, column].tolist() == [1.0 if c.alias else 0.0 for c in found]
    assert compared > 0 and mattered > 0


def test_the_model_file_keeps_the_table(tmp_path: Path) -> None:
    model = Model(("learned_alias", "alias_keys"), (0.0, 0.0), (1.0, 1.0), (1.0, 0.5), -1.0, 0.5,
                  aliases=TABLE)
    model.save(tmp_path / "m.json")
    again = Model.load(tmp_path / "m.json")
    assert again == model and again.aliases.entries == TABLE.entries
    text = (tmp_path / "m.json").read_text(encoding="utf-8")
    assert '"aliases"' in text and "commandes" not in text  # lemma keys, no text


def test_kg_extract_names_an_alias_skill_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-made offer and gazetteer: a model that keeps only the alias candidates; `kg extract` writes the
    alias's item on the alias's words with method "alias"."""
    from kg import cli
    from kg.nlp import extract
    from kg.nlp.occupation import OccupationModel
    from kg.nlp.pipeline import Extractor, load_pipeline
    from tests.test_nlp import APPELLATIONS, OFFER, SKILLS

    gazetteer = Gazetteer.from_rows(SKILLS, APPELLATIONS, [("F1703", "100596"), ("F1703", "100854")])
    pipeline = load_pipeline(gazetteer)
    component = pipeline.get_pipe("pas_skill_linker")
    # "techniques de maçonnerie" read as quality control (two training offers said so): an item no liberal
    # candidate proposes there (the mesure-et-traçage item, listed by the fiche, is one on "techniques")
    table = shipped_table([("techniques de maçonnerie", "122384")])
    model = Model(("learned_alias",), (0.0,), (1.0,), (10.0,), -5.0, 0.5, aliases=table)
    component.reranker = Reranker(Generator(gazetteer, titles=component._titles), model)
    occupations = OccupationModel.from_labels(
        {"F1703": "Maçon / Maçonne"}, [("F1703", "Maçon en éco-construction")],
        {"F1703": ["Techniques de maçonnerie", "Techniques de mesure et traçage"]},
    )
    monkeypatch.setattr(extract, "make_extractor", lambda *_: Extractor(pipeline, occupations))
    store = tmp_path / "store"
    (store / "builds" / "b").mkdir(parents=True)
    ox.Store(str(store / "builds" / "b")).flush()
    (store / "current").symlink_to("builds/b")
    offers = tmp_path / "offers.jsonl"
    offers.write_text(json.dumps(OFFER) + "\n", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    result = CliRunner().invoke(cli.app, ["extract", str(offers), "--output", str(out),
                                          "--store", str(store)])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(s["code"], s["method"], s["text"]) for s in row["skills"]] == [
        ("122384", "alias", "techniques de maçonnerie")]
