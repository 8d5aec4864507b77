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
# postings of key ids (CSR): where each key id's entry numbers start in the second array (one slot more
# than the vocabulary: the padding id, no entry), the entry numbers key by key
_Postings = tuple["numpy.ndarray", "numpy.ndarray"]
# (key id, entry number) pairs sorted by key id: the key ids, the entry numbers
_Sorted = tuple["numpy.ndarray", "numpy.ndarray"]
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


def declared_first(predicted: Sequence[tuple[str, float]], declared: str | None,
                   most: int = 5) -> list[tuple[str, float]]:
    """The fiches an offer's skills are linked under: its declared ROME code first, at the top predicted
    score, then the predicted fiches without it (``most`` in all); the predicted ones alone when it
    declares none. The occupation prediction never reads the declared code (it is what that benchmark
    checks); the skill linking may, as the recruiter's word on the offer's trade: under the grouped CV it
    links more of the annotated requirements (docs/guides/skill-declared-prior.md).

    >>> declared_first([("K1302", 0.9), ("K1304", 0.5)], "K1304")
    [('K1304', 0.9), ('K1302', 0.9)]
    >>> declared_first([("K1302", 0.9)], None), declared_first([], "F1703")
    ([('K1302', 0.9)], [('F1703', 1.0)])
    """
    if not declared:
        return list(predicted[:most])
    top = predicted[0][1] if predicted else 1.0
    return [(declared, top), *[p for p in predicted if p[0] != declared][: most - 1]]


def key_places(keyed: Sequence[tuple[int, str, float]]) -> dict[str, list[tuple[int, float]]]:
    """Each key's (place, weight factor) in a clause's keyed words (:meth:`Linker.keyed`), a place being the
    keyed word's number.

    >>> key_places([(0, "regl", 1.0), (2, "machin", 0.85), (3, "regl", 0.9)])
    {'regl': [(0, 1.0), (2, 0.9)], 'machin': [(1, 0.85)]}
    """
    positions: dict[str, list[tuple[int, float]]] = {}
    for order, (_, key, factor) in enumerate(keyed):
        positions.setdefault(key, []).append((order, factor))
    return positions


