"""Text normalisation for occupation prediction: accents, gender forms, offer-title noise, light stems.

Job titles in offers carry noise that no referential label has ("H/F", "(e)", "CDI", "Urgent",
"- Lyon", "2 Agents de production"); ROME labels carry both genders ("Vendeur / Vendeuse en
prêt-à-porter"). Both sides are reduced to the same stems so that simple token statistics match.

>>> clean_title("Opérateur(trice) machine de pliage F/H - ENERGIS RH (H/F)")
'operateur machine de pliage energis rh'
>>> stems("Aides ménagères à domicile")
['aide', 'menager', 'domicile']
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import pairwise

from kg.nlp.text import translate_sparse

# Function words of labels and titles; they carry no trade.
STOPWORDS = frozenset(
    [
        "a",
        "au",
        "aux",
        "avec",
        "ce",
        "ces",
        "chez",
        "d",
        "dans",
        "de",
        "des",
        "du",
        "en",
        "et",
        "l",
        "la",
        "le",
        "les",
        "leur",
        "ou",
        "par",
        "pour",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "un",
        "une",
        "vous",
        "nous",
        "votre",
        "vos",
        "notre",
        "nos",
        "qui",
        "que",
        "est",
        "sont",
        "etre",
        "il",
        "elle",
        "ils",
        "elles",
        "y",
        "ne",
        "pas",
        "plus",
        "tres",
        "ainsi",
        "afin",
        "dont",
        "leurs",
        "cette",
        "cet",
        "mon",
        "ma",
        "mes",
        "lui",
        "on",
        "si",
        "tout",
        "tous",
        "toute",
        "toutes",
    ]
)

# Words of offer titles that say nothing about the trade (contract, urgency, schedule, gender marks).
TITLE_NOISE = frozenset(
    [
        "h",
        "f",
        "hf",
        "fh",
        "cdi",
        "cdd",
        "cdii",
        "interim",
        "interimaire",
        "urgent",
        "urgence",
        "alternance",
        "apprentissage",
        "apprenti",
        "stage",
        "stagiaire",
        "temps",
        "plein",
        "partiel",
        "complet",
        "mi",
        "poste",
        "postes",
        "mission",
        "missions",
        "recrute",
        "recrutons",
        "recherche",
        "recherchons",
        "offre",
        "emploi",
        "contrat",
        "h/f",
        "job",
        "jobs",
        "n",
        "x",
        "e",
        "ere",
        "ne",
        "se",
        "le",
        "trice",
        "euse",
        "mois",
        "an",
        "ans",
        "heures",
        "heure",
        "h35",
        "35h",
        "39h",
        "24h",
        "semaine",
        "week",
        "end",
        "weekend",
        "immediat",
        "immediate",
        "pourvoir",
        "asap",
        "debutant",
        "debutants",
        "accepte",
        "experimente",
        "confirme",
        "senior",
        "junior",
    ]
)

# Each pattern starts with a character (or class) and looks behind after it, rather than with a lookbehind
# tried at every position: the regex engine then skips to the candidates (~5x faster on a description's
# lead). "(e)" after a letter; ".e" after a letter; "H/F", "(h - f)" not after a word character.
_PAREN_SUFFIX = re.compile(
    r"\((?<=\w\()\s*(?:e|es|ere|eres|ère|ères|trice|rice|euse|se|ne|nne|le|lle|ve|ive|ice|fe)\s*\)", re.I
)
_DOT_SUFFIX = re.compile(r"[.·](?<=\w[.·])(?:e|es|ere|ère|trice|euse|se|ne|ve|ive)\b", re.I)
_GENDER_MARK = re.compile(r"\(\b[hHfF]\s*[/-]\s*[hHfF]\b\)?|[hHfF](?<!\w[hHfF])\s*[/-]\s*[hHfF]\b\)?")
_WORD = re.compile(r"[a-z0-9]+")  # a normalised text's words: the rest separates them


def _fold_table() -> dict[int, str]:
    table = {ord("œ"): "oe", ord("æ"): "ae", ord("ß"): "ss", ord("’"): "'"}
    for code in range(0xC0, 0x250):
        base = "".join(c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c))
        if base != chr(code) and base.isascii():
            table[code] = base
    return table


# One str.translate call instead of a per-character loop: offers are long, and this runs on all of them.
_FOLD = _fold_table()


def strip_accents(text: str) -> str:
    """Lowercase ``text`` without diacritics (œ → oe).

    >>> strip_accents("Hôtesse de caisse ŒUVRE, Ça")
    'hotesse de caisse oeuvre, ca'
    """
    return translate_sparse(text.lower(), _FOLD)


# Perf only: an offer's description is normalised for its query tokens and for its copies' keys, its
# title for the title features and the nearest offers (a few entries suffice: one offer at a time).
@lru_cache(maxsize=16)
def normalise(text: str) -> str:
    """Lowercase, no accents, only letters and digits separated by single spaces.

    >>> normalise("Aide-soignant(e) / Aide-Soignante, CDI !")
    'aide soignant e aide soignante cdi'
    """
    return " ".join(_WORD.findall(strip_accents(text)))


@lru_cache(maxsize=16)
def clean_title(title: str) -> str:
    """A job offer title without gender marks, inclusive suffixes, contract words and counts.

    >>> clean_title("AIDE SOIGNANT (H/F)")
    'aide soignant'
    >>> clean_title("Assistant(e) administratif(ve) et comptable - CDI (H/F)")
    'assistant administratif et comptable'
    >>> clean_title("2 Agents de production (horaires journée)- URGENT")
    'agents de production horaires journee'
    >>> clean_title("Infirmier.e de nuit H/F")
    'infirmier de nuit'
    """
    text = _GENDER_MARK.sub(" ", title)
    text = _PAREN_SUFFIX.sub("", text)
    text = _DOT_SUFFIX.sub("", text)
    words = [w for w in normalise(text).split() if w not in TITLE_NOISE and not w.isdigit()]
    return " ".join(words)


# Feminine and plural endings mapped to the masculine singular, longest first.
_ENDINGS = (
    ("trices", "teur"),
    ("trice", "teur"),
    ("euses", "eur"),
    ("euse", "eur"),
    ("ieres", "ier"),
    ("iere", "ier"),
    ("eres", "er"),
    ("ere", "er"),
    ("iennes", "ien"),
    ("ienne", "ien"),
    ("ives", "if"),
    ("ive", "if"),
    ("antes", "ant"),
    ("ante", "ant"),
    ("entes", "ent"),
    ("ente", "ent"),
    ("ees", "e"),
    ("ee", "e"),
    ("elles", "el"),
    ("elle", "el"),
    ("onnes", "on"),
    ("onne", "on"),
    ("aux", "al"),
)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The masculine singular of a normalised word (a rough rule set, good enough for trades).

    >>> [stem(w) for w in ["vendeuses", "menagere", "soignante", "operatrice", "agents", "employee"]]
    ['vendeur', 'menager', 'soignant', 'operateur', 'agent', 'employe']
    """
    if len(word) <= 3:
        return word
    for ending, repl in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 2:
            return word[: -len(ending)] + repl
    if word[-1] in "sx" and len(word) > 4:
        return word[:-1]
    return word


