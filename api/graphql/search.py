"""Label search: accent- and case-insensitive, typo-tolerant (rapidfuzz), ranked with scores.

The index holds every label of the searchable classes, normalised once (lower case, accents and
punctuation removed), and an inverted index of their words. It is built once per store build, in the
background from the first GraphQL request on, and cached by build (a new build gets a fresh index).

>>> normalise("Boulanger / Boulangère — Pâtissier")
'boulanger boulangere patissier'
>>> idx = SearchIndex.from_entries([("SKILL", "http://x/1", "1", "Pétrir la pâte"),
...                                 ("SKILL", "http://x/2", "2", "Cuire le pain")])
>>> [(h.iri, h.score >= 80) for h in idx.search("petrir la pate", None, 5)]
[('http://x/1', True)]
>>> idx.search("ptrir la pâte", None, 5)[0].iri
'http://x/1'
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyoxigraph as ox
from rapidfuzz import fuzz, process

from api.graphql.fieldmap import expand
from api.graphql.queries import QueryRunner

# Searchable kinds → (class, GraphQL type).
KINDS: dict[str, tuple[str, str]] = {
    "OCCUPATION": ("pas:Occupation", "Occupation"),
    "APPELLATION": ("pas:Appellation", "Appellation"),
    "SKILL": ("pas:Skill", "Skill"),
    "CERTIFICATION": ("pas:Certification", "Certification"),
    "TRAINING_DOMAIN": ("pas:TrainingDomain", "TrainingDomain"),
    "COMMUNE": ("pas:Commune", "Territory"),
}
_NON_WORD = re.compile(r"[^0-9a-z]+")
MIN_SCORE = 60.0


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = (
        "".join(c for c in decomposed if not unicodedata.combining(c)).replace("œ", "oe").replace("æ", "ae")
    )
    return _NON_WORD.sub(" ", plain).strip()


@dataclass(frozen=True)
class Hit:
    kind: str
    iri: str
    code: str | None
    label: str
    score: float


class SearchIndex:
    """Normalised labels of one store, searchable by kind."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.iris: list[str] = []
        self.codes: list[str | None] = []
        self.labels: list[str] = []
        self.keys: list[str] = []
        self.by_code: dict[str, list[int]] = {}
        self.postings: dict[str, list[int]] = {}
        self.vocabulary: list[str] = []

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str, str | None, str]]) -> SearchIndex:
        """An index of (kind, IRI, code, label) entries."""
        index = cls()
        for kind, iri, code, label in entries:
            position = len(index.iris)
            index.kinds.append(kind)
            index.iris.append(iri)
            index.codes.append(code)
            index.labels.append(label)
            key = normalise(label)
            index.keys.append(key)
            for word in set(key.split()):
                index.postings.setdefault(word, []).append(position)
            if code:
                index.by_code.setdefault(code.lower(), []).append(position)
        index.vocabulary = sorted(index.postings)
        return index

    @classmethod
    def build(cls, runner: QueryRunner) -> SearchIndex:
        """Read the labels of every searchable class from the store (one query per class)."""
        entries = []
        for kind, (curie, _) in KINDS.items():
            rows = runner.select_sync("search-labels", {"class": ox.NamedNode(expand(curie))})
            for row in rows:
                label = row["label"]
                if isinstance(label, ox.Literal) and label.language not in (None, "", "fr"):
                    continue
                code = row.get("code")
                entries.append((kind, row["s"].value, code.value if code is not None else None, label.value))
        return cls.from_entries(entries)

    def _candidates(self, words: list[str], keep: int = 1500) -> list[int]:
        """Labels sharing the most (fuzzily matched) words with the query: an inverted index of the
        labels' words, so a search scores a few thousand labels instead of all of them."""
        matched: dict[int, int] = {}
        for word in set(words):
            positions: set[int] = set()
            for similar in _similar_words(word, self.vocabulary):
                positions.update(self.postings[similar])
            for position in positions:
                matched[position] = matched.get(position, 0) + 1
        best = sorted(matched.items(), key=lambda item: (-item[1], len(self.keys[item[0]])))
        return [position for position, _ in best[:keep]]

    def search(self, text: str, kinds: set[str] | None, limit: int) -> list[Hit]:
        """The best ``limit`` hits for ``text`` among ``kinds`` (all when None), best first.

        An exact code (``I1402``, ``RNCP35178``, a commune's INSEE code) scores 100. Labels are found
        through their words (each query word matches the vocabulary's words fuzzily), then ranked by
        :func:`rank_score`.
        """
        query = normalise(text)
        if not query:
            return []
        scores: dict[int, float] = {}
        for position in self.by_code.get(text.strip().lower(), []):
            scores[position] = 100.0
        words = query.split()
        for position in self._candidates(words):
            if kinds is not None and self.kinds[position] not in kinds:
                continue
            score = rank_score(query, words, self.keys[position])
            if score >= MIN_SCORE:
                scores[position] = max(scores.get(position, 0.0), score)
        ranked = sorted(
            scores.items(), key=lambda item: (-item[1], len(self.keys[item[0]]), self.iris[item[0]])
        )
        out = []
        for position, score in ranked:
            if kinds is not None and self.kinds[position] not in kinds:
                continue
            out.append(
                Hit(
                    self.kinds[position],
                    self.iris[position],
                    self.codes[position],
                    self.labels[position],
                    round(score, 1),
                )
            )
            if len(out) >= limit:
                break
        return out


