"""Choose the linker thresholds by 5-fold cross-validation on the DEV split of the hand
annotation (the TEST split is never read), and print the cross-validated precision / recall.

    .venv/bin/python benchmarks/tune_linker.py --store /work/real-store \
        --annotation tests/annotations/offers-skills.jsonl

For each fold, the grid point with the best F1 on the other four folds is scored on the fold;
the figures printed are the pooled held-out counts. The defaults of :class:`kg.nlp.linker.Linker`
are the grid point best on the whole DEV split.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.nlp.gazetteer import Gazetteer  # noqa: E402
from kg.nlp.pipeline import load_pipeline  # noqa: E402
from kg.store import StoreLayout, open_store  # noqa: E402

GRID = {
    "min_coverage": [0.8, 0.85, 0.9, 1.0],
    "min_score": [0.6, 0.7, 0.8, 0.9],
    "single_word": [80.0, 85.0, 90.0],
}


def counts(predicted: set[str], mentions: list[dict]) -> tuple[int, int, int, int]:
    """(correct predictions, predictions, gold items found, gold items) for one offer."""
    ok: set[str] = set()
    groups: dict[str, set[str]] = {}
    for m in mentions:
        if m["kind"] == "diploma":
            continue
        accepted = {m["code"], *m["alternatives"]} - {None}
        ok |= accepted
        if m["code"]:
            groups.setdefault(m["code"], set()).update(accepted)
    return (
        len(predicted & ok),
        len(predicted),
        sum(bool(g & predicted) for g in groups.values()),
        len(groups),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--annotation", type=Path, default=ROOT / "tests/annotations/offers-skills.jsonl")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.annotation.read_text().splitlines() if line.strip()]
    dev = [r for r in rows if r["split"] == "dev"]  # the TEST split stays unread
    texts = {}
    for path in (args.data / "offers").rglob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            offer = json.loads(line)
            texts[offer["id"]] = (offer.get("intitule") or "") + "\n" + (offer.get("description") or "")
    store = open_store(args.store)
    gazetteer = Gazetteer.cached(store, StoreLayout(args.store).current())
    nlp = load_pipeline(gazetteer)
    linker = nlp.get_pipe("pas_skill_linker").linker
    docs = [nlp.make_doc(texts[r["id"]]) for r in dev]
    segmenter = nlp.get_pipe("pas_offer_segmenter")
    docs = [segmenter(d) for d in docs]
    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    table: list[list[tuple[int, int, int, int]]] = []
    for point in points:
        for name, value in point.items():
            setattr(linker, name, value)
        per_offer = []
        for doc, row in zip(docs, dev, strict=True):
            linked = nlp.get_pipe("pas_skill_linker")(doc)
            per_offer.append(counts({m.code for m in linked._.skills}, row["mentions"]))
        table.append(per_offer)

    def f1(point_index: int, offers: list[int]) -> float:
        tp, pred, found, gold = (sum(table[point_index][o][i] for o in offers) for i in range(4))
        p, r = tp / max(pred, 1), found / max(gold, 1)
        return 2 * p * r / max(p + r, 1e-9)

    order = list(range(len(dev)))
    random.Random(4).shuffle(order)
    folds = [order[i::5] for i in range(5)]
    held = [0, 0, 0, 0]
    for fold in folds:
        train = [o for o in order if o not in fold]
        best = max(range(len(points)), key=lambda i: f1(i, train))
        for i in range(4):
            held[i] += sum(table[best][o][i] for o in fold)
        print(f"fold of {len(fold)} offers: chosen {points[best]}")
    overall = max(range(len(points)), key=lambda i: f1(i, order))
    print(f"\n| measure (5-fold CV, DEV split, {len(dev)} offers) | value |\n|---|---|")
    print(f"| precision | {held[0] / max(held[1], 1):.3f} |")
    print(f"| recall | {held[2] / max(held[3], 1):.3f} |")
    print(f"\nbest on the whole DEV split (the shipped defaults): {points[overall]}")


if __name__ == "__main__":
    main()
