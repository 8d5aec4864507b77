"""The memo tokenizer of the extraction gives exactly spaCy's French tokens and offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from kg.nlp.pipeline import EXCLUDED, MODEL
from kg.nlp.tokenizer import MemoTokenizer

TEXTS = [
    "Chef d'équipe (H/F) - CDI\nVos missions :\n- l'entretien des locaux ;\n- la mise en rayon.",
    "Profil recherché  :  CACES R489 cat. 3, permis B.\tRigueur, ponctualité !",
    "Salaire : 2 000 € brut/mois, 35h/semaine. Contact : rh@exemple.fr ou https://exemple.fr/offre?id=1",
    "Aide-soignant(e)  \n\n  Qualités : aujourd'hui, c.-à-d. l'autonomie...",
    "Trailing space ",
    "  leading spaces then text",
    " one leading space",
    "nbsp\u00a0inside and \u00a0 mixed  \u2003 spaces",
    "",
    "   ",
    "Opérateur(trice) machine — 3x8 ; « horaires » : 5h-13h/13h-21h.",
]


@pytest.fixture(scope="module")
def nlp() -> Language:
    return spacy.load(MODEL, exclude=EXCLUDED)


def tokens(doc: spacy.tokens.Doc) -> list[tuple[int, str, str]]:
    return [(t.idx, t.text, t.whitespace_) for t in doc]


def test_same_tokens_as_spacy(nlp: Language) -> None:
    memo = MemoTokenizer(nlp.tokenizer)
    for _ in range(2):  # the second pass reads the memo
        for text in TEXTS:
            doc = memo(text)
            assert doc.text == text
            assert tokens(doc) == tokens(nlp.tokenizer(text)), text


def test_memo_is_bounded(nlp: Language) -> None:
    memo = MemoTokenizer(nlp.tokenizer, limit=3)
    for text in TEXTS:
        assert tokens(memo(text)) == tokens(nlp.tokenizer(text))
        assert len(memo._memo) <= 3


@pytest.mark.realdata
def test_same_tokens_on_real_offers(shared_data: Path, nlp: Language) -> None:
    path = shared_data / "offers" / "ft_offres_dep01_ain_2025-08.jsonl"
    offers = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    memo = MemoTokenizer(nlp.tokenizer)
    for offer in offers[:120]:
        text = (offer.get("intitule") or "") + "\n" + (offer.get("description") or "")
        assert tokens(memo(text)) == tokens(nlp.tokenizer(text)), offer["id"]
