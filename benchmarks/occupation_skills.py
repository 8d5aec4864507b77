"""Skill evidence for the occupation re-ranker, measured by ``benchmarks/occupation.py --skills``.

The description's skills, linked to ROME items by the gazetteer with **no occupation prior** (the
extraction's skill linker on the requirement clauses, ``doc._.prior`` unset), are evidence for the
fiches that list those items (``pas:hasSkill``, core items ``pas:hasCoreSkill``). Per candidate fiche
(:func:`skill_rows`, ``SKILL_FEATURES``):

- ``skill_share``: the idf-weighted share of the matched items that the fiche lists (idf over the
  fiches: an item every care fiche lists weighs little);
- ``skill_core``: the same share counting the fiche's core items only;
- ``skill_only``: log(1 + the number of matched items that this candidate alone, among the
  candidates, lists);
- ``skill_gap``: ``skill_share`` minus the best ``skill_share`` among the candidates;
- ``skill_contrast``: the share again, each matched item weighted by log(candidates / the candidates
  that list it) instead of its idf over all fiches (an item every neighbour lists weighs nothing).

This module only measures: the predictor (:mod:`kg.nlp.occupation`) does not read these features.

>>> evidence = SkillEvidence({"A": {"1", "2"}, "B": {"2", "3"}, "C": {"4"}}, {"A": {"1"}})
>>> rows = skill_rows(evidence, {"1", "2"}, ["A", "B", "C"])
>>> [round(float(x), 2) for x in rows[0]], [round(float(x), 2) for x in rows[2]]
([1.0, 0.27, 0.0], [0.69, 0.0, 0.0])
>>> [round(float(x), 2) for x in rows[4]]  # item "2" is listed by two of the three candidates
[1.0, 0.27, 0.0]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kg.namespaces import prefixes_for
from kg.nlp.gazetteer import Gazetteer
from kg.nlp.linker import Linker
from kg.nlp.pipeline import load_pipeline
from kg.nlp.rerank import LIBERAL
from kg.store import StoreLayout, open_store

SKILL_FEATURES = ("skill_share", "skill_core", "skill_only", "skill_gap", "skill_contrast")
# Which linker methods count as evidence ("fuzzy" matches are the least precise; "alias": the second
# stage's learned aliases, session 14).
METHODS = frozenset({"exact", "lemma", "fuzzy", "alias"})


@dataclass
class SkillEvidence:
    """The items of each fiche (``items``) and its core items (``core``), with each item's idf over
    the fiches (log of the number of fiches over the number listing it)."""

    items: Mapping[str, set[str]]
    core: Mapping[str, set[str]]
    idf: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        df = Counter(i for its in self.items.values() for i in its)
        n = max(len(self.items), 1)
        self.idf = {i: math.log(n / c) for i, c in df.items()}

    @classmethod
    def from_store(cls, store: object, base: str) -> SkillEvidence:
        """The fiche ↔ item links of a built graph (every item of ``pas:hasSkill``, core or not)."""
        query = (
            "SELECT ?rome ?code ?core WHERE { ?o a pas:Occupation ; pas:code ?rome ; pas:hasSkill ?s ."
            " ?s pas:code ?code . BIND (EXISTS { ?o pas:hasCoreSkill ?s } AS ?core) }"
        )
        items: dict[str, set[str]] = {}
        core: dict[str, set[str]] = {}
        for r in store.query(query, prefixes=prefixes_for(base)):  # type: ignore[attr-defined]
            items.setdefault(r["rome"].value, set()).add(r["code"].value)
            if r["core"].value == "true":
                core.setdefault(r["rome"].value, set()).add(r["code"].value)
        return cls(items, core)


def skill_rows(evidence: SkillEvidence, matched: Iterable[str], candidates: Sequence[str]) -> np.ndarray:
    """The ``SKILL_FEATURES`` of each candidate fiche, a (len(SKILL_FEATURES), len(candidates)) array,
    from the item codes ``matched`` in the offer (zeros when none is listed by any fiche)."""
    weight = {m: evidence.idf[m] for m in set(matched) if evidence.idf.get(m, 0.0) > 0}
    rows = np.zeros((len(SKILL_FEATURES), len(candidates)))
    total = sum(weight.values())
    if not total:
        return rows
    listed = [evidence.items.get(c, set()) for c in candidates]
    holders = Counter(m for its in listed for m in weight if m in its)
    for k, (code, its) in enumerate(zip(candidates, listed, strict=True)):
        core = evidence.core.get(code, set())
        rows[0, k] = sum(w for m, w in weight.items() if m in its) / total
        rows[1, k] = sum(w for m, w in weight.items() if m in core) / total
        rows[2, k] = math.log1p(sum(1 for m in weight if m in its and holders[m] == 1))
    rows[3] = rows[0] - rows[0].max()
    contrast = {m: math.log(len(candidates) / holders[m]) for m in holders}
    spread = sum(contrast.values())
    if spread:
        rows[4] = [sum(w for m, w in contrast.items() if m in its) / spread for its in listed]
    return rows


def linked_items(
    store_dir: Path, texts: Sequence[str], methods: frozenset[str] = METHODS, liberal: bool = False
) -> list[set[str]]:
    """The item codes the extraction's skill linker finds in each description with no occupation prior
    (requirement clauses, as ``kg extract`` reads them; the second stage, which reads the predicted
    fiches, is left out), keeping the matches of ``methods``; ``liberal``: with the second stage's
    liberal first-stage settings (:data:`kg.nlp.rerank.LIBERAL`: ~7× as many items, mostly fuzzy)."""
    store = open_store(store_dir)
    gazetteer = Gazetteer.cached(store, StoreLayout(store_dir).current())
    nlp = load_pipeline(gazetteer)
    segmenter, linker = nlp.get_pipe("pas_offer_segmenter"), nlp.get_pipe("pas_skill_linker")
    if liberal:
        linker.linker = Linker(gazetteer, **LIBERAL)
    out = []
    for text in texts:
        doc = segmenter(nlp.make_doc(text))
        doc._.prior = None
        doc._.occupations = None
        out.append({m.code for m in linker(doc)._.skills if m.method in methods})
    return out
