"""The perf-only rewrites outside the skill linker (docs/guides/extraction-first-stage-cost.md) give
what the code they replaced gave: accent folding, the occupation model's token ids and title rows,
the tokenizer's and the segmenter's regular expressions, the language check. The previous forms are
written out here as the references."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kg.nlp import occupation_text, segment, text
from kg.nlp.occupation import OccupationModel
from kg.nlp.occupation_index import SharedVocabulary, TfIdfIndex
from kg.nlp.occupation_text import pairs
from kg.nlp.offer_tokenizer import _TOKEN, _TOKEN_NO_EMAIL
from kg.nlp.offers import _ENGLISH, _FRENCH, is_french, read_offers

from .test_occupation import TEST_BASE, offer_store

# Characters that fold to ASCII, to nothing ASCII (Greek, ǽ → æ), not at all (emojis), spaces and marks.
ALPHABET = [
    *"aeéèêàçôûïœŒæÆßǽǼÅŉ’'-./()@·hHfF ΣσάñÑ\t\n\xa0*•✓➢😀İĳ1234_",
    "aujourd'hui", "www.", "https://", "l'", "qu’", "@a.fr", "H/F", "h / f", "**", ". A", "; -",
]


def random_texts(count: int, longest: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest))) for _ in range(count)]


@pytest.mark.parametrize("table", [text._FOLDED, occupation_text._FOLD], ids=["text", "occupation_text"])
def test_sparse_translation_is_str_translate(table: dict[int, str]) -> None:
    samples = [*random_texts(3000, 120), "".join(chr(i) for i in range(32, 0x2500)), "é" * 200, ""]
    for sample in samples:
        assert text.translate_sparse(sample, table) == sample.translate(table), sample


def test_occupation_normalise_is_the_previous_substitution() -> None:
    non_word = re.compile(r"[^a-z0-9]+")
    for sample in random_texts(2000, 120):
        expected = " ".join(non_word.sub(" ", sample.lower().translate(occupation_text._FOLD)).split())
        assert occupation_text.normalise(sample) == expected, sample


PREVIOUS_TITLE_PATTERNS = [
    (occupation_text._PAREN_SUFFIX, re.compile(
        r"(?<=\w)\(\s*(?:e|es|ere|eres|ère|ères|trice|rice|euse|se|ne|nne|le|lle|ve|ive|ice|fe)\s*\)", re.I
    ), ""),
    (occupation_text._DOT_SUFFIX,
     re.compile(r"(?<=\w)[.·](?:e|es|ere|ère|trice|euse|se|ne|ve|ive)\b", re.I), ""),
    (occupation_text._GENDER_MARK, re.compile(r"\(?\b[hf]\s*[/-]\s*[hf]\b\)?", re.I), " "),
]


def test_title_cleaning_patterns_replace_what_the_previous_ones_replaced() -> None:
    rng = random.Random(17)
    pieces = [*"aeEhHfF(). ·sSvVnN/-\t_1é", "(e)", "(E)", "( ve )", ".e", "·ive", "(trice)", "(h/f)", "F-H)"]
    samples = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))) for _ in range(30000)]
    samples += random_texts(2000, 40, seed=19)
    for new, previous, replacement in PREVIOUS_TITLE_PATTERNS:
        for sample in samples:
            assert new.sub(replacement, sample) == previous.sub(replacement, sample), (new.pattern, sample)


def test_bigrams_found_from_token_ids_are_the_bigram_strings() -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(12)]
    documents = [rng.sample(words, 4) for _ in range(6)]
    documents = [d + pairs(d) for d in documents]
    documents.append(["x1_x2", "w3_x9"])  # bigrams whose halves are no token: still found
    shared = SharedVocabulary([TfIdfIndex(documents), TfIdfIndex([["w1", "w2", "w1_w2"]])], joiner="_")
    for _ in range(300):
        sequence = [rng.choice([*words, "x1", "x2", "x9", "inconnu"]) for _ in range(rng.randint(0, 15))]
        tokens = sequence + pairs(sequence)
        fast = shared.known_with_pairs([shared.sequence_id(t) for t in sequence])
        slow = shared.known(tokens)
        assert [a.tolist() for a in fast] == [a.tolist() for a in slow], sequence
        assert fast[0].dtype == slow[0].dtype


@pytest.fixture(scope="module")
def model() -> OccupationModel:
    return OccupationModel.from_store(offer_store(), TEST_BASE)


OFFERS = [
    ("Agent d'entretien (H/F)", "Nettoyage des locaux, des bureaux et des sanitaires. Autolaveuse."),
    ("Cariste H/F", "Conduite de chariot élévateur en entrepôt ; chargement des camions."),
    ("Agent d'entretien H/F", "Entretien des bâtiments : petites réparations, peinture, serrures."),
    ("Menuisier / Menuisière d'agencement", "Pose de cuisines et d'agencements, le soir et le week-end."),
    ("Infirmier de nuit", ""),
    ("Technicien de surface (H/F)", "Nettoyage des bureaux et des sanitaires le soir."),
]


def test_the_offer_token_ids_are_those_of_its_tokens(model: OccupationModel) -> None:
    for title, description in OFFERS:
        fast = model._known_offer(title, description)
        slow = model._known(model.tokens(title, description))
        assert [[a.tolist() for a in k] for k in fast] == [[a.tolist() for a in k] for k in slow]


def test_title_rows_kept_per_title_are_the_rows_computed_afresh(model: OccupationModel) -> None:
    """The same arrays, bit for bit, whether the title's rows were kept from an earlier offer or not, and
    as without the kept rows (features from explicit tokens)."""
    model.forget()
    first = [model.rerank_features(t, x) for t, x in OFFERS]
    again = [model.rerank_features(t, x) for t, x in OFFERS]  # every title's rows kept by now
    model.forget()
    fresh = [model.rerank_features(t, x) for t, x in reversed(OFFERS)][::-1]
    for a, b, c in zip(first, again, fresh, strict=True):
        assert a.tobytes() == b.tobytes() == c.tobytes()
    for title, description in OFFERS:
        memo = model.features(title, description)
        plain = model.features(title, description, model.tokens(title, description))
        assert memo.tobytes() == plain.tobytes()
    assert model._title_memo  # the rows were kept


# The tokenizer's pattern before it read each word once (commit dd1b1e1).
_ALNUM, _LETTER, _UPPER, _LOWER = r"[^\W_]", r"[^\W\d_]", "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
_JOIN = (
    rf"(?:(?<![{_LOWER}])\.(?={_ALNUM})|\.(?![{_UPPER}])(?={_ALNUM})|·(?={_LETTER})|\+(?={_ALNUM})"
    rf"|[,\-/:](?=\d)|(?<={_LETTER})\((?={_LETTER}))"
)
PREVIOUS_TOKEN = re.compile(
    r"(\s+"
    r"|(?:https?://|www\.)[^\s<>\"«»]*[^\s<>\"«».,;:!?)\]'’]"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?i:aujourd['’]hui)"
    rf"|{_ALNUM}*{_LETTER}['’](?={_LETTER})"
    rf"|{_ALNUM}+(?:{_JOIN}{_ALNUM}+)*"
    r"|([^\w\s])\2*"
    r"|_+"
    r")( ?)"
)


def test_tokenizer_pattern_finds_the_previous_tokens() -> None:
    for sample in random_texts(20000, 16) + random_texts(500, 300, seed=8):
        expected = PREVIOUS_TOKEN.findall(sample)
        assert _TOKEN.findall(sample) == expected, sample
        if "@" not in sample:
            assert _TOKEN_NO_EMAIL.findall(sample) == expected, sample


PREVIOUS_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-ÖØ-Þ•\-–✓➢])|\s+(?=[•✓✔➢➤►▪■])|\s*\*{2,}\s*")
PREVIOUS_NOT_REQUIREMENT = re.compile(segment._NOT_REQUIREMENT.pattern.replace(
    r"h(?<!\wh)\s*/\s*f\b|f(?<!\wf)\s*/\s*h\b", r"\bh\s*/\s*f\b|\bf\s*/\s*h\b"
))


def test_segmenter_patterns_find_what_the_previous_ones_found() -> None:
    assert PREVIOUS_NOT_REQUIREMENT.pattern != segment._NOT_REQUIREMENT.pattern
    samples = random_texts(20000, 16) + random_texts(500, 300, seed=9)
    samples += ["Salaire : 2000 €", "poste h/f", "Ah/f", "chef/h", "CDI. Rigueur", "x ** y", "a. ✓b"]
    for sample in samples:
        spans = [m.span() for m in segment._SENTENCE_END.finditer(sample, 1)]
        assert spans == [m.span() for m in PREVIOUS_SENTENCE_END.finditer(sample, 1)], sample
        folded = text.strip_accents(sample.lower())
        assert bool(segment._NOT_REQUIREMENT.search(folded)) == bool(PREVIOUS_NOT_REQUIREMENT.search(folded))


def test_a_piece_key_is_its_folded_form() -> None:
    """segment() keys a piece by strip_accents(piece.lower()) with ’ as ', which is _line_key of the piece
    (_pieces leaves no bullet nor space at its ends)."""
    for sample in random_texts(3000, 60, seed=5):
        for a, b in segment._pieces(sample, 0, len(sample)):
            piece = sample[a:b]
            assert segment._line_key(piece) == text.strip_accents(piece.lower()).replace("’", "'"), piece


def previous_normalise_phrase(phrase: str) -> str:
    out = []
    for _, _, word in text.words(phrase):
        if text.word_key(word) is None:
            continue
        form = text.strip_accents(word.lower())
        if len(form) >= 4 and form[-1] == "s" and not form.endswith(("ss", "us", "is")):
            form = form[:-1]
        out.append(form)
    return " ".join(out)


def test_phrase_keys_and_forms_are_those_of_the_words() -> None:
    samples = [*random_texts(3000, 40, seed=13), "Pose d'Enduits chaux-chanvre", "Faire preuve d'autonomie"]
    for sample in samples:
        assert text.normalise_phrase(sample) == previous_normalise_phrase(sample), sample
        found = [w for _, _, w in text.words(sample)]
        assert text.phrase_keys(sample) == [k for w in found if (k := text.word_key(w)) is not None]
        assert text.content_form(sample) == " ".join(
            text.form_key(w) for w in found if text.word_key(w) is not None
        )


def previous_is_french(description: str) -> bool:
    tokens = re.findall(r"[a-z]+", text.strip_accents(description.lower()))
    if len(tokens) < 8:
        return not sum(t in _ENGLISH for t in tokens) > sum(t in _FRENCH for t in tokens)
    french = sum(t in _FRENCH for t in tokens)
    english = sum(t in _ENGLISH for t in tokens)
    return french >= english and french >= 0.03 * len(tokens)


def test_language_check_decides_as_before() -> None:
    rng = random.Random(11)
    vocabulary = [*_FRENCH, *_ENGLISH, "maçon", "rigueur", "Équipe", "THE", "été"]
    for _ in range(2000):
        sample = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 30)))
        assert is_french(sample) == previous_is_french(sample), sample


def test_real_offers_read_the_same(shared_data: Path, model: OccupationModel) -> None:
    """On real Ain offers: the tokens, the normalised words, the offer's token ids (the test model's
    vocabulary), the pieces' keys and the language check as before."""
    path = shared_data / "offers" / "ft_offres_dep01_ain_2025-08.jsonl"
    offers = [o for o in read_offers(path) if hasattr(o, "data")][:80]
    assert offers
    non_word = re.compile(r"[^a-z0-9]+")
    for offer in offers:
        sample = offer.title + "\n" + offer.description
        expected = PREVIOUS_TOKEN.findall(sample)
        assert (_TOKEN if "@" in sample else _TOKEN_NO_EMAIL).findall(sample) == expected
        assert occupation_text.normalise(sample) == " ".join(
            non_word.sub(" ", sample.lower().translate(occupation_text._FOLD)).split()
        )
        fast = model._known_offer(offer.title, offer.description)
        slow = model._known(model.tokens(offer.title, offer.description))
        assert [[a.tolist() for a in k] for k in fast] == [[a.tolist() for a in k] for k in slow]
        for a, b in segment._pieces(sample, 0, len(sample)):
            piece = sample[a:b]
            assert segment._line_key(piece) == text.strip_accents(piece.lower()).replace("’", "'")
        assert is_french(offer.description) == previous_is_french(offer.description)
