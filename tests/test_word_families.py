"""The word families of the lemma keys (kg.nlp.text.word_key): a verb and its action noun or
participle share a key, unrelated words that Snowball or the old folding put together do not.
The pairs come from the scan of the ROME labels' and the real offers' vocabulary
(benchmarks/word_families.py, docs/guides/word-families.md)."""

from __future__ import annotations

import pytest

from kg.nlp.text import family, verb_form, word_key

SAME = [
    # -ifier verbs: infinitive, participle, present, -ification noun, -ificateur
    ("vérifier", "vérification"), ("vérifier", "vérifié"), ("vérifier", "vérifiez"),
    ("vérifier", "vérificateur"), ("planifier", "planification"), ("planifier", "planifiées"),
    ("identifier", "identification"), ("identifier", "identifiés"), ("qualifier", "qualification"),
    ("qualifier", "qualifié"), ("certifier", "certification"), ("certifier", "certifié"),
    ("modifier", "modification"), ("classifier", "classification"), ("lubrifier", "lubrification"),
    ("stratifieur", "stratifier"), ("tarif", "tarification"),
    # -ication / -iquer, -ic / -iquer
    ("communiquer", "communication"), ("communiquer", "communiqué"), ("communiquer", "communicant"),
    ("fabriquer", "fabrication"), ("fabriquer", "fabricant"), ("appliquer", "applicable"),
    ("diagnostiquer", "diagnostic"), ("diagnostiquer", "diagnostique"), ("public", "publique"),
    # -uter / -ution
    ("exécuter", "exécution"), ("exécutant", "exécution"),
    # -ier verbs: participles and the present tense lose the i in Snowball
    ("négocier", "négocié"), ("négocier", "négociez"), ("négocier", "négociation"),
    ("associer", "associés"), ("apprécier", "appréciez"),
    # -age after a doubled consonant
    ("façonner", "façonnage"), ("étalonner", "étalonnage"), ("appareiller", "appareillage"),
    ("maçonner", "maçonnage"), ("tronçonner", "tronçonnage"), ("façonneur", "façon"),
    # exceptions
    ("travaux", "travail"), ("travailler", "travail"), ("encaisser", "encaissement"),
    # the families the folding had before, kept
    ("réaliser", "réalisation"), ("nettoyer", "nettoyage"), ("réactif", "réactivité"),
    ("réactive", "réactivité"), ("conduite", "conduire"), ("entretien", "entretenir"),
    ("soudure", "souder"), ("qualité", "qualités"),
]

APART = [
    ("qualification", "qualité"), ("qualifié", "qualité"), ("planification", "plan"),
    ("planifier", "plans"), ("classification", "classe"), ("communication", "commun"),
    ("communiqué", "commun"), ("certification", "certitude"), ("identification", "identité"),
    ("quantification", "quantité"), ("spécification", "spécifique"), ("données", "donner"),
    ("coordonnées", "coordonner"), ("connaissement", "connaissance"), ("confiées", "confiture"),
    ("férié", "fer"), ("formation", "forme"), ("relation", "relais"), ("médiation", "média"),
    ("bureautique", "bureau"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_family(a: str, b: str) -> None:
    assert word_key(a) == word_key(b), (a, word_key(a), b, word_key(b))


@pytest.mark.parametrize(("a", "b"), APART)
def test_apart(a: str, b: str) -> None:
    assert word_key(a) != word_key(b), (a, b, word_key(a))


def test_keys_read_like_the_verb() -> None:
    # The keys are the Snowball stems a reader expects (they appear in logs and in the gazetteer cache).
    assert [word_key(w) for w in ("vérification", "qualifié", "communication", "façonnage")] == [
        "verif", "qualif", "communiqu", "facon"]


def test_verb_form_keeps_other_words() -> None:
    for word in ("technique", "boulangerie", "souhaiteriez", "puissiez", "deveniez", "édifice", "négoce"):
        assert verb_form(word, word) == word


def test_family_short_stems_stay() -> None:
    # 4+ letters must remain after an ending: lev(age), dos(age) keep their own key
    assert family("levag") == "levag" and family("dosag") == "dosag"
