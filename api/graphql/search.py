"""Label search: accent- and case-insensitive, typo-tolerant (rapidfuzz), ranked with scores.

The index holds every label of the searchable classes, normalised once (lower case, accents and
punctuation removed). It is built lazily on the first search and cached per store build, so a new
build gets a fresh index and a request never pays for more than one build of it.

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
        self.kind_positions: dict[str, list[int]] = {}
        self.kind_keys: dict[str, list[str]] = {}

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
            index.kind_positions.setdefault(kind, []).append(position)
            index.kind_keys.setdefault(kind, []).append(key)
            if code:
                index.by_code.setdefault(code.lower(), []).append(position)
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

    def search(self, text: str, kinds: set[str] | None, limit: int) -> list[Hit]:
        """The best ``limit`` hits for ``text`` among ``kinds`` (all when None), best first.

        An exact code (``I1402``, ``RNCP35178``, a commune's INSEE code) scores 100. Labels are found
        by rapidfuzz's WRatio on the normalised text, then ranked by :func:`rank_score`.
        """
        query = normalise(text)
        if not query:
            return []
        scores: dict[int, float] = {}
        for position in self.by_code.get(text.strip().lower(), []):
            scores[position] = 100.0
        found: set[int] = set()
        for kind in sorted(self.kind_keys if kinds is None else kinds & set(self.kind_keys)):
            positions = self.kind_positions[kind]
            for _key, _score, i in process.extract(
                query,
                self.kind_keys[kind],
                scorer=fuzz.WRatio,
                limit=max(limit * 10, 100),
                score_cutoff=MIN_SCORE,
            ):
                found.add(positions[i])
        words = query.split()
        for position in found:
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


_CACHE: dict[object, SearchIndex] = {}
_LOCK = threading.Lock()


def index_for(build_key: object, runner: QueryRunner) -> SearchIndex:
    """The index of the store build ``build_key``, built on first use (once, even under concurrency)."""
    with _LOCK:
        index = _CACHE.get(build_key)
        if index is None:
            index = SearchIndex.build(runner)
            while len(_CACHE) >= 4:  # drop the oldest: replaced builds are not searched again
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[build_key] = index
        return index
