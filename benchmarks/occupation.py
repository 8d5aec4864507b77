"""Occupation prediction on real offers: top-1/3/5 against the declared romeCode, beside a naive baseline.

    .venv/bin/python benchmarks/occupation.py --store /work/real-store [--offers ../shared/data/offers]

The baseline is the naive one of issue #4: rapidfuzz (WRatio) of the raw title against every
appellation label, the fiche of the best appellations. The model's combination weights are
hand-set defaults; the benchmark also re-chooses them by 5-fold cross-validation (grid on four
folds, scored on the fifth) and prints the CV figures, so that any gain from tuning is measured on
offers the choice never saw. Times are per offer on one core (predict only, model already built).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.namespaces import prefixes_for  # noqa: E402
from kg.nlp.occupation import DEFAULT_BASE, FEATURES, OccupationModel  # noqa: E402
from kg.store import open_store  # noqa: E402


@dataclass
class Offer:
    file: str
    id: str
    title: str
    text: str
    rome: str


def read_offers(folder: Path) -> Iterator[Offer]:
    """Offers of the JSONL files (API v2 objects) and CSV dumps (flattened; delimiter sniffed)."""
    csv.field_size_limit(1 << 28)
    for path in sorted(folder.iterdir()):
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
                        str(row.get("description") or ""), str(rome))


class Baseline:
    """rapidfuzz WRatio of the raw title against every appellation label; best label's fiche first."""

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
        for _label, score, i in process.extract(title, self.labels, scorer=fuzz.WRatio, limit=40):
            if all(self.codes[i] != c for c, _ in out):
                out.append((self.codes[i], score / 100))
            if len(out) == k:
                break
        return out


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


def cross_validate(
    model: OccupationModel, offers: Sequence[Offer], folds: int = 5, seed: int = 0
) -> dict[str, np.ndarray]:
    """Weights chosen on k-1 folds of offers, top-1/3/5 measured on the held-out fold."""
    kept = [o for o in offers if o.rome in model.codes]
    features = np.stack([model.features(o.title, o.text) for o in kept])
    gold = np.asarray([model.codes.index(o.rome) for o in kept])
    order = np.random.default_rng(seed).permutation(len(kept))
    held = np.zeros(len(kept), dtype=np.int64)
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        w = choose_weights(features[train], gold[train], model.weights)
        named = ", ".join(f"{n}={v:.2f}" for n, v in zip(FEATURES, w, strict=True))
        print(f"fold {f}: weights {named}")
        held[test] = ranks(w, features[test], gold[test])
    per_file: dict[str, list[tuple[int, int, int]]] = {}
    for offer, r in zip(kept, held, strict=True):
        per_file.setdefault(offer.file, []).append((int(r < 1), int(r < 3), int(r < 5)))
    for offer in offers:
        if offer.rome not in model.codes:  # a code the graph lacks is a miss
            per_file.setdefault(offer.file, []).append((0, 0, 0))
    result = {f: np.mean(np.asarray(h), axis=0) for f, h in per_file.items()}
    result["ALL"] = np.mean(np.asarray([h for hs in per_file.values() for h in hs]), axis=0)
    return result


def timed(predict: Callable[[Offer], list[str]], offers: Sequence[Offer]) -> float:
    start = time.perf_counter()
    for offer in offers:
        predict(offer)
    return (time.perf_counter() - start) / len(offers) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=ROOT / "var" / "store",
                        help="a store built by `kg build --data ../shared/data` (default: var/store)")
    parser.add_argument("--offers", type=Path, default=ROOT.parent / "shared" / "data" / "offers")
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validated weight choice")
    args = parser.parse_args()

    store = open_store(args.store)
    start = time.perf_counter()
    model = OccupationModel.from_store(store, args.base)
    built = time.perf_counter() - start
    baseline = Baseline(store, args.base)
    offers = list(read_offers(args.offers))
    print(f"{len(offers)} offers, {len(model.codes)} fiches; model built from the graph in {built:.1f} s")

    def model_codes(o: Offer) -> list[str]:
        return [c for c, _ in model.predict(o.title, o.text, 5)]

    def baseline_codes(o: Offer) -> list[str]:
        return [c for c, _ in baseline.predict(o.title, o.text, 5)]

    columns = {"baseline": evaluate(baseline_codes, offers), "model": evaluate(model_codes, offers)}
    if not args.no_cv:
        columns["model (5-fold CV weights)"] = cross_validate(model, offers)
    files = [*sorted({o.file for o in offers}), "ALL"]
    counts = {f: sum(o.file == f for o in offers) for f in files[:-1]} | {"ALL": len(offers)}
    print()
    print(f"{'file':42} {'n':>4}  " + "  ".join(f"{name:>26}" for name in columns))
    print(f"{'':42} {'':>4}  " + "  ".join(f"{'top1  top3  top5':>26}" for _ in columns))
    for f in files:
        cells = "  ".join(f"{'  '.join(f'{v:.2f}' for v in col[f]):>26}" for col in columns.values())
        print(f"{f:42} {counts[f]:>4}  {cells}")
    print()
    ms_model = timed(model_codes, offers)
    ms_base = timed(baseline_codes, offers)
    print(f"predict time per offer: model {ms_model:.2f} ms, baseline {ms_base:.2f} ms "
          f"(model/baseline = {ms_model / ms_base:.2f})")


if __name__ == "__main__":
    main()
