"""The regex tokenizer of the extraction: exact offsets on tricky French offer text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc

from kg.nlp.offer_tokenizer import OfferTokenizer
from kg.nlp.pipeline import EXCLUDED, MODEL

TOKENIZER = OfferTokenizer(spacy.blank("fr").vocab)


def words(text: str) -> list[str]:
    return [t.text for t in exact(text)]


def exact(text: str) -> Doc:
    """The doc of ``text``, checked: the text rebuilt, each token the text at its offset."""
    doc = TOKENIZER(text)
    assert doc.text == text
    for token in doc:
        assert text[token.idx : token.idx + len(token.text)] == token.text
        assert token.whitespace_ in ("", " ")
    return doc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l'équipe d’entretien", ["l'", "équipe", "d’", "entretien"]),
        ("qu'il, jusqu’au, lorsqu'elle", ["qu'", "il", ",", "jusqu’", "au", ",", "lorsqu'", "elle"]),
        ("aujourd'hui et aujourd’hui", ["aujourd'hui", "et", "aujourd’hui"]),
        ("d'1 an, 'guillemets' l’", ["d", "'", "1", "an", ",", "'", "guillemets", "'", "l", "’"]),
        ("Aide-soignant(e) H/F", ["Aide", "-", "soignant(e", ")", "H", "/", "F"]),
        ("Savoir-être, peut-être", ["Savoir", "-", "être", ",", "peut", "-", "être"]),
        ("CACES R489 et C.A.C.E.S cat.3", ["CACES", "R489", "et", "C.A.C.E.S", "cat.3"]),
        ("Bac+2 / Bac +3", ["Bac+2", "/", "Bac", "+", "3"]),
        ("organisé.e, rigoureux·se, créatif(ve)",
         ["organisé.e", ",", "rigoureux·se", ",", "créatif(ve", ")"]),
        ("fin.Rigueur et fin. Début", ["fin", ".", "Rigueur", "et", "fin", ".", "Début"]),
        ("10,5 km de 5h-13h/13h-21h à 10:30", ["10,5", "km", "de", "5h-13h/13h-21h", "à", "10:30"]),
        ("rh@exemple.fr, https://exemple.fr/offre?id=1.",
         ["rh@exemple.fr", ",", "https://exemple.fr/offre?id=1", "."]),
        ("(voir www.exemple.fr)", ["(", "voir", "www.exemple.fr", ")"]),
        ("• Rigueur\n- Autonomie\n✅Ponctualité 🔹 ⚡️ top",
         ["•", "Rigueur", "\n", "-", "Autonomie", "\n", "✅", "Ponctualité", "🔹", "⚡", "️", "top"]),
        ("Qualités... *** ---", ["Qualités", "...", "***", "---"]),
        ("2 000 € brut, 35%", ["2", "000", "€", "brut", ",", "35", "%"]),
        ("mot_clé", ["mot", "_", "clé"]),
    ],
)
def test_tricky_french(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_whitespace_is_kept_exactly() -> None:
    texts = ["", " ", "   ", "  deux espaces devant", "fin ", "a  b", "a \n b", "a\u00a0b",
             "a\t\tb \u2003c\n\n"]
    for text in texts:
        exact(text)
    doc = exact("a  b \n c")
    expected = [("a", " "), (" ", ""), ("b", " "), ("\n ", ""), ("c", "")]
    assert [(t.text, t.whitespace_) for t in doc] == expected


def test_registered_for_spacy_configs() -> None:
    nlp = spacy.blank("fr", config={"nlp": {"tokenizer": {"@tokenizers": "pas_offer_tokenizer"}}})
    assert isinstance(nlp.tokenizer, OfferTokenizer)
    assert [t.text for t in nlp("l'équipe")] == ["l'", "équipe"]
    assert [doc.text for doc in nlp.pipe(["a b", "c"])] == ["a b", "c"]


@pytest.mark.realdata
def test_exact_offsets_on_real_offers(shared_data: Path) -> None:
    path = shared_data / "offers" / "ft_offres_dep01_ain_2025-08.jsonl"
    offers = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for offer in offers:
        exact(f"{offer.get('intitule') or ''}\n{offer.get('description') or ''}")


def test_same_words_as_spacy_on_plain_french() -> None:
    """Away from hyphenated compounds, the words are spaCy's French tokenizer's."""
    nlp = spacy.load(MODEL, exclude=EXCLUDED)
    text = (
        "Vos missions : préparer les commandes, l'étiquetage et le contrôle qualité (H/F). "
        "Profil : CACES R489 cat. 3 exigé, permis B ; rigueur, ponctualité ! Salaire : 2 000 € brut/mois."
    )
    assert words(text) == [t.text for t in nlp.tokenizer(text)]
