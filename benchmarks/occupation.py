"""Occupation prediction on real offers: top-1/3/5 against the declared romeCode, beside a naive baseline.

    .venv/bin/python benchmarks/occupation.py --store /work/real-store [--offers ../shared/data/offers]

The baseline is the naive one of issue #4: rapidfuzz (WRatio) of the raw title against every
appellation label, the fiche of the best appellations. The model's default combination weights
were chosen on all these offers, so its column is optimistic; the CV column re-chooses the weights
fold by fold (coordinate ascent from uniform weights on four folds, scored on the fifth), so that
the gain from tuning is measured on offers the choice never saw. Folds are drawn by group of offers:
offers with the same normalised text, or the same first 300 characters of description (one employer's
reposts), always fall in the same fold. Times are per offer on one core (predict only, model built).
``--fit`` prints the weights coordinate ascent chooses on all the offers (how DEFAULT_WEIGHTS were set).

The shipped predictor is the re-ranker of :mod:`kg.nlp.occupation` (referential features plus the
nearest labelled offers, softmax over the 30 best fiches of the plain score). Its "re-ranker, CV"
column fits it fold by fold: the labelled examples are the four training folds' offers only, the
training offers' own features leave their group out, and the softmax weights are fitted on the
training folds (Adam, L2). ``--fit`` also prints the re-ranker weights fitted on all offers (how
RERANK_WEIGHTS were set). ``--heldout`` scores offers no choice saw: the annotated TEST offers of
``tests/annotations/offers-skills.jsonl`` (the model fitted without their groups) and the masonry
file ``offers/trades`` (not part of the 528).

The re-ranker's CV also prints, for the reader and never to choose a model, (1) a *crosswalk-aware*
top-1 / top-3: a prediction counts when it is the declared code, or the fiche the recruiter's
appellation (``appellationlibelle``, read by this scorer only, never by the model) belongs to under
the other ROME version (:class:`Crosswalk`): offers are coded in ROME v3 or ROME 4.0 and the text
does not say which; and (2) every top-1 and top-3 miss put in one category (:func:`miss_category`).

``--skills`` measures, beside the shipped re-ranker and on the same folds (and held-out sets), the
re-ranker with the description's skills as evidence for the fiches listing them
(``benchmarks/occupation_skills.py``; ``docs/guides/occupation-skill-evidence.md``: not kept).
``--certs`` does the same with the text of the certifications that prepare for each fiche
(``benchmarks/occupation_certs.py``; ``docs/guides/occupation-certification-evidence.md``).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process, utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.namespaces import prefixes_for  # noqa: E402
from kg.nlp.near_copies import copy_groups  # noqa: E402
from kg.nlp.occupation import (  # noqa: E402
    CANDIDATES,
    DEFAULT_BASE,
    FEATURES,
    RERANK_FEATURES,
    RERANK_WEIGHTS,
    V3_CANDIDATES,
    OccupationModel,
    once,
)
from kg.nlp.occupation_memory import OfferMemory  # noqa: E402
from kg.nlp.occupation_text import clean_title, gender_variants, stems  # noqa: E402
from kg.store import open_store  # noqa: E402


@dataclass
class Offer:
    file: str
    id: str
    title: str
    text: str
    rome: str
    appellation: str = ""  # the recruiter's appellationlibelle: read by the crosswalk scorer only


def read_offers(folder: Path) -> Iterator[Offer]:
    """Offers of the JSONL files (API v2 objects) and CSV dumps (flattened; delimiter sniffed)."""
    csv.field_size_limit(1 << 28)
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                rows: list[dict[str, object]] = [json.loads(line) for line in f if line.strip()]
        elif path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as f:
                header = f.readline()
                f.seek(0)
                delimiter = "|" if header.count("|") > header.count(",") else ","
                rows = list(csv.DictReader(f, delimiter=delimiter))
        else:
            continue
        for row in rows:
            rome = row.get("romeCode")
            if isinstance(rome, str) and rome.startswith("{"):
                rome = ast.literal_eval(rome).get("code")
            if not rome:
                continue
            yield Offer(path.name, str(row.get("id", "")), str(row.get("intitule") or ""),
                        str(row.get("description") or ""), str(rome),
                        str(row.get("appellationlibelle") or ""))


class Baseline:
    """rapidfuzz WRatio (case and punctuation folded) of the raw title against every appellation label."""

    def __init__(self, store: object, base: str) -> None:
        query = (
            "SELECT ?code ?label WHERE { ?a a pas:Appellation ; pas:appellationOf/pas:code ?code ;"
            " skos:prefLabel ?label }"
        )
        rows = store.query(query, prefixes=prefixes_for(base))  # type: ignore[attr-defined]
        pairs = [(r["code"].value, r["label"].value) for r in rows]
        self.codes = [c for c, _ in pairs]
        self.labels = [label for _, label in pairs]

    def predict(self, title: str, text: str, k: int = 5) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for _label, score, i in process.extract(
            title, self.labels, scorer=fuzz.WRatio, processor=utils.default_process, limit=40
        ):
            if all(self.codes[i] != c for c, _ in out):
                out.append((self.codes[i], score / 100))
            if len(out) == k:
                break
        return out


def appellation_key(label: str) -> str:
    """The stems of a cleaned appellation label, a repeated stem read once, so that the offers' way of
    writing an appellation and ROME's meet.

    >>> appellation_key("Technicien(ne) de maintenance"), appellation_key("Technicienne de maintenance")
    ('technicien maintenance', 'technicien maintenance')
    """
    return " ".join(once(stems(clean_title(label))))


class Crosswalk:
    """The ROME 4.0 and ROME v3 fiches of each appellation label (long, short and v3 labels, both genders),
    to score a prediction against the declared code *or* the other version's fiche of the recruiter's
    appellation. For the scorer only: the model never reads an offer's appellation.

    >>> walk = Crosswalk([("Accompagnant / Accompagnante éducatif et social", "K1306", "K1301")])
    >>> walk.fiches("Accompagnant(e) éducatif et social")
    ({'K1306'}, {'K1301'})
    >>> offer = Offer("f", "1", "AES", "", "K1301", "Accompagnant éducatif et social")
    >>> walk.accepts(offer, "K1306"), walk.accepts(offer, "J1301")
    (True, False)
    """

    def __init__(self, rows: Iterable[tuple[str, str, str]]) -> None:
        self.v4: dict[str, set[str]] = {}
        self.v3: dict[str, set[str]] = {}
        for label, code, v3 in rows:
            for variant in {label, *gender_variants(label)}:
                key = appellation_key(variant)
                self.v4.setdefault(key, set()).add(code)
                if v3:
                    self.v3.setdefault(key, set()).add(v3)
        self._keys = list(self.v4)

    @classmethod
    def from_store(cls, store: object, base: str) -> Crosswalk:
        """The crosswalk of a built graph's appellations (``pas:appellationOf``, ``pas:appellationOfV3``)."""
        query = (
            "SELECT ?label ?code ?v3 WHERE { ?a a pas:Appellation ; pas:appellationOf/pas:code ?code ."
            " { ?a skos:prefLabel ?label } UNION { ?a pas:shortLabel ?label } UNION { ?a pas:labelV3 ?label }"
            " OPTIONAL { ?a pas:appellationOfV3/pas:code ?v3 } }"
        )
        rows = store.query(query, prefixes=prefixes_for(base))  # type: ignore[attr-defined]
        return cls((r["label"].value, r["code"].value, r["v3"].value if r["v3"] else "") for r in rows)

    def fiches(self, appellation: str) -> tuple[set[str], set[str]]:
        """The ROME 4.0 and ROME v3 fiches of an appellation as an offer writes it (a near spelling,
        ``fuzz.ratio`` ≥ 88 on the stems, when no label has the same stems)."""
        if not appellation.strip():
            return set(), set()
        key = appellation_key(appellation)
        if key not in self.v4:
            found = process.extractOne(key, self._keys, scorer=fuzz.ratio, score_cutoff=88)
            if found is None:
                return set(), set()
            key = found[0]
        return self.v4[key], self.v3.get(key, set())

    def accepts(self, offer: Offer, code: str) -> bool:
        """``code`` is the declared code, or the other ROME version's fiche of the declared appellation."""
        if code == offer.rome:
            return True
        v4, v3 = self.fiches(offer.appellation)
        return (offer.rome in v4 and code in v3) or (offer.rome in v3 and code in v4)


