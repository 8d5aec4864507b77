"""A small TF-IDF cosine index over token lists, kept as numpy posting arrays (no scipy needed).

A query costs one ``np.bincount`` over the postings of its known tokens: well under a millisecond
for a title, about one for a full offer description.

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


class TfIdfIndex:
    """Cosine similarity between a query and each document, with sublinear tf and smooth idf."""

    def __init__(self, documents: Sequence[Iterable[str]]) -> None:
        counts = [Counter(doc) for doc in documents]
        self.size = len(counts)
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        self.idf = {t: math.log((self.size + 1) / (n + 1)) + 1.0 for t, n in df.items()}
        postings: dict[str, tuple[list[int], list[float], list[float]]] = {}
        for i, c in enumerate(counts):
            weights = {t: (1.0 + math.log(n)) * self.idf[t] for t, n in c.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            mass = sum(self.idf[t] for t in c) or 1.0
            for t, w in weights.items():
                ids, ws, share = postings.setdefault(t, ([], [], []))
                ids.append(i)
                ws.append(w / norm)
                share.append(self.idf[t] / mass)
        self.postings = {
            t: (
                np.asarray(ids, dtype=np.int32),
                np.asarray(ws, dtype=np.float32),
                np.asarray(sh, dtype=np.float32),
            )
            for t, (ids, ws, sh) in postings.items()
        }

    def query(self, tokens: Iterable[str]) -> np.ndarray:
        """Cosine of ``tokens`` with every document (an array of ``size`` floats in [0, 1])."""
        c = Counter(t for t in tokens if t in self.idf)
        if not c:
            return np.zeros(self.size, dtype=np.float64)
        weights = {t: (1.0 + math.log(n)) * self.idf[t] for t, n in c.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        ids = np.concatenate([self.postings[t][0] for t in weights])
        ws = np.concatenate([self.postings[t][1] * (w / norm) for t, w in weights.items()])
        return np.bincount(ids, weights=ws, minlength=self.size)

    def coverage(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per document: the idf share of the query's known distinct tokens it contains, and the
        idf share of its own tokens the query contains (both in [0, 1]).

        >>> index = TfIdfIndex([["cariste"], ["cariste", "chariot"]])
        >>> [[round(float(x), 2) for x in a] for a in index.coverage(["cariste"])]
        [[1.0, 1.0], [1.0, 0.42]]
        """
        known = {t for t in tokens if t in self.idf}
        if not known:
            zero = np.zeros(self.size, dtype=np.float64)
            return zero, zero
        mass = sum(self.idf[t] for t in known)
        ids = np.concatenate([self.postings[t][0] for t in known])
        query_share = np.concatenate([np.full(len(self.postings[t][0]), self.idf[t] / mass) for t in known])
        doc_share = np.concatenate([self.postings[t][2] for t in known])
        return (
            np.bincount(ids, weights=query_share, minlength=self.size),
            np.bincount(ids, weights=doc_share, minlength=self.size),
        )