def run_starts(values: numpy.ndarray) -> numpy.ndarray:
    """Where each run of equal neighbours starts: for sorted values, the first of each distinct value (perf
    only: ``numpy.unique`` sorts again and costs several times more at a few thousand values).

    >>> run_starts(numpy.array([2, 2, 5, 7, 7])).tolist()
    [True, False, True, True, False]
    >>> run_starts(numpy.array([], dtype=numpy.int64)).tolist()
    []
    """
    starts = numpy.empty(len(values), dtype=bool)
    if len(values):
        starts[0] = True
        numpy.not_equal(values[1:], values[:-1], out=starts[1:])
    return starts


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
        # (the keys by length, then in sorted order, each length a run of columns of one table of histograms
        # with a row per character: a lookup reads the runs of the lengths it can reach at once, and only the
        # rows of its word's characters — perf only)
        ordered = [key for length in sorted(by_length) for key in by_length[length]]
        self._ordered = ordered
        self._ordered_lengths = numpy.array([len(key) for key in ordered], dtype=numpy.int64)
        self._runs: dict[int, tuple[int, int]] = {}
        start = 0
        for length in sorted(by_length):
            self._runs[length] = (start, start + len(by_length[length]))
            start += len(by_length[length])
        self._histograms = numpy.ascontiguousarray(self._histogram_rows(ordered).T)
        self._fuzzy = lru_cache(maxsize=65536)(self._closest_key)
        # Perf only: a word's key and weight factor (or ()), one dict lookup per word of a clause.
        self._keyed_words: dict[str, tuple[str, float] | tuple[()]] = {}
        self._keyed_for = self.fuzzy_word
        self._clauses: dict[int, tuple[Sequence[Token], float, list[tuple[int, str, float]]]] | None = None
        self._by_code: dict[str, list[int]] = {}
        for number, entry in enumerate(self.gazetteer.entries):
            self._by_code.setdefault(entry.code, []).append(number)
        self._masks: dict[frozenset[str], numpy.ndarray] = {}  # a prior's entries (kept per prior)
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
        self._weight = numpy.zeros((1, padding + 1), dtype=numpy.float64)
        # Perf only: the candidates of all the clauses of an offer gathered in one numpy pass (the sets of
        # a clause's keys' entries were united clause by clause in Python, and a prior's index built per
        # fiche from each item's part): the gazetteer's index as postings; per prior and setting, its
        # entries by the keys a partial match needs and its tasks by any key (_prior_postings)
        index = self.gazetteer.index
        self._index_postings = self._postings(
            numpy.array([key_id[k] for k, found in index.items() for _ in found], dtype=numpy.int64),
            numpy.array([n for found in index.values() for n in found], dtype=numpy.int64),
        )
        self._task = numpy.array([e.kind == "savoir-faire" for e in self.gazetteer.entries], dtype=bool)
        self._idf_padded = numpy.append(self._idf, 0.0)  # (the padding key's: 0)
        self._prior_found: dict[tuple[frozenset[str], bool, float], tuple[_Sorted, _Sorted]] = {}
        # Perf only: the per-entry part of the order of a clause's candidates (_scored): a savoir-être item,
        # then the entry with more keys, then its code
        self._tie = [(e.kind != "savoir-etre", -len(e.keys), e.code) for e in self.gazetteer.entries]

    def _postings(self, keys: numpy.ndarray, numbers: numpy.ndarray) -> _Postings:
        """Postings of (key id, entry number) pairs: each key id's entry numbers, ascending, each once."""
        order = numpy.lexsort((numbers, keys))
        keys, numbers = keys[order], numbers[order]
        distinct = run_starts(keys) | run_starts(numbers)  # (key, entry) pairs once
        keys, numbers = keys[distinct], numbers[distinct]
        starts = numpy.zeros(len(self._vocabulary) + 2, dtype=numpy.int64)
        numpy.cumsum(numpy.bincount(keys, minlength=len(self._vocabulary) + 1), out=starts[1:])
        return starts, numbers

    @staticmethod
    def _gather(
        first: numpy.ndarray, counts: numpy.ndarray, numbers: numpy.ndarray, ids: numpy.ndarray,
        rows: numpy.ndarray,
    ) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """The entries posted under key ids ``ids`` (key id ``ids[i]``'s are ``counts[i]`` entry numbers of
        ``numbers`` from ``first[i]``): for each (key id, entry) found, its row (that of its key id in
        ``rows``), the entry number and the key id."""
        ends = numpy.cumsum(counts)
        # each posting's place in numbers: its key id's first, plus its rank among that key id's
        places = numpy.repeat(first - ends + counts, counts) + numpy.arange(ends[-1] if len(ends) else 0)
        return rows.repeat(counts), numbers.take(places), ids.repeat(counts)

    def _posted(
        self, postings: _Postings, ids: numpy.ndarray, rows: numpy.ndarray
    ) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """:meth:`_gather` from postings (CSR)."""
        starts, numbers = postings
        first = starts.take(ids)
        return self._gather(first, starts.take(ids + 1) - first, numbers, ids, rows)

    def _sorted_gather(
        self, pairs: _Sorted, ids: numpy.ndarray, rows: numpy.ndarray
    ) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """:meth:`_gather` from (key id, entry) pairs sorted by key id."""
        keys, numbers = pairs
        first = keys.searchsorted(ids)
        return self._gather(first, keys.searchsorted(ids, "right") - first, numbers, ids, rows)

    def _needed_keys(self, numbers: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        """The keys of entries ``numbers`` that a partial match of an item of the prior needs, as (key id,
        entry number) pairs: with ``prior_anchor`` the rarest key alone (the first of the largest idf);
        else the heaviest keys whose complement weighs less than ``prior_coverage`` (as the gazetteer's own
        index does for ``min_coverage``; ties of idf in the label's order, the rest subtracted key by
        key)."""
        if not len(numbers):
            return numbers, numbers
        padded = self._keys_padded[numbers]
        held = padded != len(self._vocabulary)
        lengths = held.sum(axis=1)
        padded, held = padded[:, : lengths.max()], held[:, : lengths.max()]
        values = numpy.where(held, self._idf_padded.take(padded), -numpy.inf)
        if self.prior_anchor:
            rarest = values.argmax(axis=1)  # the first of the largest
            has = lengths > 0
            return padded[numpy.arange(len(padded)), rarest][has], numbers[has]
        order = numpy.argsort(-values, axis=1, kind="stable")  # heaviest first, ties in the label's order
        ranked = numpy.take_along_axis(padded, order, axis=1)
        weight = numpy.take_along_axis(values, order, axis=1)
        take = numpy.zeros(padded.shape, dtype=bool)
        totals = self._totals.take(numbers)
        rest = totals.copy()
        least = self.prior_coverage * totals
        going = lengths > 0
        for column in range(padded.shape[1]):
            going &= column < lengths
            take[:, column] = going
            rest -= numpy.where(going, weight[:, column], 0.0)
            going &= ~(rest < least)
        return ranked[take], numpy.repeat(numbers, take.sum(axis=1))

    def _prior_postings(self, prior: frozenset[str]) -> tuple[_Sorted, _Sorted]:
        """The prior's entries by the keys a partial match needs (:meth:`_needed_keys`), and its tasks (its
        savoir-faire entries) by any of their keys, as pairs sorted by key id (kept per prior and setting:
        an offer's clauses, and offers of the same fiche, share them)."""
        setting = (prior, self.prior_anchor, self.prior_coverage)
        found = self._prior_found.get(setting)
        if found is None:
            by_code = self._by_code
            numbers = numpy.array([n for code in prior for n in by_code.get(code, ())], dtype=numpy.int64)
            keys, owners = self._needed_keys(numbers)
            order = keys.argsort(kind="stable")
            tasks = numbers[self._task[numbers]]
            padded = self._keys_padded[tasks]
            held = padded != len(self._vocabulary)
            task_keys = padded[held]
            task_owners = numpy.repeat(tasks, held.sum(axis=1))
            task_order = task_keys.argsort(kind="stable")
            if len(self._prior_found) >= 1024:  # a fiche's items, or (the first stage) one or a few fiches
                self._prior_found.clear()
            found = self._prior_found[setting] = (
                (keys[order], owners[order]), (task_keys[task_order], task_owners[task_order])
            )
        return found

    def _prior_mask(self, prior: frozenset[str]) -> numpy.ndarray:
        """A mask of the prior's entries (kept per prior: an offer's clauses, and offers of the same fiche,
        share it)."""
        mask = self._masks.get(prior)
        if mask is None:
            mask = numpy.zeros(len(self.gazetteer.entries), dtype=bool)
            by_code = self._by_code
            mask[[n for code in prior for n in by_code.get(code, ())]] = True
            if len(self._masks) >= 1024:  # a fiche's items, or (the first stage) one or a few fiches
                self._masks.clear()
            self._masks[prior] = mask
        return mask

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
        self, ids: numpy.ndarray, id_rows: numpy.ndarray, count: int, numbers: numpy.ndarray,
        rows: numpy.ndarray, need: numpy.ndarray | float,
    ) -> numpy.ndarray:
        """The coverage bound of candidates ``numbers``, candidate ``i`` being one of clause ``rows[i]``
        (of ``count``) whose keys are those of key ids ``ids`` in row ``rows[i]`` of ``id_rows``: the weight
        of its keys present in its clause, or -1 when that is under ``need`` of its total (the cheap upper
        bound of coverage)."""
        if count > len(self._weight):  # one row per clause of the offer
            self._weight = numpy.zeros((count, len(self._idf) + 1), dtype=numpy.float64)
        weight = self._weight  # the idf of each clause's keys in its row, 0 elsewhere (reset below)
        width = weight.shape[1]
        flat = weight.ravel()
        # each key's cell (row, key id) in the flattened table (one index array, not two: perf only)
        written = ids + id_rows * width
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
        # fuzz.ratio(a, b) <= 200 * min(len) / (len(a) + len(b)): other lengths cannot reach the cutoff (those
        # that can are a run of lengths, hence of the ordered keys).
        n = len(key)
        reachable = [self._runs[length] for length in self._by_length
                     if 200 * min(n, length) / (n + length) >= self.fuzzy_word]
        if not reachable:
            return None
        first, last = min(start for start, _ in reachable), max(end for _, end in reachable)
        histogram = self._histogram_rows([key])[0]
        slack = 1.0 - self.fuzzy_word / 100.0
        # ratio = 100 * (1 - indel / (n + length)) and indel >= the histograms' L1 distance, which is the sum
        # of both histograms (n + length) less twice what they share (read in the word's characters' rows)
        columns = numpy.flatnonzero(histogram)
        shared = numpy.minimum(self._histograms[columns, first:last], histogram[columns, None]).sum(axis=0)
        lengths = self._ordered_lengths[first:last]
        near = numpy.flatnonzero(lengths + n - 2 * shared <= slack * (n + lengths) + 1e-9)
        kept_by_length: dict[int, list[str]] = {}  # each length's keys still in sorted order
        for place in (near + first).tolist():
            choice = self._ordered[place]
            kept_by_length.setdefault(len(choice), []).append(choice)
        best: tuple[float, str] | None = None
        for kept in kept_by_length.values():
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
        prior_mask: numpy.ndarray | None = None
        pieces: list[frozenset[str]] = []
        if prior_codes:
            pieces = [p for p in parts if p] if parts is not None else []
            if not pieces:
                pieces = [prior_codes]
            masks = [self._prior_mask(p) for p in pieces]
            prior_mask = masks[0] if len(masks) == 1 else numpy.logical_or.reduce(masks)
        key_id = self._key_id
        found: list[tuple[list[tuple[int, str, float]], dict[str, list[tuple[int, float]]]]] = []
        ids: list[int] = []  # the key ids of each clause's keys, clause after clause
        counts: list[int] = []  # how many each clause has
        synonyms = self.synonym_weight > 0 and self.synonyms
        for tokens in clauses:
            keyed = self.keyed(tokens)
            positions = key_places(keyed)
            if synonyms:
                literal = set(positions)  # a key the clause writes is not also read through a synonym
                for order, (_, key, factor) in enumerate(keyed):
                    for other, _similarity in self.synonyms.get(key, ()):
                        if other not in literal:
                            positions.setdefault(other, []).append((order, factor * self.synonym_weight))
                known = [key_id[k] for k in positions if k in key_id]  # (a synonym no label has: no entry)
            else:
                known = [key_id[k] for k in positions]
            ids += known
            counts.append(len(known))
            found.append((keyed, positions))
        id_array = numpy.array(ids, dtype=numpy.int64)
        id_rows = numpy.repeat(numpy.arange(len(clauses), dtype=numpy.int64), counts)
        candidates_all, row_of, lone_keys, learned_all, lone_clause = self._candidates(
            clauses, text, found, id_array, id_rows, prior_codes, pieces)
        if not len(candidates_all):
            return [(keyed, []) for keyed, _ in found]
        starts = numpy.searchsorted(row_of, numpy.arange(len(clauses) + 1))
        need_of: numpy.ndarray | float = self.min_coverage
        if prior_mask is not None:
            low = min(self.prior_coverage, self.min_coverage)
            need_of = numpy.where(prior_mask[candidates_all], low, self.min_coverage)
            if self.prior_lone_word is not None or (self.assoc_lift is not None and self.associations):
                lone_prior = prior_mask[candidates_all] & lone_clause[row_of]
                need_of = numpy.where(lone_prior, 0.0, need_of)
        reaches = self._reachable(id_array, id_rows, len(clauses), candidates_all, row_of, need_of)
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
            if first == last:  # no candidate (perf only: most clauses of the second stage, once pruned)
                out.append((keyed, []))
                continue
            kept = list(zip(kept_numbers[first:last], kept_reach[first:last], strict=True))
            away = sections is not None and sections[number] in self.one_word_savoir_away
            out.append(
                (keyed, self._scored(
                    tokens, prior_codes, keyed, positions, kept, away, lone_keys[number], learned_all[number],
                ))
            )
        return out

    def _candidates(
        self, clauses: Sequence[Sequence[Token]], text: str | None,
        found: Sequence[tuple[list[tuple[int, str, float]], dict[str, list[tuple[int, float]]]]],
        id_array: numpy.ndarray, id_rows: numpy.ndarray, prior_codes: frozenset[str],
        pieces: Sequence[frozenset[str]],
    ) -> tuple[numpy.ndarray, numpy.ndarray, list[dict[str, int]], list[dict[str, tuple[int, float]]],
               numpy.ndarray]:
        """The candidate entries of the clauses (:meth:`scored_many`; ``found``: each clause's keyed words
        and key places, ``id_array``: their keys' ids, clause after clause, ``id_rows`` each one's clause;
        ``pieces``: sets whose union is the prior, none without one): the entry numbers and their clauses,
        each (clause, entry) once, clause after clause, entries ascending; each clause's one-word list items
        (:meth:`_lone_keys`) and associated items (:meth:`_learned`), and whether it has any."""
        # each clause's candidates: the entries posted under its keys in the gazetteer's index, with a prior
        # those of the prior posted under the keys a partial match needs, the tasks of the prior named by a
        # one-word list item, the items its words are associated with — gathered for all the clauses at once
        pair_rows, pair_numbers, _ = self._posted(self._index_postings, id_array, id_rows)
        more_rows, more_numbers = [pair_rows], [pair_numbers]
        lone_keys: list[dict[str, int]] = [{} for _ in clauses]
        learned_all: list[dict[str, tuple[int, float]]] = [{} for _ in clauses]
        lone_clause = numpy.zeros(len(clauses), dtype=bool)  # a one-word list item or an associated word
        if prior_codes:
            postings = [self._prior_postings(p) for p in pieces]
            for needed, _ in postings:
                rows_, numbers_, _ = self._sorted_gather(needed, id_array, id_rows)
                more_rows.append(rows_)
                more_numbers.append(numbers_)
            if self.prior_lone_word is not None and len(id_array):
                # perf only: the list items are looked for when a word could name a task of the prior (a
                # clause key held by a task of the prior, weighing prior_lone_word or more)
                named = numpy.zeros(len(id_array), dtype=bool)
                for _, (task_keys, _) in postings:
                    if len(task_keys):
                        places = task_keys.searchsorted(id_array).clip(max=len(task_keys) - 1)
                        named |= task_keys.take(places) == id_array
                named &= self._idf.take(id_array) >= self.prior_lone_word
                if named.any():
                    wanted: dict[int, set[str]] = {}
                    vocabulary = self._vocabulary
                    for row, key in zip(id_rows[named].tolist(), id_array[named].tolist(), strict=True):
                        wanted.setdefault(row, set()).add(vocabulary[key])
                    alone_ids: list[int] = []  # the keys of the one-word list items, and their clauses
                    alone_rows: list[int] = []
                    key_id = self._key_id
                    for row, keys in wanted.items():
                        alone = lone_keys[row] = self._lone_keys(clauses[row], found[row][0], text, keys)
                        alone_ids += [key_id[k] for k in alone]
                        alone_rows += [row] * len(alone)
                    if alone_ids:
                        ids_ = numpy.array(alone_ids, dtype=numpy.int64)
                        rows_ = numpy.array(alone_rows, dtype=numpy.int64)
                        for _, tasks in postings:
                            task_rows, task_numbers, _ = self._sorted_gather(tasks, ids_, rows_)
                            more_rows.append(task_rows)
                            more_numbers.append(task_numbers)
            if self.assoc_lift is not None and self.associations:
                by_code = self._by_code
                extra: list[int] = []
                extra_rows: list[int] = []
                for row, (keyed, _) in enumerate(found):
                    learned = learned_all[row] = self._learned(keyed, prior_codes)
                    extra += [by_code[code][0] for code in learned]
                    extra_rows += [row] * len(learned)
                more_rows.append(numpy.array(extra_rows, dtype=numpy.int64))
                more_numbers.append(numpy.array(extra, dtype=numpy.int64))
            lone_clause[[row for row in range(len(clauses)) if lone_keys[row] or learned_all[row]]] = True
        size = len(self.gazetteer.entries)
        # each (clause, entry) once, clause after clause, entries ascending (as each clause's sorted set was;
        # perf only: sorted and told apart here, numpy.unique costs several times more at ~1,000 pairs)
        pairs = numpy.sort(numpy.concatenate(more_rows) * size + numpy.concatenate(more_numbers))
        pairs = pairs[run_starts(pairs)]
        row_of = pairs // size
        return pairs - row_of * size, row_of, lone_keys, learned_all, lone_clause

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
        ``one_word_savoir_away``; ``alone``: the keys of its one-word list items.

        (Perf only: each candidate's keys found in the clause are listed once and scored by
        :meth:`_score_found` from each key's idf × best weight factor and one place, computed once per
        clause; the thresholds that depend on the candidate's prior alone, once per call; the order's
        per-entry part read from a table. The same floats, in the same order, as before session 19:
        tests/test_linker_scoring.py.)"""
        if not kept:
            return []
        self._tokens, self._keyed = tokens, keyed  # the words of a one-key label's match (_score_found)
        scored: list[Scored] = []
        entries, weights = self.gazetteer.entries, self.gazetteer.weights
        idf = self.gazetteer.idf
        present_keys = positions.keys()
        outside = self.outside_score if prior_codes else 0.0
        # each key's best weight factor, and each key's place when none repeats
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
        # each key's idf × best factor (the terms _score_found sums; a synonym key no label has is never read)
        weighed = {k: idf[k] * f for k, f in strength.items() if k in idf}
        least_need = min(self.prior_coverage, self.min_coverage)
        full = self.min_coverage
        # a one-word knowledge item outside the prior is not linked here (but in the prior)
        no_lone_savoir = away or bool(prior_codes and not self.one_word_savoir_outside)
        score_found = self._score_found
        # the least score at each need (the same expression _score_found would evaluate per candidate)
        least_floor = self.min_score * min(1.0, least_need / self.min_coverage)
        full_floor = self.min_score * min(1.0, full / self.min_coverage)
        new = tuple.__new__
        found_in = positions.__contains__  # (filter and map below: no comprehension's frame per candidate)
        for number, reach in kept:
            entry = entries[number]
            favoured = entry.code in prior_codes
            keys = entry.keys
            if not favoured and no_lone_savoir and entry.kind == "savoir" and len(keys) == 1:
                continue
            total = weights[number][1]
            found: tuple[float, int, int, tuple[int, ...]] | None = None
            if favoured:
                present = list(filter(found_in, keys))
                if reach < full * total - 1e-9:
                    shared = present_keys & entry.keyset
                    least = self.prior_min_keys
                    if self.prior_macro_keys is not None and entry.kind == "macro-competence":
                        least = self.prior_macro_keys
                    if len(shared) >= min(least, len(keys)) and (
                        not self.prior_anchor or max(keys, key=idf.__getitem__) in shared
                    ):
                        found = score_found(entry, present, positions, least_need, weighed, single, total,
                                            least_floor)
                else:
                    found = score_found(entry, present, positions, least_need, weighed, single, total,
                                        least_floor)
                if found is None and alone and entry.kind == "savoir-faire":
                    lone = self._lone(entry, alone, total)
                    if lone is not None:
                        found = lone[0], lone[1], lone[2], tuple(lone[3])
                if found is None and learned and entry.code in learned:
                    order = learned[entry.code][0]
                    found = self.assoc_score, order, order, (order,)
                if found is None:
                    continue
            else:
                found = score_found(entry, list(filter(found_in, keys)), positions, full, weighed, single,
                                    total, full_floor)
                if found is None or found[0] < outside:
                    continue
            scored.append(new(Scored, (number, entry, found[0], found[1], found[2], found[3], favoured)))
        # Best score first; on a tie an item of the prior, a savoir-être item, then the entry
        # with more keys.
        bonus = self.prior_bonus
        tie = self._tie
        scored.sort(key=lambda s: (-round(s[2] + bonus * s[6], 6), not s[6], tie[s[0]]))
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

    def _score_found(
        self,
        entry: Entry,
        present: list[str],
        positions: dict[str, list[tuple[int, float]]],
        need: float,
        weighed: dict[str, float],
        single: dict[str, int] | None,
        total: float,
        floor: float,
    ) -> tuple[float, int, int, tuple[int, ...]] | None:
        """The entry's score in a clause, and the first, last and all the places (in the clause's keyed words,
        ``self._keyed`` as :meth:`_scored` sets them for a one-key label's match) of the words it uses; None
        under the thresholds. Computed once per clause by the caller: ``present``, the entry's keys found in
        the clause, in the entry's order; ``weighed``, each found key's idf × best weight factor in
        ``positions``; ``single``, each key's one place when no key occurs twice (else None); ``total``, the
        entry's total weight (``Gazetteer.weights``); ``floor``, the least score at ``need``
        (``min_score × min(1, need ÷ min_coverage)``)."""
        coverage = sum(map(weighed.__getitem__, present)) / total  # (the same additions as over a list)
        if coverage < need:
            return None
        if single is not None:  # every key once: the window is the keys' places
            used = sorted(map(single.__getitem__, present))
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
        keys = entry.keys
        if len(keys) == 1:
            if len(keys[0]) < 2:  # a lone capital ("C", the language) is a category, an initial
                return None
            # One stem is a weak clue (opérateur/opéras, assurer/assurances): the word itself
            # must read like the label's.
            tokens, keyed = self._tokens, self._keyed
            word = form_key(" ".join(inclusive_base(tokens[keyed[u][0]][2]) for u in used))
            if max(fuzz.ratio(word, form) for form in entry.contents or (entry.content,)) < self.single_word:
                return None
        compactness = len(used) / width
        score = coverage * (0.75 + 0.25 * compactness)
        if score < floor:
            return None
        return score, first, last, tuple(used)

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
