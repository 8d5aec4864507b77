"""RNCP skill blocks → the ROME skills their labels state (``pas:BlockCoverage``).

A block label is short ("Réaliser les travaux de maçonnerie et d'enduits"): it is cut into
clauses and linked with the same linker as offers, without spaCy (a regex word split is
enough on labels and keeps 34,000 blocks to seconds). Identical labels — frequent: many
certifications share blocks — are linked once.

>>> from kg.nlp.gazetteer import Gazetteer
>>> g = Gazetteer.from_rows([("100596", "Techniques de maçonnerie", "savoir")])
>>> block_coverage(Linker(g), [("RNCP1BC01", "Mettre en œuvre les techniques de maçonnerie")])
[('RNCP1BC01', '100596', 1.0, 'exact')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kg.nlp.linker import Linker, words

_CLAUSE = re.compile(r"\s*[,;:()/•]\s*|\s+-\s+")


def link_label(linker: Linker, label: str) -> list[tuple[str, float, str]]:
    """The ROME items of one label: (code, best score, method), one per code."""
    best: dict[str, tuple[float, str]] = {}
    for clause in _CLAUSE.split(label):
        if not clause.strip():
            continue
        for mention in linker.link(words(clause)):
            if mention.score > best.get(mention.code, (0.0, ""))[0]:
                best[mention.code] = (mention.score, mention.method)
    return [(code, score, method) for code, (score, method) in sorted(best.items())]


def block_coverage(linker: Linker, blocks: Iterable[tuple[str, str]]) -> list[tuple[str, str, float, str]]:
    """(block code, ROME code, score, method) for every block label."""
    cache: dict[str, list[tuple[str, float, str]]] = {}
    out = []
    for block, label in blocks:
        if label not in cache:
            cache[label] = link_label(linker, label)
        out += [(block, code, score, method) for code, score, method in cache[label]]
    return out
