"""Text normalisation shared by the gazetteer, the linker and the emerging-skill grouping.

Two keys are used: the *form* key (lower case, no accents: what "exact" compares) and the
*lemma* key of a word (the form key reduced by the Snowball French stemmer, which folds
inflection — plural, feminine, conjugation — and the common nominalisations: ``réaliser`` and
``réalisation`` share ``realis``), then folded to its word family by a few derivational endings
Snowball keeps apart (``nettoyage``/``nettoyer``, ``conduite``/``conduire``,
``entretien``/``entretenir``, ``réactif``/``réactivité``, ``façonnage``/``façonner``,
``diagnostic``/``diagnostiquer``). Snowball decides some endings by the word's length, so a verb
and its noun can fall apart (``vérifier`` verifi, ``vérification`` verif; ``communiquer``
communiqu, ``communication`` commun, which is also the key of ``commun``): those forms are
rewritten to the verb before stemming (:func:`verb_form`). Function words carry no key.
``benchmarks/word_families.py`` counts the families on the real vocabulary.

>>> form_key("Maçonnerie  Générale")
'maconnerie generale'
>>> word_key("Réalisation"), word_key("réalisez"), word_key("de")
('realis', 'realis', None)
>>> word_key("nettoyage") == word_key("nettoyer"), word_key("conduite") == word_key("conduire")
(True, True)
>>> phrase_keys("Lecture de plans et interprétation des cotes")
['lect', 'plan', 'interpret', 'cot']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

import Stemmer

_STEMMER = Stemmer.Stemmer("french")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+", re.UNICODE)

# Function words, and the light verbs of ROME labels ("faire preuve de", "être capable de") and
# of offers ("vous assurez la conduite…") whose presence says nothing about which skill is meant
# (the noun "assurance" keeps its key: only the verb forms are listed).
STOP_WORDS = frozenset(
    """a à au aux avec ce ces cet cette d de des du dans en et ou où l la le les leur leurs un une par
    pour sur sous son sa ses se s sans y n ne pas plus moins très tres tout tous toute toutes qui
    que qu quoi dont lui elle il ils elles nous vous votre vos notre nos mon ma mes ton ta tes c j
    m t afin ainsi lors selon entre vers chez etc être etre avoir faire preuve capable capacité
    capacite savoir bonne bon bonnes bons type types cadre ensemble différents differents
    différentes differentes divers diverses autre autres tel telle tels telles assurer assurez
    assure assurerez assurant assurera""".split()  # noqa: SIM905
)


class _Folded(dict[int, str]):
    """Character → its NFKD decomposition without combining marks, filled on first use: one
    ``str.translate`` per text instead of a Python loop over its characters (perf only; NFKD
    decomposes character by character, so the result is the same as for the whole string)."""

    def __missing__(self, code: int) -> str:
        value = "".join(c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c))
        self[code] = value
        return value


_FOLDED = _Folded({ord("œ"): "oe", ord("Œ"): "Oe", ord("æ"): "ae", ord("Æ"): "Ae"})
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Below this length str.translate is the cheaper of the two ways of translate_sparse.
_SPARSE_FROM = 64


def translate_sparse(text: str, table: Mapping[int, str]) -> str:
    """``text.translate(table)`` for a ``table`` that leaves ASCII characters as they are, by one
    ``str.replace`` per distinct non-ASCII character of a long text (perf only: ``str.translate``
    looks every character up in the table, ~60 ns each; an offer has ~1,500 characters, ~3 % and
    a dozen distinct ones not ASCII). A character whose translation is not ASCII could be
    translated again by a later replace: such a text is translated by ``str.translate``.

    >>> text = "Élaborer des œuvres à côté ’ " * 3
    >>> translate_sparse(text, _FOLDED) == text.translate(_FOLDED), translate_sparse(text, _FOLDED)[:22]
    (True, 'Elaborer des oeuvres a')
    >>> text = "ǽ æ " * 20  # ǽ → æ (not ASCII), which str.translate does not translate again
    >>> translate_sparse(text, _FOLDED) == text.translate(_FOLDED) == "æ ae " * 20
    True
    """
    if text.isascii():
        return text
    if len(text) < _SPARSE_FROM:
        return text.translate(table)
    out = text
    for char in set(_NON_ASCII.findall(text)):
        try:
            value: str | int | None = table[ord(char)]
        except LookupError:  # str.translate keeps the character
            continue
        value = "" if value is None else chr(value) if isinstance(value, int) else value
        if value == char:
            continue
        if not value.isascii():
            return text.translate(table)
        out = out.replace(char, value)
    return out


def fold_text(text: str) -> str:
    """:func:`strip_accents` of a text met once (a whole offer), not kept in its cache of words and lines.

    >>> fold_text("Œuvre à côté")
    'Oeuvre a cote'
    """
    return translate_sparse(text, _FOLDED)


@lru_cache(maxsize=65536)
def strip_accents(text: str) -> str:
    """Text without diacritics (``œ`` and ``æ`` spelt out).

    >>> strip_accents("Œuvre à côté")
    'Oeuvre a cote'
    """
    if text.isascii():  # (translate_sparse's first two cases, without its call: words, lines)
        return text
    if len(text) < _SPARSE_FROM:
        return text.translate(_FOLDED)
    return translate_sparse(text, _FOLDED)


@lru_cache(maxsize=65536)
def form_key(text: str) -> str:
    """Lower case, no accents, apostrophes and dashes as spaces, single spaces.

    (Kept per text, perf only: the second stage reads the same spans, a window of a clause's words, for
    each item it proposes there, and job titles, words and boilerplate come back from offer to offer.)

    >>> form_key("Gestion  d'Équipe - chantier")
    'gestion d equipe chantier'
    """
    text = strip_accents(text.lower()).replace("’", " ").replace("'", " ").replace("-", " ")
    return " ".join(_WORD.findall(text))


@lru_cache(maxsize=262144)
def word_key(word: str) -> str | None:
    """The lemma key of one word, or None for a function word, a number or a lower-case single
    letter (a capital letter is kept: licence categories, "permis B").

    >>> word_key("B"), word_key("l")
    ('B', None)

    Inclusive spellings keep their first form: ``rigoureux.se``, ``créatif(ve``, ``organisé·e``.

    >>> word_key("rigoureux.se") == word_key("rigoureux"), word_key("créatif(ve") == word_key("créatif")
    (True, True)
    """
    if len(word) == 1 and word.isupper() and word not in "ÀÂÉÈÊ":
        return word
    word = inclusive_base(word)
    form = strip_accents(word.lower()).strip("'’-")
    if "'" in form or "’" in form:  # elided article glued to the word: d'autonomie
        form = re.split(r"['’]", form)[-1]
    if len(form) < 2 or form.isdigit() or form in _STOP_FORMS:
        return None
    return family(str(_STEMMER.stemWord(verb_form(word.lower(), form))))


# A participle of an -ier or -iquer verb (négocié, communiquée): Snowball drops its i (negoc,
# negoci) or reads -iqué as the adjective -ique (commun).
_PARTICIPLES = ("ié", "iée", "iés", "iées", "iqué", "iquée", "iqués", "iquées")
# Forms Snowball stems apart from their verb, rewritten to the verb: the -ifier verbs' forms, cut at
# different places by the word's length (vérifier verifi, vérifie verif, planification planif,
# modification modif); the -ication nouns whose ``ic`` Snowball deletes in long words
# (communication commun, application appliqu); the present tense -iez of the -ier verbs (vous
# négociez negoc), not the conditional nor the imperfect (aimeriez, puissiez, deveniez).
_VERB_ENDINGS = (
    (re.compile(r"(?<=if)i(?:e|es|ez|ent|ons|cations?|cateurs?|catrices?)$"), "ier"),
    (re.compile(r"(?<=[^f]i)cations?$"), "quer"),
    (re.compile(r"(?<=[^nrs]i)ez$"), "er"),
)


def verb_form(lower: str, form: str) -> str:
    """The infinitive standing for ``form`` (``lower`` without its accents) where Snowball would
    stem a verb's participle, present tense or action noun apart from the verb; ``form`` otherwise.

    >>> verb_form("négociées", "negociees"), verb_form("communiqué", "communique")
    ('negocier', 'communiquer')
    >>> verb_form("planification", "planification"), verb_form("vérifiez", "verifiez")
    ('planifier', 'verifier')
    >>> verb_form("communications", "communications"), verb_form("négociez", "negociez")
    ('communiquer', 'negocier')
    >>> verb_form("négocie", "negocie"), verb_form("aimeriez", "aimeriez")
    ('negocie', 'aimeriez')
    """
    for ending in _PARTICIPLES:
        if lower.endswith(ending):
            return form[: len(form) - len(ending) + ending.index("é")] + "er"
    for pattern, verb in _VERB_ENDINGS:
        if pattern.search(form):
            return pattern.sub(verb, form)
    return form


# Derivational endings of Snowball stems, longest first, with what they become: the noun of an
# action and its verb (-age, -ure, -tion, -ite), the -tien/-tenir verbs, y/i spellings, the
# adjective and its -ité noun, -ic/-iquer (diagnostic, fabricant, public/publique). Only applied
# when 4+ letters remain, so short stems stay apart.
_FAMILY_ENDINGS = (
    ("abilit", ""), ("ivit", ""), ("tien", "ten"), ("ation", ""), ("ition", ""), ("tion", "t"),
    ("ag", ""), ("ur", ""), ("it", ""), ("ir", ""), ("if", ""), ("iv", ""), ("ic", "iqu"), ("y", "i"),
    ("e", ""),
)
# Snowball's last step undoubles these endings (façonner facon), but not when the stem still had an
# ending family() removes (façonnage faconnag → faconn): undoubled after -age and -eur nouns (not
# after a plain -e: données donn stays apart from donner don).
_DOUBLED = ("enn", "onn", "ett", "ell", "eill")
# Stems no suffix rule relates: the -ail/-aux plural and its verb; exécuter, whose -ution noun
# Snowball cuts to -u (exécution execu) as for the -uer verbs (distribuer, évoluer); diagnostique,
# whose -ique Snowball strips as an adjective's (a rule would fold technique, mécanique…);
# encaissement, which Snowball keeps whole (a -ssement rule would put connaissement, a bill of
# lading, with connaissance).
_EXCEPTIONS = {
    "traval": "travail", "travaill": "travail", "execut": "execu", "diagnost": "diagnostiqu",
    "encaissement": "encaiss",
}


@lru_cache(maxsize=262144)
def family(stem: str) -> str:
    """The word-family key of a Snowball stem (see the module doc).

    >>> family("nettoyag"), family("nettoi"), family("entretien"), family("entreten")
    ('nettoi', 'nettoi', 'entreten', 'entreten')
    >>> family("reactivit"), family("reactif"), family("soudur"), family("soud"), family("pos")
    ('react', 'react', 'soud', 'soud', 'pos')

    An -ifier verb's stem keeps its ``if`` (qualifier is not qualité, planifier is not plan); the
    other rules: -age after a doubled consonant, -ic, the exceptions.

    >>> family("qualifi"), family("qualit"), family("planifi"), family("tarifi"), family("tarif")
    ('qualif', 'qual', 'planif', 'tarif', 'tarif')
    >>> family("faconnag"), family("facon"), family("diagnostic"), family("traval")
    ('facon', 'facon', 'diagnostiqu', 'travail')
    """
    undouble = False
    for _ in range(2):  # nettoyag → nettoy → nettoi
        if stem.endswith("ifi"):  # no other ending off: its "if" is not an adjective's (qualif ≠ qual)
            return stem[:-1]
        for ending, replacement in _FAMILY_ENDINGS:
            if stem.endswith(ending) and len(stem) - len(ending) >= 4:
                stem = stem[: len(stem) - len(ending)] + replacement
                undouble = undouble or ending in ("ag", "ur")
                break
        else:
            break
    if stem.endswith("ifi"):  # stratifieur → stratifie → stratifi
        return stem[:-1]
    if undouble and stem.endswith(_DOUBLED):
        stem = stem[:-1]
    return _EXCEPTIONS.get(stem, stem)


_INCLUSIVE = re.compile(r"^([^\W\d_]{3,})[.·(][^\W\d_]{1,4}\)?$")


# Bullet items glued together by a lost line break ("…efficacitéRigueur…", "…palettesTri…"): a
# lower-case word of 4+ letters running into a capitalised word. A word that starts with a capital
# ("PowerPoint") is left alone.
GLUE = re.compile(r"\b[^\W\d_A-ZÀ-Þ]{4,}(?=[A-ZÀ-Þ][^\W\d_A-ZÀ-Þ])")


def unglue(start: int, end: int, text: str) -> list[tuple[int, int, str]]:
    """A token's word core without its leading and trailing punctuation (a closing parenthesis
    of an inclusive spelling kept), cut where two words are glued (see ``GLUE``).

    >>> unglue(10, 13, "B."), unglue(0, 8, "-travail"), unglue(0, 11, "créatif(ve)")
    ([(10, 11, 'B')], [(1, 8, 'travail')], [(0, 11, 'créatif(ve)')])
    >>> unglue(0, 17, "efficacitéRigueur"), unglue(0, 3, "***")
    ([(0, 10, 'efficacité'), (10, 17, 'Rigueur')], [(0, 3, '***')])
    """
    if not text.isalnum():
        core = _CORE.search(text)
        if core is None:
            return [(start, end, text)]
        a, b = core.span()
        if b < len(text) and text[b] == ")" and "(" in text[a:b]:
            b += 1
        start, end, text = start + a, start + b, text[a:b]
    if text[:1].isupper() or text.islower() or not text[:1].isalpha():
        return [(start, end, text)]
    out = []
    cut = 0
    for match in GLUE.finditer(text):
        out.append((start + cut, start + match.end(), text[cut : match.end()]))
        cut = match.end()
    out.append((start + cut, end, text[cut:]))
    return out


_CORE = re.compile(r"[^\W_](?:.*[^\W_])?", re.DOTALL)


def inclusive_base(word: str) -> str:
    """The first form of an inclusive spelling (the word itself otherwise).

    >>> inclusive_base("organisé.e"), inclusive_base("créatif(ve)"), inclusive_base("cariste")
    ('organisé', 'créatif', 'cariste')
    """
    inclusive = _INCLUSIVE.match(word)
    return inclusive.group(1) if inclusive else word
_STOP_FORMS = frozenset(strip_accents(w) for w in STOP_WORDS)
_ALNUM_RUN = re.compile(r"[^\W_]+")


def words(text: str) -> list[tuple[int, int, str]]:
    """The words of ``text`` with their offsets (apostrophes split elided articles off).

    >>> words("l'équipe, 2 ans")
    [(0, 1, 'l'), (2, 8, 'équipe'), (10, 11, '2'), (12, 15, 'ans')]
    """
    return [(match.start(), match.end(), match.group()) for match in _ALNUM_RUN.finditer(text)]


def phrase_keys(text: str) -> list[str]:
    """The lemma keys of a phrase's content words, in order."""
    return [k for w in _ALNUM_RUN.findall(text) if (k := word_key(w)) is not None]  # the words of words()


def content_form(text: str) -> str:
    """The form keys of a phrase's content words.

    >>> content_form("Faire preuve d'autonomie")
    'autonomie'
    """
    return " ".join(form_key(w) for w in _ALNUM_RUN.findall(text) if word_key(w) is not None)


@lru_cache(maxsize=65536)
def normalise_phrase(text: str) -> str:
    """The grouping key of a phrase: its content words, lower case, without accents, in the
    singular (a final ``s`` of a word of 4+ letters dropped, ``-aux`` → ``-al`` left alone), in order.

    >>> normalise_phrase("Pose d'Enduits chaux-chanvre")
    'pose enduit chaux chanvre'
    >>> normalise_phrase("pose des enduits chaux chanvre")
    'pose enduit chaux chanvre'
    """
    return " ".join(f for w in _ALNUM_RUN.findall(text) if (f := _phrase_form(w)) is not None)


@lru_cache(maxsize=262144)
def _phrase_form(word: str) -> str | None:
    """A word's part of :func:`normalise_phrase` (None: a function word), kept per word."""
    if word_key(word) is None:
        return None
    form = strip_accents(word.lower())
    if len(form) >= 4 and form[-1] == "s" and not form.endswith(("ss", "us", "is")):
        form = form[:-1]
    return form
