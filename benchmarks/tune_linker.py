"""Choose the skill linker's settings by 5-fold cross-validation on the DEV split of the hand
annotation, print the cross-validated precision / recall next to the naive baseline, and — with
``--test`` — score the settings chosen on the whole DEV split once on the TEST split.

    .venv/bin/python benchmarks/tune_linker.py --store /work/real-full \
        --annotation tests/annotations/offers-skills.jsonl [--test]

Settings (:class:`kg.nlp.linker.Linker` fields and ``PRIOR_FICHES`` of :mod:`kg.nlp.pipeline`)
are chosen by coordinate ascent on F1 from the shipped defaults, fold by fold on the other four
folds; the figures printed are the pooled held-out counts (the measure of
:func:`kg.nlp.evaluate.offer_item_pr`, the primary one of ``benchmarks/extraction.py``). The prior
comes, as in the extraction, from the offer's declared ``romeCode`` first, then the occupations
*predicted* from the text (:mod:`kg.nlp.occupation`; :func:`kg.nlp.linker.declared_first`). The
baseline is the one of ``benchmarks/extraction.py`` (the predicted fiche's items ranked by rapidfuzz, top
10).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from kg.nlp.evaluate import PR, AnnotatedOffer, annotated_offer, offer_item_pr  # noqa: E402
from kg.nlp.extract import occupation_model  # noqa: E402
from kg.nlp.gazetteer import Gazetteer  # noqa: E402
from kg.nlp.linker import prior_fiches  # noqa: E402
from kg.nlp.near_copies import NEAR_COPY, copy_groups, grouped_parts  # noqa: E402
from kg.nlp.offers_csv import offer_text, read_offers  # noqa: E402
from kg.nlp.pipeline import PRIOR_FICHES, PRIOR_MARGIN, load_pipeline  # noqa: E402
from kg.store import StoreLayout, open_store  # noqa: E402

BASE = "https://w3id.org/passerelles/"
# Values tried for each setting ("prior_fiches": how many predicted fiches give the prior; 0 = none;
# "prior_margin": the next fiches' least share of the top score, kg.nlp.linker.prior_fiches).
GRID: dict[str, list[Any]] = {
    "min_coverage": [0.8, 0.85, 0.9, 1.0],
    "min_score": [0.6, 0.7, 0.8, 0.9],
    "single_word": [80.0, 85.0, 90.0],
    "prior_fiches": [0, 1, 2, 3],
    "prior_margin": [None, 0.9, 0.7, 0.5, 0.3],
    "prior_coverage": [0.4, 0.5, 0.6, 0.7, 0.85],
    "prior_min_keys": [1, 2, 3],
    "outside_score": [0.0, 0.85, 0.9, 0.95, 1.0],
    "prior_bonus": [0.0, 0.05, 0.1, 0.2],
    "prior_anchor": [True, False],
    "prior_macro_keys": [None, 1],
    "one_word_savoir_outside": [True, False],
    "one_word_savoir_away": [(), ("intro",), ("intro", "missions")],
    "prior_lone_word": [None, 6.0, 6.5, 7.0, 8.0],
}

PIPELINE_SETTINGS = {"prior_fiches", "prior_margin"}  # settings of kg.nlp.pipeline, not Linker fields


class Runner:
    """Links the annotated offers under given settings, caching per-offer counts per setting."""

    def __init__(
        self, store_dir: Path, offers: list[AnnotatedOffer], texts: dict[str, tuple[str, str]],
        declared: Mapping[str, str | None],
    ) -> None:
        store = open_store(store_dir)
        self.gazetteer = Gazetteer.cached(store, StoreLayout(store_dir).current())
        self.nlp = load_pipeline(self.gazetteer)
        self.component = self.nlp.get_pipe("pas_skill_linker")
        self.linker = self.component.linker
        model = occupation_model(store, BASE)
        segmenter = self.nlp.get_pipe("pas_offer_segmenter")
        self.offers = offers
        self.docs = [segmenter(self.nlp.make_doc(texts[o.id][1])) for o in offers]
        # the fiches the skills are linked under, as in the extraction (kg.nlp.pipeline.Extractor)
        self.predicted = [
            self.component.fiches(model.predict(texts[o.id][0], texts[o.id][1], k=5), declared.get(o.id))
            for o in offers
        ]
        self.cache: dict[tuple[Any, ...], list[PR]] = {}

    def counts(self, point: dict[str, Any]) -> list[PR]:
        key = tuple(point[k] for k in GRID)
        if key not in self.cache:
            for name, value in point.items():
                if name not in PIPELINE_SETTINGS:
                    setattr(self.linker, name, value)
            per_offer = []
            for doc, offer, fiches in zip(self.docs, self.offers, self.predicted, strict=True):
                chosen = prior_fiches(fiches, point["prior_fiches"], point["prior_margin"])
                doc._.prior = self.gazetteer.prior(chosen) or None
                linked = self.component(doc)
                per_offer.append(offer_item_pr(offer, {m.code for m in linked._.skills}))
            self.cache[key] = per_offer
        return self.cache[key]


def cv_folds(n: int, seed: int = 4, groups: Sequence[int] | None = None) -> tuple[list[int], list[list[int]]]:
    """The DEV offers' order and the five folds of every skill-linking CV (this script,
    ``rerank_skills.py``, ``skill_errors.py``): shuffled with ``seed`` (4; another for a second look, as
    ``rerank_skills.py --fold-seed``), every fifth offer a fold; with ``groups`` (each offer's group,
    :func:`dev_groups`) an offer whose copy came earlier in the order joins its copy's fold
    (:func:`kg.nlp.near_copies.grouped_parts`: offers without copies keep their fold).

    >>> order, folds = cv_folds(7)
    >>> sorted(order) == list(range(7)), [len(f) for f in folds], sorted(sum(folds, [])) == list(range(7))
    (True, [2, 2, 1, 1, 1], True)
    >>> _, grouped = cv_folds(7, groups=[0, 1, 2, 3, 4, 5, 0])  # 0 and 6 one ad
    >>> [f for f in grouped if 0 in f] == [f for f in grouped if 6 in f]
    True
    """
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order, grouped_parts(order, 5, groups)


def dev_groups(offers: Sequence[AnnotatedOffer], texts: dict[str, tuple[str, str]],
               near: float = NEAR_COPY) -> list[int]:
    """Each offer's group of copies and near-copies (:func:`kg.nlp.near_copies.copy_groups`, from the
    title and the description of ``texts``' ``title + "\n" + description``, ``near`` the ratio from which
    two texts are one ad): the smallest index of its group."""
    pairs = [(title, text[len(title) + 1:]) for title, text in (texts[o.id] for o in offers)]
    return copy_groups(pairs, near=near)


def group_summary(groups: Sequence[int]) -> str:
    """How many offers are in groups of two or more, and in how many groups.

    >>> group_summary([0, 0, 2, 3, 3, 3])
    '6 offers in 3 groups; 5 in 2 groups of copies (largest 3)'
    """
    sizes = Counter(groups)
    copies = [s for s in sizes.values() if s > 1]
    return (f"{len(groups)} offers in {len(sizes)} groups; {sum(copies)} in {len(copies)} groups of copies"
            f" (largest {max(copies, default=1)})")


def shipped_settings(linker: Any) -> dict[str, Any]:
    """The linker's settings that the ascent searches (``GRID``, as it stands when called) and the
    pipeline's prior settings, at the values the extraction ships."""
    return {k: getattr(linker, k) for k in GRID if k not in PIPELINE_SETTINGS} | {
        "prior_fiches": PRIOR_FICHES, "prior_margin": PRIOR_MARGIN}


