"""The perf-only rewrites of the extraction give the results of the code they replaced."""

from __future__ import annotations

import unicodedata

from rapidfuzz import fuzz, process

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.linker import Linker
from kg.nlp.text import strip_accents, word_key


def test_fuzzy_key_lookup_by_length_matches_one_full_scan() -> None:
    labels = [
        "Électrotechnique industrielle", "Électromécanique", "Maintenance électromécanique",
        "Soudure à l'arc", "Soudage TIG", "Conduite de chariot élévateur", "Manutention",
        "Électricité du bâtiment", "Électronique embarquée", "Mécanique automobile",
    ]
    gazetteer = Gazetteer.from_rows([(str(i), label, "savoir") for i, label in enumerate(labels)])
    linker = Linker(gazetteer)
    queries = ["electrotechniqu", "electromecaniqu", "electromecanicien", "soudag", "manutentionn",
               "electronicien", "mecaniqu", "chariots", "electricit", "zzzzzzzz", "automobil"]
    for query in queries:
        cutoff = linker.fuzzy_word
        found = process.extractOne(query, linker._vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff)
        assert linker._closest_key(query) == (None if found is None else found[0]), query
    assert any(linker._closest_key(q) for q in queries)  # the test exercises matches, not only misses


def test_accent_folding_matches_whole_string_nfkd() -> None:
    def reference(text: str) -> str:
        text = text.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae")
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))

    samples = ["Œuvre à côté", "ﬁn ½ e\u0301té Ǆ ㈜ ß İ", "Électricien(ne) — soudure", "plain ascii",
               "".join(chr(i) for i in range(32, 0x2500))]
    for text in samples:
        assert strip_accents(text) == reference(text)
    assert word_key("Réalisation") == "realis"