MISS_CATEGORIES = {
    "A": "declared code = the ROME v3 fiche of the recruiter's appellation (its ROME 4.0 fiche is another)",
    "B": "predicted the ROME v3 fiche of the appellation, declared its ROME 4.0 fiche",
    "C": "declared fiche holds the recruiter's appellation under neither version",
    "D": "declared fiche outside the candidates",
    "E": "label noise: title holds a whole label of the prediction, none of the declared fiche, and the "
         "description is as close to the prediction's vocabulary (text_doc)",
    "F": "title holds a whole label of the declared fiche, the model ranked another first",
    "G": "title holds a whole label of the prediction (none of the declared), the description favours "
         "the declared fiche",
    "H": "title names no fiche (holds no whole label covering half of it): the description must decide",
    "I": "other: close fiches, labels partly matched on several",
}


def miss_category(
    offer: Offer, predicted: Sequence[str], outside: bool, walk: Crosswalk, features: np.ndarray,
    codes: Sequence[str],
) -> str:
    """The first of MISS_CATEGORIES that a missed offer falls in (``predicted``: its top-k codes, best
    first; ``features``: its static re-ranker features over all fiches; the recruiter's appellation is
    read here, for the analysis only)."""
    v4, v3 = walk.fiches(offer.appellation)
    if offer.rome in v3 and offer.rome not in v4:
        return "A"
    if offer.rome in v4 and any(c in v3 - v4 for c in predicted):
        return "B"
    if offer.appellation and offer.rome not in v4 | v3:
        return "C"
    if outside:
        return "D"
    row = {n: features[k] for k, n in enumerate(RERANK_FEATURES[: len(features)])}
    gold, first = codes.index(offer.rome), codes.index(predicted[0])
    full = row["title_full"]
    if full[first] >= 0.5 and full[gold] == 0 and row["text_doc"][first] >= row["text_doc"][gold]:
        return "E"
    if full[gold] >= 0.5:
        return "F"
    if full[first] >= 0.5 and full[gold] == 0:
        return "G"
    if full.max() < 0.5:
        return "H"
    return "I"