def pooled(counts: Sequence[PR], offers: Sequence[int]) -> PR:
    total = PR(0, 0, 0, 0)
    for o in offers:
        total = total + counts[o]
    return total


def ascend(
    runner: Runner, start: dict[str, Any], offers: Sequence[int], rounds: int = 3,
    frozen: Sequence[str] = (),
) -> dict[str, Any]:
    """Coordinate ascent on F1 over ``offers``: each setting in turn takes its best grid value
    (the ``frozen`` ones keep their start value)."""
    point = dict(start)
    best = pooled(runner.counts(point), offers).f1
    for _ in range(rounds):
        moved = False
        for name, values in GRID.items():
            if name in frozen:
                continue
            for value in values:
                trial = {**point, name: value}
                score = pooled(runner.counts(trial), offers).f1
                if score > best + 1e-9:
                    best, point, moved = score, trial, True
        if not moved:
            break
    return point


def baseline(
    store: Path, rows: list[AnnotatedOffer], texts: dict[str, tuple[str, str]]
) -> dict[str, list[Any]]:
    from extraction import GraphLabels, baseline_occupation, baseline_skills

    labels = GraphLabels(store)
    return {
        o.id: baseline_skills(
            texts[o.id][1], (baseline_occupation(texts[o.id][0], labels) or [None])[0], labels
        )
        for o in rows
    }


