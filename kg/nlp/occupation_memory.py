"""Labelled job offers as examples for the occupation predictor: per ROME fiche, how close an offer's
title and description come to the offers declared with that fiche.

An offer is never compared with itself nor with its reposts: examples that share its normalised
text, or the first 300 normalised characters of its description (one employer's reposts), are left
out (:func:`group_keys`, the same rule as the grouped folds of ``benchmarks/occupation.py``). So
the predictions of the offers a store was built from do not read their own declared code.

>>> memory = OfferMemory(
...     [("Cariste H/F", "Conduite de chariot en entrepôt", "N1101"),
...      ("Boulanger", "Pétrissage et cuisson du pain", "D1102")],
...     ["D1102", "N1101"],
... )
>>> title, text, seen, count = memory.features("Cariste (H/F)", "Chariot élévateur, entrepôt")
>>> [round(float(x), 2) for x in title], [round(float(x), 2) for x in text], seen.tolist()
([0.0, 1.0], [0.0, 0.63], [1.0, 1.0])
>>> title, _, seen, _ = memory.features("Cariste H/F", "Conduite de chariot en entrepôt")  # itself: left out
>>> title.tolist(), seen.tolist()
([0.0, 0.0], [1.0, 0.0])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from kg.nlp.occupation_index import TfIdfIndex
from kg.nlp.occupation_text import clean_title, normalise, pairs, stems

# Descriptions beyond this many characters add noise (company boilerplate); as the model's MAX_TEXT.
MAX_TEXT = 4000
LEAD = 300


def group_keys(title: str, text: str) -> tuple[str, str]:
    """The keys that make two offers copies of each other: the whole normalised text, and the first
    300 normalised characters of the description.

    >>> group_keys("AIDE (H/F)", "Texte  A")
    ('text aide h f texte a', 'lead texte a')
    >>> group_keys("", "Texte"), group_keys("(H/F)", "")
    (('text texte', 'lead texte'), ('text h f', 'lead '))
    """
    # normalise(title + " " + text), from the description's own normal form (normalised once per offer)
    words, body = normalise(title), normalise(text)
    return "text " + (f"{words} {body}" if words and body else words or body), "lead " + body[:LEAD]


def title_tokens(title: str) -> list[str]:
    """Stems, stem bigrams and 6-letter beginnings of a cleaned offer title (as the model's title)."""
    words = stems(clean_title(title))
    return words + pairs(words) + [w[:6] + "~" for w in words if len(w) > 6]


def text_tokens(text: str) -> list[str]:
    """Stems and stem bigrams of a description's first ``MAX_TEXT`` characters."""
    words = stems(text[:MAX_TEXT])
    return words + pairs(words)


class OfferMemory:
    """Labelled offers (title, description, declared code), indexed for per-fiche nearest-offer cosines.

    :meth:`features` gives, per fiche, the four ``FEATURES``: the best title and description cosines
    with the examples of that fiche, whether the fiche has any example, and log(1 + their number).
    The last two tell the re-ranker apart a fiche no offer was declared with (112 of the 213 codes of
    the real offers occur once: a cosine of 0 there says nothing against the fiche) from a fiche
    whose examples do not resemble the offer.
    """

    FEATURES = ("offer_title", "offer_text", "offer_seen", "offer_count")

    def __init__(self, examples: Iterable[tuple[str, str, str]], codes: Sequence[str]) -> None:
        position = {c: i for i, c in enumerate(codes)}
        kept = [(t, x, position[c]) for t, x, c in examples if c in position]
        self.size = len(codes)
        self.count = len(kept)
        self._code = np.asarray([c for _, _, c in kept], dtype=np.int64)
        self._counts = np.bincount(self._code, minlength=self.size).astype(np.float64)
        self._titles = TfIdfIndex([title_tokens(t) for t, _, _ in kept])
        self._texts = TfIdfIndex([text_tokens(x) for _, x, _ in kept])
        self.indexes = (self._titles, self._texts)
        self._by_key: dict[str, list[int]] = defaultdict(list)
        for i, (t, x, _) in enumerate(kept):
            for key in group_keys(t, x):
                self._by_key[key].append(i)

    def features(
        self,
        title: str,
        text: str,
        exclude: Iterable[int] | None = None,
        tokens: tuple[list[str], list[str]] | None = None,
        known: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per fiche: the best title cosine and the best description cosine of the offer with the
        examples declared with that fiche, whether it has examples and log(1 + how many), its copies
        left out (or the examples ``exclude`` lists);
        ``tokens``: the offer's :func:`title_tokens` and :func:`text_tokens`, when already computed;
        ``known``: the same as each index's token ids and counts (``TfIdfIndex._known``)."""
        if exclude is None:
            exclude = [i for key in group_keys(title, text) for i in self._by_key.get(key, ())]
        if known is None:
            title_query, text_query = tokens or (title_tokens(title), text_tokens(text))
            known = (self._titles._known(title_query), self._texts._known(text_query))
        left_out = sorted(set(exclude))
        out = []
        for index, ids in zip(self.indexes, known, strict=True):
            cos = index.query_known(*ids) if self.count else np.zeros(0)
            cos[left_out] = 0.0
            best = np.zeros(self.size, dtype=np.float64)
            np.maximum.at(best, self._code, cos)
            out.append(best)
        counts = self._counts - np.bincount(self._code[left_out], minlength=self.size)
        return out[0], out[1], (counts > 0).astype(np.float64), np.log1p(counts)
