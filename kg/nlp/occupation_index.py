"""A small TF-IDF cosine index over token lists, kept as numpy CSR posting arrays (no scipy needed).

A query maps its tokens to ids, counts them with ``np.unique`` and gathers the postings of all its
known tokens in one vectorised step, then sums them with one ``np.bincount``: no Python loop over
the tokens' postings, so a full offer description costs well under a millisecond.

>>> index = TfIdfIndex([["cariste", "entrepot"], ["boulanger"], ["cariste", "chariot"]])
>>> scores = index.query(["cariste", "chariot"])
>>> [round(float(s), 2) for s in scores]
[0.37, 0.0, 1.0]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np


def distinct_ids(ids: dict[str, int], tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ids (ascending) of the ``tokens`` that ``ids`` knows, and how often each occurs.

    >>> found, counts = distinct_ids({"soudure": 3, "tig": 1}, ["tig", "soudure", "inconnu", "tig"])
    >>> found.tolist(), counts.tolist()
    ([1, 3], [2, 1])
    """
    found = [i for t in tokens if (i := ids.get(t)) is not None]
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.unique(np.asarray(found, dtype=np.int64), return_counts=True)


class TfIdfIndex:
    """Cosine similarity between a query and each document, with sublinear tf and smooth idf."""

    def __init__(self, documents: Sequence[Iterable[str]]) -> None:
        counts = [Counter(doc) for doc in documents]
        self.size = len(counts)
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        self.vocabulary = {t: i for i, t in enumerate(sorted(df))}
        idf = {t: math.log((self.size + 1) / (n + 1)) + 1.0 for t, n in df.items()}
        self.idf_of = np.asarray([idf[t] for t in sorted(df)], dtype=np.float64)
        postings: list[list[tuple[int, float, float]]] = [[] for _ in self.vocabulary]
        for i, c in enumerate(counts):
            weights = {t: (1.0 + math.log(n)) * idf[t] for t, n in c.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            mass = sum(idf[t] for t in c) or 1.0
            for t, w in weights.items():
                postings[self.vocabulary[t]].append((i, w / norm, idf[t] / mass))
        lengths = np.asarray([len(p) for p in postings], dtype=np.int64)
        self._indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = [x for p in postings for x in p]
        self._docs = np.asarray([x[0] for x in flat], dtype=np.int64)
        self._weights = np.asarray([x[1] for x in flat], dtype=np.float32)
        self._shares = np.asarray([x[2] for x in flat], dtype=np.float32)

    @property
    def idf(self) -> dict[str, float]:
        """The idf of every known token."""
        return {t: float(self.idf_of[i]) for t, i in self.vocabulary.items()}

    def _known(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Distinct known token ids of ``tokens`` and their counts."""
        return distinct_ids(self.vocabulary, tokens)

    def _gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the postings of ``ids`` (not empty) in the flat arrays, and how many each token has
        (a value per token is ``np.repeat``-ed over its postings: the same as a gather by each posting's
        token, with fewer numpy calls)."""
        starts = self._indptr[ids]
        lengths = self._indptr[ids + 1] - starts
        ends = np.cumsum(lengths)
        where = np.repeat(starts - ends + lengths, lengths)
        where += np.arange(int(ends[-1]))
        return where, lengths

    def query(self, tokens: Iterable[str]) -> np.ndarray:
        """Cosine of ``tokens`` with every document (an array of ``size`` floats in [0, 1])."""
        return self.query_known(*self._known(tokens))

    def query_known(self, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """:meth:`query` of the distinct known token ids (ascending) and their counts."""
        if not len(ids):
            return np.zeros(self.size, dtype=np.float64)
        where, lengths = self._gather(ids)
        return self._cosine(ids, counts, where, lengths, self._docs[where])

    def _cosine(
        self, ids: np.ndarray, counts: np.ndarray, where: np.ndarray, lengths: np.ndarray, docs: np.ndarray
    ) -> np.ndarray:
        weights = (1.0 + np.log(counts)) * self.idf_of[ids]
        weights /= math.sqrt(float(weights @ weights))
        spread = np.repeat(weights, lengths)
        return np.bincount(docs, weights=self._weights[where] * spread, minlength=self.size)

    def query_coverage_known(
        self, ids: np.ndarray, counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`query_known` and :meth:`coverage_known` of the same query, its postings gathered once
        (the same values as the two calls).

        >>> index = TfIdfIndex([["cariste"], ["cariste", "chariot"]])
        >>> ids, counts = index._known(["cariste"])
        >>> [a.tolist() for a in index.query_coverage_known(ids, counts)] == [
        ...     index.query_known(ids, counts).tolist(), *[a.tolist() for a in index.coverage_known(ids)]]
        True
        """
        if not len(ids):
            zero = np.zeros(self.size, dtype=np.float64)
            return zero, zero, zero
        where, lengths = self._gather(ids)
        docs = self._docs[where]
        return (self._cosine(ids, counts, where, lengths, docs), *self._coverage(ids, where, lengths, docs))

    def coverage(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per document: the idf share of the query's known distinct tokens it contains, and the
        idf share of its own tokens the query contains (both in [0, 1]).

        >>> index = TfIdfIndex([["cariste"], ["cariste", "chariot"]])
        >>> [[round(float(x), 2) for x in a] for a in index.coverage(["cariste"])]
        [[1.0, 1.0], [1.0, 0.42]]
        """
        return self.coverage_known(self._known(tokens)[0])

    def coverage_known(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`coverage` of the distinct known token ids (ascending)."""
        if not len(ids):
            zero = np.zeros(self.size, dtype=np.float64)
            return zero, zero
        where, lengths = self._gather(ids)
        return self._coverage(ids, where, lengths, self._docs[where])

    def _coverage(
        self, ids: np.ndarray, where: np.ndarray, lengths: np.ndarray, docs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        idf = self.idf_of[ids]
        share = idf / float(idf.sum())
        return (
            np.bincount(docs, weights=np.repeat(share, lengths), minlength=self.size),
            np.bincount(docs, weights=self._shares[where], minlength=self.size),
        )

    def contained_share_known(self, ids: np.ndarray) -> np.ndarray:
        """The second array of :meth:`coverage_known` alone (per document, the idf share of its own
        tokens the query contains), without the first one's work.

        >>> index = TfIdfIndex([["cariste"], ["cariste", "chariot"]])
        >>> ids = index._known(["cariste"])[0]
        >>> index.contained_share_known(ids).tolist() == index.coverage_known(ids)[1].tolist()
        True
        """
        if not len(ids):
            return np.zeros(self.size, dtype=np.float64)
        where, _ = self._gather(ids)
        return np.bincount(self._docs[where], weights=self._shares[where], minlength=self.size)


class SharedVocabulary:
    """The tokens of several indexes under one id, so that an offer's tokens are looked up once for all
    of them (perf only: the description is queried against three indexes, the title against four).
    Ids follow the sorted token order, as each index's own ids do, so the ids of one index that
    :meth:`restrict` returns ascend as :meth:`TfIdfIndex._known` returns them.

    >>> a, b = TfIdfIndex([["cariste", "chariot"]]), TfIdfIndex([["boulanger", "cariste"]])
    >>> shared = SharedVocabulary([a, b])
    >>> known = shared.known(["chariot", "cariste", "chariot", "inconnu"])
    >>> [x.tolist() for x in shared.restrict(known, 0)]
    [[0, 1], [1, 2]]
    >>> [x.tolist() for x in a._known(["chariot", "cariste", "chariot"])]
    [[0, 1], [1, 2]]
    >>> [x.tolist() for x in shared.restrict(known, 1)]
    [[1], [1]]

    With a ``joiner``, the tokens made of two others joined by it (the bigrams ``a_b``) can also be
    found from the ids of a token sequence, without building the bigrams' strings
    (:meth:`known_with_pairs`).
    """

    def __init__(self, indexes: Sequence[TfIdfIndex], joiner: str | None = None) -> None:
        tokens = sorted(set().union(*(index.vocabulary for index in indexes)))
        self.ids = {t: i for i, t in enumerate(tokens)}
        self._local = []
        for index in indexes:
            local = np.full(len(tokens), -1, dtype=np.int64)
            local[[self.ids[t] for t in index.vocabulary]] = list(index.vocabulary.values())
            self._local.append(local)
        self.joiner = joiner
        # The sequence ids of known_with_pairs: 1 + a token's shared id; a bigram's halves that are no token
        # themselves get the next ones (the bigram is still found from them); 0 is no token. The bigrams
        # by (first half's id × _span + second half's id), sorted, then a sentinel above every code.
        self._parts: dict[str, int] = {}
        halves: list[tuple[int, int, int]] = []
        for token, i in self.ids.items():
            if joiner is None:
                break
            first, _, second = token.partition(joiner)
            if first and second and joiner not in second:
                halves.append((self._half(first), self._half(second), i))
        self._span = 1 + len(self.ids) + len(self._parts)
        codes = sorted((a * self._span + b, i) for a, b, i in halves)
        self._pair_codes = np.asarray([c for c, _ in codes] + [np.iinfo(np.int64).max], dtype=np.int64)
        self._pair_ids = np.asarray([i for _, i in codes] + [-1], dtype=np.int64)

    def _half(self, half: str) -> int:
        return self.sequence_id(half) or self._parts.setdefault(half, 1 + len(self.ids) + len(self._parts))

    def known(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Distinct shared ids of the known ``tokens`` (ascending) and their counts."""
        return distinct_ids(self.ids, tokens)

    def sequence_id(self, token: str) -> int:
        """The id :meth:`known_with_pairs` reads for ``token``: 1 + its shared id, the id it has as the half
        of a bigram, or 0 (neither: no bigram with it is known either)."""
        found = self.ids.get(token)
        return found + 1 if found is not None else self._parts.get(token, 0)

    def known_with_pairs(self, sequence: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`known` of a token sequence followed by its bigrams (each two adjacent tokens joined by
        ``joiner``), from the tokens' :meth:`sequence_id`: the same ids and counts (perf only: no
        bigram string is made nor looked up; the tokens must not hold the joiner).

        >>> a = TfIdfIndex([["soudure", "tig", "soudure_tig", "tig_inox"], ["inox"]])
        >>> shared = SharedVocabulary([a], joiner="_")
        >>> words = ["soudure", "tig", "inox", "soudure", "tig", "acier"]
        >>> tokens = words + [f"{x}_{y}" for x, y in zip(words, words[1:])]
        >>> fast = shared.known_with_pairs([shared.sequence_id(w) for w in words])
        >>> [x.tolist() for x in fast] == [x.tolist() for x in shared.known(tokens)]
        True
        >>> [x.tolist() for x in fast]
        [[0, 1, 2, 3, 4], [1, 2, 2, 2, 1]]
        """
        ids = np.asarray(sequence, dtype=np.int64)
        # an unknown token (0) makes a code no bigram has: 0 × _span + b < _span, a × _span + 0
        codes = ids[:-1] * self._span + ids[1:]
        at = np.searchsorted(self._pair_codes, codes)
        found = ids[ids > 0] - 1
        if self._parts:  # a half that is no token is not counted
            found = found[found < len(self.ids)]
        found = np.concatenate([found, self._pair_ids[at[self._pair_codes[at] == codes]]])
        if not len(found):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.unique(found, return_counts=True)

    def restrict(self, known: tuple[np.ndarray, np.ndarray], index: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids and counts of :meth:`known` in the ``index``-th index's own ids."""
        local = self._local[index][known[0]]
        keep = local >= 0
        return local[keep], known[1][keep]