ASSOCIATION_GRID: dict[str, list[Any]] = {
    "assoc_lift": [None, 1.5, 2.0, 3.0, 5.0, 10.0],
    "assoc_support": [2, 3, 4, 6],
}


def association_table(
    data: Path, gazetteer: Gazetteer, annotated: set[str], texts: dict[str, tuple[str, str]]
) -> dict[str, tuple[tuple[str, float, int], ...]]:
    """Word-item associations (:func:`kg.nlp.associations.learn`) from every real offer file, leaving out
    the annotated offers (DEV and TEST) and any offer that duplicates one of them (same id, or the same
    words: a Jaccard index of their key sets ≥ 0.5), so that no held-out offer leaks into the table."""
    from kg.nlp.associations import learn, text_keys

    gold = [text_keys(texts[i][1]) for i in annotated if i in texts]
    rows = []
    left_out = 0
    for offer in real_offers(data):
        listed = offer.get("competences") or []
        ticked = {c["code"] for c in listed if isinstance(c, dict) and c.get("code")}
        if not ticked:
            continue
        keys = text_keys(offer_text(offer))
        if offer.get("id") in annotated or any(len(keys & g) >= 0.5 * len(keys | g) for g in gold):
            left_out += 1
            continue
        fiche = gazetteer.fiche_items.get(str(offer.get("romeCode") or ""), frozenset())
        rows.append((keys, ticked, fiche))
    print(f"association data: {len(rows)} offers with competences, {left_out} left out"
          " (annotated or duplicates)")
    return learn(rows)


def settings(assignments: Sequence[str]) -> dict[str, Any]:
    """``NAME=JSON`` assignments as settings (a JSON list is a tuple).

    >>> settings(['one_word_savoir_away=["intro"]', "prior_lone_word=null"])
    {'one_word_savoir_away': ('intro',), 'prior_lone_word': None}
    """
    out: dict[str, Any] = {}
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        parsed = json.loads(value)
        out[name] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def row(name: str, pr: PR) -> str:
    return f"| {name} | {pr.precision:.3f} | {pr.recall:.3f} | {pr.f1:.3f} | {pr.found}/{pr.gold} |"


def offer_texts(data: Path) -> dict[str, tuple[str, str]]:
    """Each real offer's title and ``intitule + "\n" + description`` (the text the annotation's offsets
    refer to), by offer id, from ``data``/offers: the JSON Lines files and the CSV dumps (the eighth
    annotation draw is Ardèche's)."""
    return {offer["id"]: (offer.get("intitule") or "", offer_text(offer)) for offer in real_offers(data)}


def declared_codes(data: Path) -> dict[str, str | None]:
    """Each real offer's declared ``romeCode`` (``None`` if it has none), by offer id, from ``data``/offers
    (the skill linking's first fiche, :func:`kg.nlp.linker.declared_first`)."""
    return {offer["id"]: offer.get("romeCode") or None for offer in real_offers(data)}


def real_offers(data: Path) -> Iterator[dict[str, Any]]:
    """Every offer of the real offer files (:func:`extraction.offer_files`: the JSON Lines files and CSV
    dumps under ``data``/offers), files in name order."""
    from extraction import offer_files

    for path in offer_files(data):
        yield from read_offers(path)


