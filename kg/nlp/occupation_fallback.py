"""A stand-in occupation predictor (title against ROME appellations) with the interface of
:class:`kg.nlp.occupation.OccupationModel`, used until that module is available.

>>> from kg.nlp.gazetteer import Gazetteer
>>> g = Gazetteer.from_rows([], [("1", "Maçon / Maçonne", "F1703"), ("2", "Cariste", "N1101")])
>>> TitleModel(g).predict("Maçon H/F", "", k=2)[0][0]
'F1703'
"""

from __future__ import annotations

import re

import pyoxigraph as ox
from rapidfuzz import fuzz, process

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.text import form_key, phrase_keys

_NOISE = re.compile(r"\b(h\s*/\s*f|f\s*/\s*h|cdi|cdd|interim|alternance|temps (plein|partiel))\b")


class TitleModel:
    """ROME codes of the appellations closest to the offer title (rapidfuzz WRatio)."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self._forms = [a.form for a in gazetteer.appellations]
        self._codes = [a.rome for a in gazetteer.appellations]
        self._index: dict[str, list[int]] = {}
        for number, appellation in enumerate(gazetteer.appellations):
            for key in set(phrase_keys(appellation.label)):
                self._index.setdefault(key, []).append(number)

    @classmethod
    def from_store(cls, store: ox.Store) -> TitleModel:
        """The model of a store's appellations."""
        return cls(Gazetteer.from_store(store))

    def predict(self, title: str, text: str, k: int = 5) -> list[tuple[str, float]]:
        """Up to ``k`` ROME codes, best first, with a score in [0, 1]; ``text`` is unused."""
        query = _NOISE.sub(" ", form_key(title))
        numbers = sorted({n for key in phrase_keys(title) for n in self._index.get(key, ())})
        choices = {n: self._forms[n] for n in numbers}  # only titles sharing a word
        best: dict[str, float] = {}
        for _, score, number in process.extract(query, choices, scorer=fuzz.WRatio, limit=50):
            code = self._codes[number]
            best[code] = max(best.get(code, 0.0), score / 100)
        return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]