PAIR_JOINER = "_"  # no normalised word holds it (normalise keeps letters, digits and spaces)


def pairs(words: list[str]) -> list[str]:
    """Adjacent-word bigrams, joined by ``PAIR_JOINER``.

    >>> pairs(["agent", "entretien", "locaux"])
    ['agent_entretien', 'entretien_locaux']
    """
    return [f"{a}{PAIR_JOINER}{b}" for a, b in pairwise(words)]


def stems(text: str) -> list[str]:
    """The stems of the content words of ``text``, in order.

    >>> stems("Conducteur / Conductrice de machines")
    ['conducteur', 'conducteur', 'machine']
    """
    return [stem(w) for w in normalise(text).split() if w not in STOPWORDS and len(w) > 1]


def gender_variants(label: str) -> list[str]:
    """The masculine and feminine readings of a ROME label written "Masc / Fem rest".

    ROME writes both genders of the first words only: "Représentant local / Représentante locale
    d'agence" means "Représentant local d'agence" and "Représentante locale d'agence".

    >>> gender_variants("Représentant local / Représentante locale d'agence réceptive")
    ["Représentant local d'agence réceptive", "Représentante locale d'agence réceptive"]
    >>> gender_variants("Maçon")
    ['Maçon']
    """
    if " / " not in label:
        return [label]
    masc, _, fem = label.partition(" / ")
    n = len(masc.split())
    rest = fem.split()[n:]
    return [" ".join([masc, *rest]), fem]