def annotation_parser(description: str) -> argparse.ArgumentParser:
    """The options of the benchmarks that score the linker on the annotation: the store (its models),
    the annotation file and the real data (the offers' texts)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--annotation", type=Path, default=ROOT / "tests/annotations/offers-skills.jsonl")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    return parser


def main() -> None:
    parser = annotation_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--test", action="store_true", help="also score the DEV choice on the TEST split, once"
    )
    parser.add_argument(
        "--freeze", action="append", default=[], metavar="SETTING",
        help="keep a setting at its shipped default (not tuned); repeatable, to measure one change apart",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="SETTING=JSON",
        help="start from (and, with --freeze, keep) another value than the shipped default",
    )
    parser.add_argument(
        "--associations", action="store_true",
        help="learn word-item associations from the recruiter-chosen competences of the real offers that are"
        " not annotated (nor duplicates of annotated ones) and put their settings in the grid",
    )
    parser.add_argument(
        "--scan", action="append", default=[], metavar="SETTING",
        help="also print, in-sample on DEV, the shipped defaults with each grid value of SETTING",
    )
    parser.add_argument(
        "--compare", action="append", default=[], metavar="SETTING=JSON",
        help="also print the shipped defaults with these values (e.g. a previous default), on DEV and TEST",
    )
    args = parser.parse_args()
    rows = [
        annotated_offer(json.loads(line)) for line in args.annotation.read_text().splitlines() if line.strip()
    ]
    dev = [r for r in rows if r.split == "dev"]
    test = [r for r in rows if r.split == "test"]
    texts = offer_texts(args.data)
    t0 = time.perf_counter()
    declared = declared_codes(args.data)  # (read once: the TEST runner reads them too)
    runner = Runner(args.store, dev, texts, declared)
    print(f"loaded in {time.perf_counter() - t0:.0f} s")
    linker = runner.linker
    if args.associations:
        t1 = time.perf_counter()
        linker.associations = association_table(args.data, runner.gazetteer, {r.id for r in rows}, texts)
        pairs = sum(map(len, linker.associations.values()))
        print(f"associations: {len(linker.associations)} keys, {pairs} pairs,"
              f" learned in {time.perf_counter() - t1:.1f} s")
        GRID.update(ASSOCIATION_GRID)
    defaults = shipped_settings(linker) | settings(args.set)
    compared = {**defaults, **settings(args.compare)}
    unknown = [name for name in [*args.freeze, *args.scan, *compared] if name not in GRID]
    if unknown:
        parser.error(f"unknown settings: {unknown}")
    without_prior = {**defaults, "prior_fiches": 0}

    groups = dev_groups(dev, texts)  # copies and near-copies in one fold (kg.nlp.near_copies)
    print(f"DEV: {group_summary(groups)}")
    order, folds = cv_folds(len(dev), groups=groups)
    held = PR(0, 0, 0, 0)
    for fold in folds:
        train = [o for o in order if o not in fold]
        chosen = ascend(runner, defaults, train, frozen=args.freeze)
        held = held + pooled(runner.counts(chosen), fold)
        print(f"fold of {len(fold)} offers: chosen {chosen}")
    overall = ascend(runner, defaults, order, frozen=args.freeze)

    base = baseline(args.store, dev + test, texts)
    print(f"\n| DEV split, {len(dev)} offers | P | R | F1 | units found |\n|---|---|---|---|---|")
    print(
        row(
            "baseline (predicted fiche's items, fuzzy top-10)",
            pooled([offer_item_pr(o, {p.code for p in base[o.id]}) for o in dev], order),
        )
    )
    print(row("linker, shipped defaults (in-sample)", pooled(runner.counts(defaults), order)))
    if args.compare:
        print(row(f"linker, shipped defaults with {' '.join(args.compare)} (in-sample)",
                  pooled(runner.counts(compared), order)))
    print(
        row(
            "linker, shipped defaults without the prior (in-sample)",
            pooled(runner.counts(without_prior), order),
        )
    )
    for name in args.scan:
        for value in GRID[name]:
            print(row(f"linker, shipped defaults with {name}={value!r} (in-sample)",
                      pooled(runner.counts({**defaults, name: value}), order)))
    print(row("linker, settings chosen per fold (5-fold CV, held out)", held))
    print(row("linker, settings chosen on all DEV (in-sample)", pooled(runner.counts(overall), order)))
    print(f"\nbest on the whole DEV split: {overall}")
    if args.test:
        test_runner = Runner(args.store, test, texts, declared)
        everything = list(range(len(test)))
        print(
            f"\n| TEST split, {len(test)} offers (read once) | P | R | F1 | units found |"
            "\n|---|---|---|---|---|"
        )
        print(
            row(
                "baseline (predicted fiche's items, fuzzy top-10)",
                pooled([offer_item_pr(o, {p.code for p in base[o.id]}) for o in test], everything),
            )
        )
        print(row("linker, settings chosen on DEV", pooled(test_runner.counts(overall), everything)))
        print(row("linker, shipped defaults", pooled(test_runner.counts(defaults), everything)))
        if args.compare:
            print(row(f"linker, shipped defaults with {' '.join(args.compare)}",
                      pooled(test_runner.counts(compared), everything)))


if __name__ == "__main__":
    main()
