"""The second stage's values kept per argument (perf only, session 19): ``phrase_key`` per span,
``_Bound.phrase_part`` per (item, phrase), ``_span_values`` per (label form, span) give what computing them
afresh gives, on a first read, a second one and after their table was emptied for its bound."""

from __future__ import annotations

import random

import pytest
from rapidfuzz import fuzz

from kg.nlp import rerank
from kg.nlp.associations import text_keys
from kg.nlp.gazetteer import Gazetteer
from kg.nlp.phrase_rates import PhraseTable, phrase_key
from kg.nlp.rerank import Model
from kg.nlp.text import form_key

WORDS = ("gestion", "des", "stocks", "Rigueur", "budgétaire", "la", "accueil", "client", "caisse", "d'équipe",
         "Chef", "conduite", "chariot", "CACES", "1", "sécurité", "-", ",")


def _spans(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5))) for _ in range(count)]


def test_phrase_key_kept_per_span_is_the_phrase_computed_afresh() -> None:
    rng = random.Random(1)
    for span in _spans(rng, 300) * 2:
        assert phrase_key(span) == " ".join(sorted(text_keys(span)))


def test_span_values_kept_per_form_and_span_are_those_computed_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [("1", "Gestion des stocks", "savoir"), ("2", "Conduite de chariot", "savoir-faire"),
            ("3", "Accueil client", "savoir-faire"), ("4", "Rigueur", "savoir-etre")]
    entries = Gazetteer.from_rows(rows).entries
    monkeypatch.setattr(rerank, "SPAN_VALUES", 7)  # emptied every 7 pairs
    rng = random.Random(2)
    for span in _spans(rng, 200) * 2:
        entry = rng.choice(entries)
        form = form_key(span)
        expected = (1.0 if form == entry.form else 0.0, fuzz.ratio(form, entry.form) / 100.0,
                    fuzz.token_set_ratio(form, entry.form) / 100.0)
        assert rerank._span_values(entry, span) == expected
        assert rerank._span_values(entry, span) == expected
        assert len(rerank._SPAN_VALUES) <= 7


def test_phrase_part_kept_per_item_and_phrase_is_the_part_computed_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = PhraseTable((("p", "A", 3.0, 3.0), ("q", "A", 0.0, 2.0), ("p", "B", 1.0, 4.0)),
                        (("p", 2.0, 5.0), ("r", 0.0, 1.0)), 0.5, 1.0)
    model = Model(("pair_rate", "pair_seen", "phrase_rate", "phrase_seen"), (0.0,) * 4, (1.0, 2.0, 0.5, 3.0),
                  (2.0, -1.0, 0.7, 0.3), 0.0, phrases=table, default_rate=0.2,
                  rates=(("A", 0.4, 1.0),))
    bound = model.bound
    monkeypatch.setattr(rerank, "PHRASE_PARTS", 3)
    places = [(0, 2.0 / 1.0), (1, -1.0 / 2.0), (2, 0.7 / 0.5), (3, 0.3 / 3.0)]
    rng = random.Random(3)
    for _ in range(200):
        code, phrase = rng.choice("ABC"), rng.choice(("p", "q", "r", "s"))
        values = table.values(code, phrase, model.rate(code)[0])
        expected = sum([a * values[i] for i, a in places])
        assert bound.phrase_part(code, phrase) == expected
        assert bound.phrase_part(code, phrase) == expected
        assert len(bound._phrase_parts) <= 3
