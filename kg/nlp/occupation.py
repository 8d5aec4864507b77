"""Predict the ROME 4.0 fiche of a French job offer from its title and description alone.

Everything the model knows comes from the graph's own labels (``queries/nlp/occupation-*.rq``):
the appellations of each fiche (ROME 4.0 long and short labels, ROME v3 labels of the same OGR
code), the fiche titles, and each fiche's vocabulary (skills, work contexts, definition and access
texts). Three TF-IDF cosines are combined per fiche:

- ``title``: the cleaned offer title against every appellation (both genders, v3 labels), best
  appellation per fiche; unigrams plus bigrams of stems, so that "agent d'entretien" and
  "agent de maintenance" stay apart;
- ``title_doc``: the title against the fiche's whole vocabulary (catches titles no appellation
  words, e.g. "Technicien fibre optique");
- ``text_doc``: the description against the fiche's vocabulary.

>>> model = OccupationModel.from_labels(
...     fiches={"N1101": "Conduite d'engins de déplacement des charges", "D1102": "Boulangerie"},
...     appellations=[("N1101", "Cariste"), ("D1102", "Boulanger / Boulangère")],
...     vocabulary={"N1101": ["Conduire un chariot élévateur"], "D1102": ["Pétrir la pâte"]},
... )
>>> [code for code, _ in model.predict("Boulangère (H/F)", "Vous pétrissez la pâte.")]
['D1102', 'N1101']
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyoxigraph as ox

from kg.namespaces import prefixes_for
from kg.nlp.occupation_index import TfIdfIndex
from kg.nlp.occupation_text import clean_title, gender_variants, stems

QUERIES = Path(__file__).resolve().parents[2] / "queries" / "nlp"
DEFAULT_BASE = "https://w3id.org/passerelles/"
# Descriptions beyond this many characters add noise (company boilerplate) and cost time.
MAX_TEXT = 4000


FEATURES = ("title_cos", "title_qcov", "title_dcov", "title_support", "title_doc", "text_doc", "text_app")
# Weights of FEATURES; see benchmarks/occupation.py for how they were chosen (cross-validated).
DEFAULT_WEIGHTS = (0.3, 0.2, 0.1, 0.0, 0.15, 0.25, 0.0)
# A rarely used appellation ("Infirmier général", on the fiche of health managers) should not beat
# the common reading of the same words.
RARE_FACTOR = 0.9


def title_features(text: str) -> list[str]:
    """Stems and adjacent-stem bigrams of a label or a cleaned title.

    >>> title_features("Agent d'entretien")
    ['agent', 'entretien', 'agent_entretien']
    """
    words = stems(text)
    return words + [f"{a}_{b}" for a, b in pairwise(words)]


def _select(store: ox.Store, name: str, base: str) -> list[list[str]]:
    query = (QUERIES / name).read_text(encoding="utf-8")
    result = store.query(query, prefixes=prefixes_for(base))
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    rows = []
    for solution in result:
        rows.append([solution[n].value if solution[n] is not None else "" for n in names])
    return rows


class OccupationModel:
    """Ranks ROME 4.0 fiches for an offer; build it with :meth:`from_store` or :meth:`from_labels`."""

    def __init__(
        self,
        codes: Sequence[str],
        title_docs: Sequence[tuple[int, list[str], float]],
        fiche_docs: Sequence[list[str]],
        weights: Sequence[float] = DEFAULT_WEIGHTS,
    ) -> None:
        self.codes = list(codes)
        self.weights = np.asarray(weights, dtype=np.float64)
        ordered = sorted(title_docs, key=lambda d: d[0])
        fiche_of = np.asarray([i for i, _, _ in ordered], dtype=np.int64)
        if set(fiche_of.tolist()) != set(range(len(self.codes))):
            raise ValueError("every fiche needs at least one label")
        # Start of each fiche's run of labels, for np.maximum.reduceat.
        self._starts = np.searchsorted(fiche_of, np.arange(len(self.codes)))
        self._label_factor = np.asarray([f for _, _, f in ordered], dtype=np.float64)
        self._title_index = TfIdfIndex([doc for _, doc, _ in ordered])
        self._doc_index = TfIdfIndex(fiche_docs)

    @classmethod
    def from_labels(
        cls,
        fiches: dict[str, str],
        appellations: Iterable[tuple[str, str] | tuple[str, str, bool]],
        vocabulary: dict[str, list[str]],
        weights: Sequence[float] = DEFAULT_WEIGHTS,
    ) -> OccupationModel:
        """A model from plain labels: fiche titles, (fiche code, appellation label[, rarely used])
        tuples, fiche texts.

        An appellation label may be written "Masc / Fem ..." (both genders are indexed); one whose
        fiche is not in ``fiches`` is ignored.
        """
        codes = sorted(fiches)
        position = {c: i for i, c in enumerate(codes)}
        title_docs: dict[tuple[int, str], tuple[int, list[str], float]] = {}
        words: dict[int, list[str]] = defaultdict(list)
        labelled = [(c, label, False) for c, label in fiches.items()]
        labelled += [(a[0], a[1], bool(a[2]) if len(a) > 2 else False) for a in appellations]
        for code, label, rare in labelled:
            if code not in position or not label:
                continue
            i = position[code]
            words[i].extend(stems(label))
            factor = RARE_FACTOR if rare else 1.0
            for variant in gender_variants(label):
                features = title_features(variant)
                key = (i, " ".join(features))
                if key not in title_docs or title_docs[key][2] < factor:
                    title_docs[key] = (i, features, factor)
        for code, texts in vocabulary.items():
            if code in position:
                for text in texts:
                    words[position[code]].extend(stems(text))
        fiche_docs = [words[i] for i in range(len(codes))]
        return cls(codes, list(title_docs.values()), fiche_docs, weights)

    @classmethod
    def from_store(
        cls, store: ox.Store, base: str = DEFAULT_BASE, weights: Sequence[float] = DEFAULT_WEIGHTS
    ) -> OccupationModel:
        """A model from the labels of a built graph (ROME 4.0 fiches, appellations, v3 labels, texts)."""
        fiches = dict(_select(store, "occupation-fiches.rq", base))
        appellations: list[tuple[str, str, bool]] = []
        for code, label, short, v3label, _main, rare in _select(store, "occupation-appellations.rq", base):
            appellations.extend((code, x, rare == "true") for x in {label, short, v3label} if x)
        vocabulary: dict[str, list[str]] = defaultdict(list)
        for code, label in _select(store, "occupation-skills.rq", base):
            vocabulary[code].append(label)
        for code, _kind, text in _select(store, "occupation-texts.rq", base):
            vocabulary[code].append(text)
        return cls.from_labels(fiches, appellations, vocabulary, weights)

    def _best(self, per_label: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(per_label, self._starts)

    def features(self, title: str, text: str) -> np.ndarray:
        """The per-fiche features named in FEATURES, a (len(FEATURES), len(codes)) array."""
        cleaned = clean_title(title)
        query = title_features(cleaned)
        cos = self._title_index.query(query) * self._label_factor
        qcov, dcov = self._title_index.coverage(query)
        qcov *= self._label_factor
        support = np.log1p(np.add.reduceat((cos > 0.5).astype(np.float64), self._starts)) / 3.0
        body = text[:MAX_TEXT]
        _, text_app = self._title_index.coverage(title_features(body))
        return np.stack(
            [
                self._best(cos),
                self._best(qcov),
                self._best(dcov),
                np.minimum(support, 1.0),
                self._doc_index.query(stems(cleaned)),
                self._doc_index.query(stems(body)),
                self._best(text_app),
            ]
        )

    def scores(self, title: str, text: str) -> np.ndarray:
        """The combined score of every fiche, in [0, 1] (weights are normalised to sum to 1)."""
        w = self.weights / (self.weights.sum() or 1.0)
        return np.asarray(w @ self.features(title, text))

    def predict(self, title: str, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely ROME 4.0 codes, best first, with scores in [0, 1]."""
        combined = self.scores(title, text)
        k = min(k, len(self.codes))
        top = np.argpartition(-combined, k - 1)[:k]
        top = top[np.argsort(-combined[top], kind="stable")]
        return [(self.codes[i], round(float(combined[i]), 4)) for i in top]
