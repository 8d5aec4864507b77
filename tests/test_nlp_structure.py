"""The label structure (kg.nlp.structure) and the second stage's features read from it."""

from __future__ import annotations

import re

import pytest

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.rerank import FEATURES, STRUCTURE_FEATURES, Candidate, Generator, Model
from kg.nlp.structure import analyse, entry_structure

ROWS = [
    ("100", "Gérer les stocks", "savoir-faire"),
    ("101", "Surveiller les stocks", "savoir-faire"),
    ("102", "Régler les paramètres des machines de production", "savoir-faire"),
    ("103", "Recruter et intégrer une personne", "savoir-faire"),
    ("200", "Techniques de vente", "savoir"),
    ("201", "Réaliser des opérations de maintenance", "savoir-faire"),
]
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")


def clauses_of(text: str) -> list[tuple[int, int, list[tuple[int, int, str]], str]]:
    """One clause, its punctuation kept as tokens (as the pipeline's clauses have it)."""
    return [(0, len(text), [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)], "missions")]


def values(text: str, code: str) -> dict[str, float]:
    # every item listed by the predicted fiche: the liberal linker proposes partial matches of them
    generator = Generator(Gazetteer.from_rows(ROWS, (), [("F1", row[0]) for row in ROWS]))
    found = [c for c in generator.candidates(clauses_of(text), text, [("F1", 1.0)]) if c.code == code]
    assert len(found) == 1, (text, code)
    return {f: found[0].features[FEATURES.index(f)] for f in STRUCTURE_FEATURES}


@pytest.mark.parametrize(("label", "kind", "verbs", "head", "complements"), [
    ("Gérer les stocks", "savoir-faire", ("ger",), "stock", ()),
    ("Régler les paramètres des machines de production", "savoir-faire", ("regl",), "parametr",
     ("machin", "product")),
    ("Recruter et intégrer une personne", "savoir-faire", ("recrut", "integr"), "person", ()),
    ("Réaliser des opérations de maintenance", "savoir-faire", (), "oper", ("mainten",)),  # a light verb
    ("Techniques de vente", "savoir", (), "vent", ()),  # a light head
    ("Respecter les protocoles", "savoir", ("respect",), "protocol", ()),  # a savoir can be a task
    ("Lecture de plans", "savoir", (), "lect", ("plan",)),  # a noun in -re is no verb
    ("Cahier des charges", "savoir", (), "cahi", ("charg",)),  # nor one in -er before "des"
])
def test_the_roles_of_a_labels_keys(
    label: str, kind: str, verbs: tuple[str, ...], head: str, complements: tuple[str, ...]
) -> None:
    structure = analyse(label, kind)
    assert (structure.verbs, structure.head, structure.complements) == (verbs, head, complements)


def test_conjuncts_split_at_et_ou_and_commas_of_the_label_not_of_its_parentheses() -> None:
    assert analyse("Surveiller les stocks et passer des commandes", "savoir-faire").conjuncts == (
        ("surveil", "stock"), ("pass", "command"))
    assert entry_structure("Animaux d'élevage (bovins, ovins)", "animaux d elevage", "savoir").conjuncts == (
        ("animal", "elev"),)


def test_the_mention_side_tells_the_label_that_says_all_of_it_from_the_one_that_says_more() -> None:
    """"gérer les stocks" is all covered by *Gérer les stocks*, half by *Surveiller les stocks*, which has
    its head noun but not its verb (the words after the comma are another stretch)."""
    text = "gérer les stocks, accueil"
    exact = values(text, "100")
    broader = values(text, "101")
    assert exact["mention_side_coverage"] == 1.0 and broader["mention_side_coverage"] == 0.5
    assert (exact["verb_found"], exact["head_found"], exact["head_and_verb"]) == (1.0, 1.0, 1.0)
    assert (broader["verb_found"], broader["head_found"], broader["head_and_verb"]) == (0.0, 1.0, 0.0)
    assert broader["conjunct_coverage"] > 0.0


def test_the_head_without_the_complements_and_one_conjunct_alone() -> None:
    machines = values("régler les paramètres", "102")
    assert machines["head_and_verb"] == 1.0 and 0.0 < machines["complement_missing"] < 1.0
    recruit = values("recruter", "103")
    assert (recruit["verb_found"], recruit["head_found"], recruit["conjunct_coverage"]) == (1.0, 0.0, 1.0)


def test_a_model_that_reads_no_structure_feature_gets_zeros_for_them() -> None:
    """(perf only) the features are computed only for a model that reads them."""
    gazetteer = Gazetteer.from_rows(ROWS)
    names = ("score", "coverage")
    model = Model(names, (0.0, 0.0), (1.0, 1.0), (1.0, 1.0), 0.0, 0.01)
    text = "gérer les stocks"
    kept: list[Candidate] = Generator(gazetteer).candidates(clauses_of(text), text, [], model=model)
    assert kept and all(c.features[FEATURES.index(f)] == 0.0 for c in kept for f in STRUCTURE_FEATURES)
