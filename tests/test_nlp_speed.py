"""The perf-only rewrites of the extraction give the results of the code they replaced."""

from __future__ import annotations

import unicodedata

import pytest
from rapidfuzz import fuzz, process

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.linker import Linker, key_places
from kg.nlp.text import strip_accents, word_key
from tests.test_linker_scoring import score


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


@pytest.mark.parametrize("stage", ["first", "second"])
def test_a_repost_gets_the_results_of_its_first_copy_without_being_processed_again(
    stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kg.nlp.pipeline
    from kg.nlp.occupation import OccupationModel
    from kg.nlp.offers import Offer
    from kg.nlp.pipeline import Extractor, load_pipeline
    from kg.nlp.rerank import Generator, Model, Reranker

    # the first stage alone (PASSERELLES_NLP_RERANK=0), or the second with a model that keeps every candidate
    # (the shipped one, fitted on the real gazetteer, keeps nothing of this two-item one)
    monkeypatch.setattr(kg.nlp.pipeline, "RERANK", stage == "second")

    gazetteer = Gazetteer.from_rows(
        [("100596", "Techniques de maçonnerie", "savoir"),
         ("300460", "Faire preuve d'autonomie", "savoir-etre")]
    )
    model = OccupationModel.from_labels(
        {"F1703": "Maçon / Maçonne", "D1102": "Boulangerie"}, [],
        {"F1703": ["Techniques de maçonnerie"], "D1102": ["Pétrir la pâte"]},
    )
    calls: list[str] = []

    class Counting:
        def predict(self, title: str, text: str, k: int = 5) -> list[tuple[str, float]]:
            calls.append(title)
            return model.predict(title, text, k)

    nlp = load_pipeline(gazetteer)
    if stage == "second":
        component = nlp.get_pipe("pas_skill_linker")
        keep_all = Model(("score",), (0.0,), (1.0,), (0.0,), 9.0, 0.5)
        component.reranker = Reranker(Generator(gazetteer), keep_all)
    extractor = Extractor(nlp, Counting())
    text = "Profil :\n- Techniques de maçonnerie\n- Pose de bardage bois et enduits chaux"
    first = {"id": "1", "intitule": "Maçon H/F", "description": text, "romeCode": "F1703",
             "lieuTravail": {"commune": "14047"}}
    offers = [
        Offer("a.jsonl", 1, first),
        Offer("a.jsonl", 2, {**first, "id": "2", "lieuTravail": {"commune": "76540"}}),  # a repost
        Offer("a.jsonl", 3, {**first, "id": "3", "intitule": "Maçon"}),  # the same description, another title
        Offer("a.jsonl", 4, {**first, "id": "4", "romeCode": "D1102"}),  # the same text, declared otherwise
    ]
    results = list(extractor.extract(offers, batch_size=1))  # the repost is in another batch
    alone = [next(extractor.extract([offer])) for offer in offers]
    assert results == alone
    # the fourth offer is processed again: its skills are linked under another fiche
    assert calls == ["Maçon H/F", "Maçon", "Maçon H/F", "Maçon H/F", "Maçon H/F", "Maçon", "Maçon H/F"]
    assert [r["id"] for r in results] == ["1", "2", "3", "4"] and results[1]["commune"] == "76540"
    assert results[0]["skills"] and results[0]["emerging"]  # the test compares linked offers
    assert results[0]["emerging"][0] is not results[1]["emerging"][0]  # its own objects


def test_a_prior_given_as_parts_and_the_scores_given_their_clause_strengths_change_no_candidate() -> None:
    from kg.nlp.linker import words

    rows = [("1", "Lecture de plan", "savoir"), ("2", "Souder des pièces métalliques", "savoir-faire"),
            ("3", "Plan de soudure", "savoir"), ("4", "Contrôler des pièces", "savoir-faire"),
            ("5", "Réception", "savoir-faire"), ("6", "Meuler des pièces", "savoir-faire")]
    fiches = [("H2913", "1"), ("H2913", "2"), ("H2913", "5"), ("H2914", "3"), ("H2914", "4"), ("H2914", "6")]
    gazetteer = Gazetteer.from_rows(rows, (), fiches)
    settings = {"min_coverage": 0.6, "min_score": 0.5, "prior_coverage": 0.25, "prior_min_keys": 1,
                "prior_anchor": False, "prior_lone_word": 0.5}
    text = ("Lecture de plans, souder les pièces; réception, contrôle des pièces;"
            " pièces à souder, plan, pièces")
    clauses = [[(a + s, b + s, w) for a, b, w in words(p)] for s, p in _pieces(text)]
    parts = [gazetteer.fiche_items["H2913"], gazetteer.fiche_items["H2914"]]
    prior = parts[0] | parts[1]

    def summary(found: list) -> list:  # type: ignore[type-arg]
        return [(keyed, [(c.number, c.score, c.first, c.last, c.used, c.favoured) for c in scored])
                for keyed, scored in found]

    for linker in (Linker(gazetteer), Linker(gazetteer, **settings)):  # type: ignore[arg-type]
        whole = summary(linker.scored_many(clauses, text, prior))
        assert summary(linker.scored_many(clauses, text, prior, parts=parts)) == whole
        assert any(scored for _, scored in whole)
    # _score_found with the clause's key strengths and single places (None when a key repeats) and the total
    linker = Linker(gazetteer, **settings)  # type: ignore[arg-type]
    checked = repeated = 0
    for tokens in clauses:
        keyed = linker.keyed(tokens)
        positions = key_places(keyed)
        strength = {k: max(f for _, f in v) for k, v in positions.items()}
        once = all(len(v) == 1 for v in positions.values())
        single = {k: v[0][0] for k, v in positions.items()} if once else None
        repeated += not once
        linker._tokens, linker._keyed = tokens, keyed  # what _scored sets for _score_found
        for number, entry in enumerate(gazetteer.entries):
            if not entry.keyset & positions.keys():
                continue
            # the reference: the tightest-window search (no single places), the idf summed afresh
            slow = score(linker, entry, positions, 0.25, strength, None,
                         sum([gazetteer.idf[k] for k in entry.keys]))
            total = gazetteer.weights[number][1]
            fast = score(linker, entry, positions, 0.25, strength, single, total)
            assert fast == slow
            checked += slow is not None
    assert checked >= 4 and repeated  # scores found, and a clause where a key repeats


def _pieces(text: str) -> list[tuple[int, str]]:
    out, start = [], 0
    for piece in text.split(";"):
        out.append((start, piece))
        start += len(piece) + 1
    return out
