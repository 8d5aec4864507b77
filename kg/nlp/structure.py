"""The structure of a ROME label, read once per gazetteer entry (no parser at run time): which of its keys
is the verb, which the head noun, which the complements, and how its conjuncts split it. The second stage
(:mod:`kg.nlp.rerank`) turns it into features of a candidate: a mention that has the label's verb and head
noun usually means the same thing even without the complements; one that has only the complements, or only
a light verb, usually does not.

A savoir-faire label is an infinitive (its first word, unless it is a light verb such as "réaliser") and an
object noun phrase, its head noun first, then complements after a preposition; a savoir is a head noun and
complements, a light head ("techniques de", "utilisation de") giving its role to the next noun. "et", "ou"
and commas split conjuncts; a conjunct that opens on an infinitive of a savoir-faire is a second verb.

>>> s = analyse("Surveiller les stocks et passer des commandes", "savoir-faire")
>>> s.verbs, s.head, s.complements, s.conjuncts
(('surveil', 'pass'), 'stock', (), (('surveil', 'stock'), ('pass', 'command')))
>>> s = analyse("Régler les paramètres des machines de production", "savoir-faire")
>>> s.verbs, s.head, s.complements
(('regl',), 'parametr', ('machin', 'product'))
>>> s = analyse("Techniques de ressemelage", "savoir")
>>> s.verbs, s.head, s.complements
((), 'ressemel', ())
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kg.nlp.text import form_key, strip_accents, word_key

# What comes before a complement (form keys: no accents)
PREPOSITIONS = frozenset({"de", "des", "du", "d", "en", "pour", "a", "au", "aux", "dans", "sur", "avec",
                          "par", "selon", "sous", "lors", "vers", "chez", "entre"})
CONJUNCTIONS = frozenset({"et", "ou"})
# Infinitives that say little of which task is meant (the noun after them does)
LIGHT_VERBS = frozenset({"realiser", "effectuer", "utiliser", "mettre", "proceder", "participer"})
# Head nouns that say little of which knowledge is meant (the noun of their complement does)
LIGHT_HEADS = frozenset({
    "technique", "techniques", "utilisation", "connaissance", "connaissances", "notion", "notions",
    "principe", "principes", "regle", "regles", "methode", "methodes", "bases", "fondamentaux", "usage",
})
_PIECE = re.compile(r"[^\W_]+|[,;/]")
_PARENS = re.compile(r"\s*\([^)]*\)")


@dataclass(frozen=True)
class Structure:
    """The roles of a label's keys: its verbs (the first, then those of coordinated conjuncts), its head
    noun, the complements of the head's conjunct, and each conjunct's keys."""

    verbs: tuple[str, ...] = ()
    head: str | None = None
    complements: tuple[str, ...] = ()
    conjuncts: tuple[tuple[str, ...], ...] = ()


# What follows a verb and rarely a noun: an article, a possessive, a preposition other than "de"
_AFTER_VERB = frozenset({"le", "la", "les", "l", "un", "une", "son", "sa", "ses", "leur", "leurs", "ce",
                         "cet", "cette", "ces", "a", "au", "aux", "en", "sur", "avec", "et", "ou"})


def _infinitive(form: str, kind: str, following: str | None) -> bool:
    """Whether a word that opens a label or a conjunct is an infinitive: a savoir-faire's, by its ending;
    another kind's ("Respecter les protocoles" is a savoir), also by what follows it ("Lecture de plans",
    "Cahier des charges" are nouns)."""
    if len(form) <= 3 or not form.endswith(("er", "ir", "re")):
        return False
    if kind == "savoir-faire":
        return True
    return not form.endswith("re") and (following is None or following in _AFTER_VERB)


def analyse(label: str, kind: str) -> Structure:
    """The structure of ``label`` (a ROME label or a form of it) of item kind ``kind``.

    >>> analyse("Recruter et intégrer une personne", "savoir-faire").verbs
    ('recrut', 'integr')
    >>> analyse("Réaliser des opérations de traitement thermique", "savoir-faire")  # a light verb
    Structure(verbs=(), head='oper', complements=('trait', 'thermiqu'), conjuncts=(('realis', 'oper', \
'trait', 'thermiqu'),))
    >>> analyse("Gestion des stocks", "savoir").head, analyse("Rigueur", "savoir-etre").head
    ('gestion', 'rigu')
    >>> analyse("Respecter les protocoles", "savoir").verbs, analyse("Lecture de plans", "savoir").verbs
    (('respect',), ())
    """
    verbs: list[str] = []
    head: str | None = None
    light: str | None = None  # a light head met before any other noun
    complements: list[str] = []
    conjuncts: list[list[str]] = [[]]
    head_conjunct = -1
    after_preposition = False
    opening = True  # the next word opens the label or a conjunct (no article before it)
    infinitive = False  # the label opens on an infinitive (light or not): a conjunct's may be another
    pieces = _PIECE.findall(label)
    forms = [strip_accents(piece.lower()) for piece in pieces]
    for place, piece in enumerate(pieces):
        form = forms[place]
        if piece in ",;/" or form in CONJUNCTIONS:
            if conjuncts[-1]:
                conjuncts.append([])
            after_preposition, opening = False, True
            continue
        if form in PREPOSITIONS:
            after_preposition = True
            opening = False
            continue
        key = word_key(piece)
        starts, opening = opening, False
        if key is None:
            continue
        conjuncts[-1].append(key)
        following = forms[place + 1] if place + 1 < len(forms) else None
        if starts and (len(conjuncts) == 1 or infinitive) and _infinitive(form, kind, following):
            infinitive = True
            if form not in LIGHT_VERBS:
                verbs.append(key)
            after_preposition = False
            continue
        if head is None:
            if form in LIGHT_HEADS and light is None:
                light = key
                continue
            head, head_conjunct = key, len(conjuncts) - 1
            after_preposition = False
            continue
        if after_preposition and head_conjunct == len(conjuncts) - 1:
            complements.append(key)
    if head is None and light is not None:
        head = light
    return Structure(
        tuple(dict.fromkeys(verbs)),
        head,
        tuple(k for k in dict.fromkeys(complements) if k != head and k not in verbs),
        tuple(tuple(dict.fromkeys(c)) for c in conjuncts if c),
    )


def entry_structure(label: str, form: str, kind: str) -> Structure:
    """The structure of a gazetteer entry: its label's (commas kept) when the entry's form is the label
    without its parentheses, else its form's (an acronym, an alias, a savoir-être's half).

    >>> entry_structure("Animaux d'élevage (bovins, ovins)", "animaux d elevage", "savoir").conjuncts
    (('animal', 'elev'),)
    >>> entry_structure("Etre à l'écoute, faire preuve d'empathie", "faire preuve d empathie",
    ...                 "savoir-etre").head
    'empath'
    """
    bare = _PARENS.sub("", label).strip()
    return analyse(bare if form_key(bare) == form else form, kind)


# The features a structure gives a candidate (kg.nlp.rerank.STRUCTURE_FEATURES), each in [0, 1]
FEATURES = (
    "verb_found",  # one of the label's (not light) verbs is found
    "head_found",  # its head noun is found
    "head_and_verb",  # the head and a verb (the head alone when the label has no verb)
    "complement_missing",  # the idf of the complements not found ÷ the label's
    "conjunct_coverage",  # the best coverage of one conjunct (the coverage when there is one)
    "mention_side_coverage",  # the share of the span's keyed words between punctuation that are the label's
)


def features(
    structure: Structure, idf: Mapping[str, float], total: float, found: Mapping[str, float],
    side: Sequence[str], keys: frozenset[str],
) -> tuple[float, float, float, float, float, float]:
    """:data:`FEATURES` of a candidate: ``found`` the clause's keys (key → best weight factor), ``total``
    the idf of the label's keys, ``side`` the keys of the span's keyed words between the clause's
    punctuation, ``keys`` the label's.

    >>> s = analyse("Surveiller les stocks et passer des commandes", "savoir-faire")
    >>> idf = {"surveil": 2.0, "stock": 2.0, "pass": 1.0, "command": 3.0}
    >>> features(s, idf, 8.0, {"stock": 1.0}, ["ger", "stock"], frozenset(idf))
    (0.0, 1.0, 0.0, 0.0, 0.5, 0.5)
    """
    missing = sum(idf.get(k, 0.0) for k in structure.complements if k not in found)
    best = 0.0
    for conjunct in structure.conjuncts:
        weight = sum(idf.get(k, 0.0) for k in conjunct)
        if weight > 0:
            best = max(best, sum(idf.get(k, 0.0) * found.get(k, 0.0) for k in conjunct) / weight)
    covered = sum(1 for k in side if k in keys) / len(side) if side else 0.0
    return (*core(structure, found), missing / total if total > 0 else 0.0, best, covered)


CORE = FEATURES[:3]  # verb_found, head_found, head_and_verb: what core() gives


def core(structure: Structure, found: Mapping[str, float]) -> tuple[float, float, float]:
    """The first three :data:`FEATURES` (:data:`CORE`) alone, the cheap ones.

    >>> core(analyse("Gérer les stocks", "savoir-faire"), {"stock": 1.0, "ger": 0.9})
    (1.0, 1.0, 1.0)
    """
    verb = any(v in found for v in structure.verbs)
    head = structure.head is not None and structure.head in found
    return 1.0 if verb else 0.0, 1.0 if head else 0.0, 1.0 if head and (verb or not structure.verbs) else 0.0