def hits(ranked: Sequence[str], gold: str) -> tuple[int, int, int]:
    return tuple(int(gold in ranked[:n]) for n in (1, 3, 5))  # type: ignore[return-value]


def evaluate(predict: Callable[[Offer], list[str]], offers: Sequence[Offer]) -> dict[str, np.ndarray]:
    per_file: dict[str, list[tuple[int, int, int]]] = {}
    for offer in offers:
        per_file.setdefault(offer.file, []).append(hits(predict(offer), offer.rome))
    result = {f: np.mean(np.asarray(h), axis=0) for f, h in per_file.items()}
    result["ALL"] = np.mean(np.asarray([h for hs in per_file.values() for h in hs]), axis=0)
    return result




def ranks(weights: np.ndarray, features: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Rank of the gold fiche per offer (0 = first); ties count against the gold fiche."""
    scores = np.einsum("f,nfc->nc", weights, features)
    at_gold = scores[np.arange(len(gold)), gold]
    return np.asarray((scores >= at_gold[:, None]).sum(axis=1) - 1)


STEPS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5)


def choose_weights(features: np.ndarray, gold: np.ndarray, start: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Coordinate ascent on top-1 + top-3 / 2 over the offers given, from ``start``."""

    def objective(w: np.ndarray) -> float:
        r = ranks(w, features, gold)
        return float((r < 1).mean() + 0.5 * (r < 3).mean())

    w, best = start.copy(), objective(start)
    for _ in range(rounds):
        improved = False
        for i in range(len(w)):
            for value in STEPS:
                trial = w.copy()
                trial[i] = value
                score = objective(trial)
                if score > best + 1e-9:
                    w, best, improved = trial, score, True
        if not improved:
            break
    return np.asarray(w / w.sum())


def groups(offers: Sequence[Offer]) -> np.ndarray:
    """A group number per offer: offers sharing their normalised text or their description's first 300
    normalised characters are one group (:func:`kg.nlp.near_copies.copy_groups`'s exact rule), so that no
    copy of an offer is on both sides.

    >>> a, b, c = (Offer("f", str(i), t, d, "K1302") for i, (t, d) in
    ...            enumerate([("Aide", "Texte A"), ("AIDE (H/F)", "Texte  a"), ("Cariste", "Texte C")]))
    >>> [int(g) for g in groups([a, b, c])]
    [0, 0, 2]
    """
    return np.asarray(copy_groups([(o.title, o.text) for o in offers], near=None))


def grouped_folds(offers: Sequence[Offer], folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The group of each offer (:func:`groups`) and its fold: copies and reposts in one fold."""
    group = groups(offers)
    names = np.unique(group)
    np.random.default_rng(seed).shuffle(names)
    fold_of = {g: k % folds for k, g in enumerate(names)}
    return group, np.asarray([fold_of[g] for g in group])


def cross_validate(
    model: OccupationModel, offers: Sequence[Offer], folds: int = 5, seed: int = 0
) -> dict[str, np.ndarray]:
    """Weights chosen on k-1 folds of offers, top-1/3/5 measured on the held-out fold (grouped folds)."""
    kept = [o for o in offers if o.rome in model.codes]
    features = np.stack([model.features(o.title, o.text) for o in kept])
    gold = np.asarray([model.codes.index(o.rome) for o in kept])
    group, fold = grouped_folds(kept, folds, seed)
    print(f"{len(kept)} offers in {len(np.unique(group))} groups (copies and reposts kept in one fold)")
    held = np.zeros(len(kept), dtype=np.int64)
    for f in range(folds):
        test = np.flatnonzero(fold == f)
        train = np.flatnonzero(fold != f)
        # From uniform weights, not the shipped defaults (those were chosen on all offers).
        w = choose_weights(features[train], gold[train], np.full(len(FEATURES), 1 / len(FEATURES)))
        named = ", ".join(f"{n}={v:.2f}" for n, v in zip(FEATURES, w, strict=True))
        print(f"fold {f}: weights {named}")
        held[test] = ranks(w, features[test], gold[test])
        print(f"fold {f}: {len(test)} offers, top-1 {(held[test] < 1).mean():.2f}, "
              f"top-3 {(held[test] < 3).mean():.2f}, top-5 {(held[test] < 5).mean():.2f}")
    per_file: dict[str, list[tuple[int, int, int]]] = {}
    for offer, r in zip(kept, held, strict=True):
        per_file.setdefault(offer.file, []).append((int(r < 1), int(r < 3), int(r < 5)))
    for offer in offers:
        if offer.rome not in model.codes:  # a code the graph lacks is a miss
            per_file.setdefault(offer.file, []).append((0, 0, 0))
    result = {f: np.mean(np.asarray(h), axis=0) for f, h in per_file.items()}
    result["ALL"] = np.mean(np.asarray([h for hs in per_file.values() for h in hs]), axis=0)
    return result


def fit_softmax(
    features: np.ndarray, gold: np.ndarray, l2: float = 1e-2, steps: int = 600, rate: float = 0.05,
    standardise: bool = True,
) -> np.ndarray:
    """Weights of a softmax over candidates (``features``: offers × candidates × features; ``gold``:
    the gold candidate's index, -1 when it is not among them, such offers are left out), fitted by
    Adam on the mean negative log-likelihood plus ``l2``·|w|²/2, from zero weights. The features are
    standardised over all candidates first (so that one ``l2`` suits features of any scale), and the
    weights returned apply to the raw features (a shift of every candidate cancels in the softmax)."""
    keep = gold >= 0
    scale = features.reshape(-1, features.shape[2]).std(axis=0)
    scale = np.where((scale > 0) & standardise, scale, 1.0)
    x, g = features[keep] / scale, gold[keep]
    w, m, v = (np.zeros(x.shape[2]) for _ in range(3))
    for t in range(1, steps + 1):
        s = x @ w
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        grad = (np.einsum("nk,nkf->f", p, x) - x[np.arange(len(g)), g].sum(axis=0)) / len(g) + l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= rate * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return np.asarray(w / scale)


def static_features(model: OccupationModel, offers: Sequence[Offer]) -> np.ndarray:
    """The re-ranker features that do not depend on the labelled examples, per offer: FEATURES,
    and TITLE_FEATURES."""
    return np.stack([
        np.vstack([model.features(o.title, o.text), model.title_matches(o.title, o.text)]) for o in offers
    ])


# More per-candidate feature rows of an offer (given its candidates' codes), measured beside RERANK_FEATURES.
Extra = Callable[["Offer", list[str]], np.ndarray]


def reranker_rows(
    model: OccupationModel, base: np.ndarray, offers: Sequence[Offer], examples: Sequence[Offer],
    leave_out: Callable[[int], list[int]], v3: int = V3_CANDIDATES, extra: Extra | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates and their re-ranker features for ``offers`` (``base``: their :func:`static_features`),
    the labelled examples being ``examples`` (``leave_out(i)``: the examples offer i must not see;
    ``v3``: how many candidates are v3 fiches, :meth:`OccupationModel.candidates`; ``extra``: more
    feature rows of an offer's candidates, appended after RERANK_FEATURES)."""
    memory = OfferMemory([(e.title, e.text, e.rome) for e in examples], model.codes)
    tops, rows = [], []
    for i, o in enumerate(offers):
        found = memory.features(o.title, o.text, leave_out(i))
        full = np.vstack([base[i], *found])
        top = model.candidates(full, v3)
        tops.append(top)
        chosen = full[:, top]
        if extra is not None:
            chosen = np.vstack([chosen, extra(o, [model.codes[c] for c in top])])
        rows.append(chosen.T)
    return np.asarray(tops), np.asarray(rows)


def gold_index(tops: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Index of the gold fiche among each offer's candidates, -1 when it is not among them."""
    pairs = zip(tops, gold, strict=True)
    return np.asarray([int(np.flatnonzero(t == g)[0]) if g in t else -1 for t, g in pairs])


def rerank_ranks(w: np.ndarray, rows: np.ndarray, gi: np.ndarray) -> np.ndarray:
    """Rank of the gold fiche (0 = first; ties against it; absent from the candidates = 10**6)."""
    s = rows @ w
    at = s[np.arange(len(gi)), np.maximum(gi, 0)]
    return np.where(gi >= 0, (s >= at[:, None]).sum(axis=1) - 1, 10**6)


def same_group(group: np.ndarray) -> Callable[[int], list[int]]:
    """For offer i, the offers of its group (itself included): what it must not see as an example."""
    return lambda i: [int(j) for j in np.flatnonzero(group == group[i])]


def fit_reranker(
    model: OccupationModel, offers: Sequence[Offer], base: np.ndarray, v3: int = V3_CANDIDATES,
    extra: Extra | None = None,
) -> np.ndarray:
    """Re-ranker weights fitted on ``offers``, each seeing the others minus its own group (``extra``:
    more feature rows, :func:`reranker_rows`)."""
    group = groups(offers)
    gold = np.asarray([model.codes.index(o.rome) for o in offers])
    tops, rows = reranker_rows(model, base, offers, offers, same_group(group), v3, extra)
    return fit_softmax(rows, gold_index(tops, gold))


# The re-ranker of the previous session (same 19 features, the 30 best fiches of the plain score as
# candidates, no v3 fiche added), measured beside the new one.
BEFORE: dict[str, object] = {"v3_candidates": 0}


def cross_validate_reranker(
    model: OccupationModel, offers: Sequence[Offer], folds: int = 5, seed: int = 0,
    variant: dict[str, object] | None = None, walk: Crosswalk | None = None,
) -> dict[str, np.ndarray]:
    """The shipped re-ranker measured by grouped k-fold CV: examples and weights from the training folds.
    With ``walk``, also the crosswalk-aware figures and the categories of the misses (:func:`report_misses`).
    ``variant``: ``features`` (the RERANK_FEATURES kept; the others are zeroed), ``v3_candidates``
    (how many candidates are v3 fiches), ``extra`` (more feature rows, :func:`reranker_rows`) and
    fit_softmax's ``l2`` and ``standardise``, to measure another re-ranker on the same folds."""
    variant = variant or {}
    kept_features = variant.get("features", RERANK_FEATURES)
    mask = np.asarray([n in kept_features for n in RERANK_FEATURES], dtype=np.float64)  # type: ignore[operator]
    v3 = int(variant.get("v3_candidates", V3_CANDIDATES))  # type: ignore[call-overload]
    extra: Extra | None = variant.get("extra")  # type: ignore[assignment]
    if extra is not None:  # its rows are all kept
        mask = np.concatenate([mask, np.ones(len(extra(offers[0], list(model.codes[:1]))))])
    fit_options = {k: v for k, v in variant.items() if k not in ("features", "v3_candidates", "extra")}
    kept = [o for o in offers if o.rome in model.codes]
    base = static_features(model, kept)
    gold = np.asarray([model.codes.index(o.rome) for o in kept])
    group, fold = grouped_folds(kept, folds, seed)
    held = np.zeros(len(kept), dtype=np.int64)
    first = np.zeros(len(kept), dtype=np.int64)
    top3 = np.zeros((len(kept), 3), dtype=np.int64)
    unseen = np.zeros(len(kept), dtype=bool)
    for f in range(folds):
        train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        unseen[test] = ~np.isin(gold[test], gold[train])
        examples = [kept[i] for i in train]
        tops, rows = reranker_rows(
            model, base[train], examples, examples, same_group(group[train]), v3, extra
        )
        w = fit_softmax(rows * mask, gold_index(tops, gold[train]), **fit_options)  # type: ignore[arg-type]
        chosen = [kept[i] for i in test]
        tops, rows = reranker_rows(model, base[test], chosen, examples, lambda i: [], v3, extra)
        rows = rows * mask
        held[test] = rerank_ranks(w, rows, gold_index(tops, gold[test]))
        first[test] = tops[np.arange(len(test)), np.argmax(rows @ w, axis=1)]
        order = np.argsort(-(rows @ w), axis=1, kind="stable")[:, :3]
        top3[test] = np.take_along_axis(tops, order, axis=1)
        print(f"re-ranker fold {f}: {len(test)} offers, top-1 {(held[test] < 1).mean():.2f}, "
              f"top-3 {(held[test] < 3).mean():.2f}, top-5 {(held[test] < 5).mean():.2f}")
    misses = held >= 1
    print(f"re-ranker, all {len(offers)} offers (declared code unknown to the model: a miss): top-1 "
          f"{(held < 1).sum() / len(offers):.3f}, top-3 {(held < 3).sum() / len(offers):.3f}, "
          f"top-5 {(held < 5).sum() / len(offers):.3f}")
    print(f"re-ranker misses (top-1): {misses.sum()}; gold fiche not among the {CANDIDATES} candidates: "
          f"{(held >= 10**6).sum()}; gold code absent from the training folds: {(misses & unseen).sum()}")
    wrong = zip(gold[misses], first[misses], strict=True)
    pairs = Counter((model.codes[g], model.codes[p]) for g, p in wrong)
    print("most frequent confusions (declared → predicted first):")
    for (g, p), n in pairs.most_common(15):
        print(f"  {n:2d}  {g} {model.fiche_title(g)[:45]:45} → {p} {model.fiche_title(p)[:45]}")
    if walk is not None:
        predicted = [[model.codes[c] for c in row] for row in top3]
        report_misses(model, kept, len(offers), predicted, held, base, walk)
    per_file: dict[str, list[tuple[int, int, int]]] = {}
    for offer, r in zip(kept, held, strict=True):
        per_file.setdefault(offer.file, []).append((int(r < 1), int(r < 3), int(r < 5)))
    for offer in offers:
        if offer.rome not in model.codes:
            per_file.setdefault(offer.file, []).append((0, 0, 0))
    result = {f: np.mean(np.asarray(h), axis=0) for f, h in per_file.items()}
    result["ALL"] = np.mean(np.asarray([h for hs in per_file.values() for h in hs]), axis=0)
    return result


def report_misses(
    model: OccupationModel, kept: Sequence[Offer], total: int, predicted: Sequence[Sequence[str]],
    held: np.ndarray, base: np.ndarray, walk: Crosswalk,
) -> None:
    """Prints the crosswalk-aware top-1 / top-3 (per file and overall; offers whose declared code the
    model lacks count as misses over ``total``) and the categories of the top-1 and top-3 misses."""
    files = sorted({o.file for o in kept})
    ok1 = np.asarray([walk.accepts(o, p[0]) for o, p in zip(kept, predicted, strict=True)])
    ok3 = np.asarray([any(walk.accepts(o, c) for c in p[:3]) for o, p in zip(kept, predicted, strict=True)])
    for f in files:
        mine = np.asarray([o.file == f for o in kept])
        print(f"crosswalk-aware (not the goal's metric), {f}: top-1 {ok1[mine].mean():.3f}, "
              f"top-3 {ok3[mine].mean():.3f} (declared code only: {(held[mine] < 1).mean():.3f}, "
              f"{(held[mine] < 3).mean():.3f})")
    print(f"crosswalk-aware (not the goal's metric), all {total} offers: top-1 {ok1.sum() / total:.3f}, "
          f"top-3 {ok3.sum() / total:.3f}")
    for k in (1, 3):
        misses = np.flatnonzero(held >= k)
        counts = Counter(
            miss_category(kept[i], predicted[i][:k], bool(held[i] >= 10**6), walk, base[i], model.codes)
            for i in misses
        )
        print(f"top-{k} misses by category ({len(misses)}; the first rule that applies):")
        for key, text in MISS_CATEGORIES.items():
            print(f"  {key} {counts.get(key, 0):4d}  {text}")


def heldout(
    model: OccupationModel, offers: Sequence[Offer], folder: Path,
    v3_options: Sequence[int] = (V3_CANDIDATES,), walk: Crosswalk | None = None, extra: Extra | None = None,
) -> None:
    """Scores the annotated TEST offers (model fitted without their groups) and the masonry file,
    once per number of v3 candidates in ``v3_options`` (and crosswalk-aware, with ``walk``), then with
    the ``extra`` feature rows (:func:`reranker_rows`) beside the shipped candidates."""
    annotation = ROOT / "tests" / "annotations" / "offers-skills.jsonl"
    lines = annotation.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    test_ids = {r["id"] for r in records if r["split"] == "test"}
    trades = list(read_offers(folder / "trades")) if (folder / "trades").is_dir() else []
    kept = [o for o in offers if o.rome in model.codes]
    group = groups(kept)
    banned = {group[i] for i, o in enumerate(kept) if o.id in test_ids}
    train = [o for o, g in zip(kept, group, strict=True) if g not in banned]
    base = static_features(model, train)
    runs: list[tuple[str, int, Extra | None]] = [(f"{v3} v3 candidates", v3, None) for v3 in v3_options]
    if extra is not None:
        runs.append((f"{V3_CANDIDATES} v3 candidates + extra features", V3_CANDIDATES, extra))
    weights = {label: (v3, more, fit_reranker(model, train, base, v3, more)) for label, v3, more in runs}
    seen = {o.id for o in train}
    sets = {
        "annotated TEST offers": [o for o in [*offers, *trades] if o.id in test_ids and o.id not in seen],
        "masonry file (offers/trades)": trades,
    }
    for name, chosen in sets.items():
        chosen = list({o.id: o for o in chosen}.values())
        scored = [o for o in chosen if o.rome in model.codes]
        if not scored:
            continue
        scored_base = static_features(model, scored)
        gold = np.asarray([model.codes.index(o.rome) for o in scored])
        linear = [hits([c for c, _ in model.predict(o.title, o.text, 5)], o.rome) for o in chosen]
        one, three, five = np.mean(np.asarray(linear), axis=0)
        for label, (v3, more, w) in weights.items():
            tops, rows = reranker_rows(model, scored_base, scored, train, lambda i: [], v3, more)
            r = rerank_ranks(w, rows, gold_index(tops, gold))
            r = np.concatenate([r, np.full(len(chosen) - len(scored), 10**6)])
            print(f"held out, {name}: {len(chosen)} offers, re-ranker ({label}) top-1 "
                  f"{(r < 1).mean():.3f}, top-3 {(r < 3).mean():.3f}, top-5 {(r < 5).mean():.3f}; "
                  f"linear (weights: all) {one:.2f} / {three:.2f} / {five:.2f}")
            if walk is not None:
                order = np.argsort(-(rows @ w), axis=1, kind="stable")[:, :3]
                best = [[model.codes[c] for c in row] for row in np.take_along_axis(tops, order, axis=1)]
                ok1 = sum(walk.accepts(o, p[0]) for o, p in zip(scored, best, strict=True))
                ok3 = sum(any(walk.accepts(o, c) for c in p) for o, p in zip(scored, best, strict=True))
                print(f"  crosswalk-aware (not the goal's metric): top-1 {ok1 / len(chosen):.3f}, "
                      f"top-3 {ok3 / len(chosen):.3f}")


def kept_rows(features: Sequence[str], names: str | Sequence[str]) -> list[int]:
    """The rows of ``features`` named in ``names`` (a list, or comma-separated as on the command line; none:
    all of them), for the options ``--skill-features`` and ``--cert-features``.

    >>> kept_rows(("a", "b", "c"), "c,a"), kept_rows(("a", "b"), "")
    ([2, 0], [0, 1])
    """
    chosen = [n for n in names.split(",") if n] if isinstance(names, str) else list(names)
    return [features.index(n) for n in chosen] if chosen else list(range(len(features)))


def skill_extra(
    store: object, store_dir: Path, base: str, folder: Path, offers: Sequence[Offer],
    names: str | Sequence[str] = (), liberal: bool = False,
) -> Extra:
    """The skill-evidence rows of :mod:`occupation_skills` (``names``: those kept, :func:`kept_rows`) for the
    offers and the masonry file, as an :data:`Extra` (the description's items linked once per offer,
    with no occupation prior; ``liberal``: :func:`occupation_skills.linked_items`)."""
    from occupation_skills import SKILL_FEATURES, SkillEvidence, linked_items, skill_rows

    rows = kept_rows(SKILL_FEATURES, names)

    trades = list(read_offers(folder / "trades")) if (folder / "trades").is_dir() else []
    every = list({(o.file, o.id): o for o in [*offers, *trades]}.values())
    start = time.process_time()
    linked = linked_items(store_dir, [o.text for o in every], liberal=liberal)
    found = dict(zip([(o.file, o.id) for o in every], linked, strict=True))
    print(f"skills linked without a prior in {len(every)} descriptions: "
          f"{sum(map(len, found.values())) / len(every):.1f} items per offer, "
          f"{time.process_time() - start:.1f} s CPU")
    evidence = SkillEvidence.from_store(store, base)
    print("skill features measured: " + ", ".join(SKILL_FEATURES[k] for k in rows))
    return lambda o, codes: skill_rows(evidence, found[o.file, o.id], codes)[rows]


def cert_extra(
    store: object, base: str, names: str | Sequence[str] = (), entries: bool = True,
    max_fiches: int | None = None,
) -> Extra:
    """The certification-evidence rows of :mod:`occupation_certs` (``names``: those kept, :func:`kept_rows`;
    ``entries``, ``max_fiches``: :meth:`occupation_certs.CertEvidence.from_store`), as an :data:`Extra`;
    each (offer, fiche) computed once (the folds ask for the same ones again)."""
    from occupation_certs import CERT_FEATURES, CertEvidence, cert_rows

    rows = kept_rows(CERT_FEATURES, names)
    start = time.process_time()
    evidence = CertEvidence.from_store(store, base, entries, max_fiches)
    print(f"certification vocabulary of {len(evidence.vectors['text'])} ROME v3 fiches read in "
          f"{time.process_time() - start:.1f} s CPU; features measured: "
          + ", ".join(CERT_FEATURES[k] for k in rows))
    memo: dict[tuple[str, str, str], np.ndarray] = {}

    def extra(o: Offer, codes: list[str]) -> np.ndarray:
        missing = [c for c in codes if (o.file, o.id, c) not in memo]
        if missing:
            for c, column in zip(missing, cert_rows(evidence, o.title, o.text, missing).T, strict=True):
                memo[o.file, o.id, c] = column
        return np.stack([memo[o.file, o.id, c] for c in codes], axis=1)[rows]

    return extra


def timed(predict: Callable[[Offer], list[str]], offers: Sequence[Offer]) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds per offer (CPU time is the fair one on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for offer in offers:
        predict(offer)
    n = len(offers)
    return (time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=ROOT / "var" / "store",
                        help="a store built by `kg build --data ../shared/data` (default: var/store)")
    parser.add_argument("--offers", type=Path, default=ROOT.parent / "shared" / "data" / "offers")
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validated weight choice")
    parser.add_argument("--fit", action="store_true", help="print the weights chosen on all the offers")
    parser.add_argument("--heldout", action="store_true",
                        help="also score the annotated TEST offers and the masonry file (never used to fit)")
    parser.add_argument("--before", action="store_true",
                        help="also measure the previous re-ranker (no v3 candidates) on the same folds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the grouped folds")
    parser.add_argument("--skills", action="store_true",
                        help="also measure the re-ranker with the description's skills as evidence "
                             "(benchmarks/occupation_skills.py) on the same folds and held-out sets")
    parser.add_argument("--skill-features", default="",
                        help="with --skills: the SKILL_FEATURES kept, comma-separated (default: all)")
    parser.add_argument("--skills-liberal", action="store_true",
                        help="with --skills: link the description with the liberal first-stage settings")
    parser.add_argument("--certs", action="store_true",
                        help="also measure the re-ranker with the certifications' text as evidence "
                             "(benchmarks/occupation_certs.py) on the same folds and held-out sets")
    parser.add_argument("--cert-features", default="",
                        help="with --certs: the CERT_FEATURES kept, comma-separated (default: all)")
    parser.add_argument("--no-entries", action="store_true",
                        help="with --certs: RNCP/RS certifications only, not the Certif Info entries' links")
    parser.add_argument("--cert-max-fiches", type=int, default=None,
                        help="with --certs: leave out certifications linked to more ROME v3 fiches than this")
    parser.add_argument("--reranker-only", action="store_true",
                        help="only the re-ranker's CV columns (no baseline, no linear weights, no timing)")
    args = parser.parse_args()

    store = open_store(args.store)
    start = time.perf_counter()
    model = OccupationModel.from_store(store, args.base)
    built = time.perf_counter() - start
    # The store's own offers are the model's examples at run time; the benchmark chooses them itself
    # (the training folds), so the model starts without.
    model.memory = None
    baseline = Baseline(store, args.base)
    walk = Crosswalk.from_store(store, args.base)
    offers = list(read_offers(args.offers))
    print(f"{len(offers)} offers, {len(model.codes)} fiches; model built from the graph in {built:.1f} s")

    def model_codes(o: Offer) -> list[str]:
        return [c for c, _ in model.predict(o.title, o.text, 5)]

    def baseline_codes(o: Offer) -> list[str]:
        return [c for c, _ in baseline.predict(o.title, o.text, 5)]

    if args.fit:
        kept = [o for o in offers if o.rome in model.codes]
        features = np.stack([model.features(o.title, o.text) for o in kept])
        gold = np.asarray([model.codes.index(o.rome) for o in kept])
        w = choose_weights(features, gold, np.full(len(FEATURES), 1 / len(FEATURES)))
        print("weights chosen on all offers:", tuple(round(float(x), 3) for x in w))
        w = fit_reranker(model, kept, static_features(model, kept))
        print("re-ranker weights fitted on all offers:", tuple(round(float(x), 3) for x in w))
        print("  " + ", ".join(f"{n}={v:.2f}" for n, v in zip(RERANK_FEATURES, w, strict=True)))
    columns: dict[str, dict[str, np.ndarray]] = {}
    if not args.reranker_only:
        columns["baseline"] = evaluate(baseline_codes, offers)
        columns["linear (weights: all)"] = evaluate(model_codes, offers)
    if not args.no_cv:
        if not args.reranker_only:
            columns["linear, 5-fold CV"] = cross_validate(model, offers, seed=args.seed)
        if args.before:
            columns["re-ranker before, CV"] = cross_validate_reranker(model, offers, seed=args.seed,
                                                                      variant=BEFORE)
        columns["re-ranker, 5-fold CV"] = cross_validate_reranker(model, offers, seed=args.seed, walk=walk)
    extra = None
    if args.skills:
        extra = skill_extra(store, args.store, args.base, args.offers, offers, args.skill_features,
                            args.skills_liberal)
    if args.certs:
        if extra is not None:
            parser.error("--certs and --skills are measured one at a time")
        extra = cert_extra(store, args.base, args.cert_features, not args.no_entries, args.cert_max_fiches)
    if extra is not None and not args.no_cv:
        name = "re-ranker + certs, CV" if args.certs else "re-ranker + skills, CV"
        columns[name] = cross_validate_reranker(model, offers, seed=args.seed, variant={"extra": extra})
    if args.heldout:
        heldout(model, offers, args.offers, (0, V3_CANDIDATES) if args.before else (V3_CANDIDATES,), walk,
                extra)
    files = [*sorted({o.file for o in offers}), "ALL"]
    counts = {f: sum(o.file == f for o in offers) for f in files[:-1]} | {"ALL": len(offers)}
    print()
    print(f"{'file':42} {'n':>4}  " + "  ".join(f"{name:>26}" for name in columns))
    print(f"{'':42} {'':>4}  " + "  ".join(f"{'top1  top3  top5':>26}" for _ in columns))
    for f in files:
        cells = "  ".join(f"{'  '.join(f'{v:.2f}' for v in col[f]):>26}" for col in columns.values())
        print(f"{f:42} {counts[f]:>4}  {cells}")
    print()
    if args.reranker_only:
        return
    model.with_offers([(o.title, o.text, o.rome) for o in offers], RERANK_WEIGHTS)
    wall_model, cpu_model = timed(model_codes, offers)  # the shipped predictor, with its examples
    wall_base, cpu_base = timed(baseline_codes, offers)
    print(
        f"predict time per offer (CPU): model {cpu_model:.2f} ms, baseline {cpu_base:.2f} ms "
        f"(model/baseline = {cpu_model / cpu_base:.2f}); wall-clock {wall_model:.2f} / {wall_base:.2f} ms"
    )


if __name__ == "__main__":
    main()