def _similar_words(word: str, vocabulary: list[str]) -> list[str]:
    """Words of the vocabulary close to ``word`` (typos, missing accents are already gone)."""
    cutoff = 100 if len(word) <= 2 else (80 if len(word) <= 4 else 75)
    found = process.extract(word, vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff, limit=40)
    return [w for w, _, _ in found]


def rank_score(query: str, words: list[str], key: str) -> float:
    """How well label ``key`` answers ``query``: every query word should appear in the label (each
    scored by its best fuzzy match among the label's words, so typos cost little), and the fewer
    extra words the label has, the better. 100 for an exact match.

    >>> rank_score("boulanger", ["boulanger"], "boulanger")
    100.0
    >>> typo = ["boulanjer"]
    >>> rank_score("boulanjer", typo, "boulanger") > rank_score("boulanjer", typo, "ouvrier boulanger")
    True
    >>> q, words = "technicien maintenance", ["technicien", "maintenance"]
    >>> rank_score(q, words, "technicien de maintenance industrielle") > rank_score(
    ...     q, words, "mc technicien des services a l energie")
    True
    """
    if key == query:
        return 100.0
    label_words = key.split()
    if not label_words or not words:
        return 0.0
    coverage = sum(max(fuzz.ratio(w, lw) for lw in label_words) for w in words) / len(words)
    prefix = 4.0 if key.startswith(words[0]) else 0.0
    return round(min(0.6 * coverage + 0.4 * fuzz.token_sort_ratio(query, key) + prefix, 99.9), 1)


_FUTURES: dict[object, Future[SearchIndex]] = {}
_LOCK = threading.Lock()
# Index builds run on their own thread: reading every label of a build takes a while on the full
# graph and must not hold a worker the requests need.
BUILDER_THREAD = "search-index"  # the name (prefix) of the builder's thread
_BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix=BUILDER_THREAD)


class IndexNotReady(Exception):
    """The search index of the served build is still being built: the request is answered 503 +
    Retry-After (``api.graphql.router``) instead of holding the client until the GraphQL timeout."""


INDEX_WAIT_S = 2.0  # how long a search waits for an index being built before answering 503
INDEX_RETRY_AFTER_S = 10


def index_future(build_key: object, runner: QueryRunner) -> Future[SearchIndex]:
    """The (future) index of the store build ``build_key``: built once, in the background, on first
    use; a failed build is forgotten so that the next search tries again."""
    with _LOCK:
        future = _FUTURES.get(build_key)
        if future is None or (future.done() and future.exception() is not None):
            while len(_FUTURES) >= 4:  # replaced builds are not searched again
                _FUTURES.pop(next(iter(_FUTURES)))
            future = _BUILDER.submit(SearchIndex.build, runner)
            _FUTURES[build_key] = future
        return future
