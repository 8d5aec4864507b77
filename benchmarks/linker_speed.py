"""Speed of the skill linker component alone on the real offers, beside the tokenizer on the same texts.

    .venv/bin/python benchmarks/linker_speed.py --store /work/real-s3

The offers of ``../shared/data/offers/**/*.jsonl`` are tokenised and segmented once; then the
``pas_skill_linker`` component (clauses, linking, emerging phrases) runs over all of them, three times,
its clause memo dropped before each pass (reposts within a pass still hit it, as in a real run),
and the best CPU time is printed (CPU time: the machine is shared). The prior of each offer is the items
of its *declared* fiche: this is a cost measure, not a quality one (the extraction uses the predicted
fiche). The comparator is the spaCy tokenizer plus the segmenter on the same texts, which every
extraction pays anyway.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.nlp.gazetteer import Gazetteer  # noqa: E402
from kg.nlp.pipeline import load_pipeline  # noqa: E402
from kg.store import StoreLayout, open_store  # noqa: E402


def best_cpu(work: Callable[[], object], repeat: int = 3) -> float:
    """The smallest CPU time of ``repeat`` runs of ``work``."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    gazetteer = Gazetteer.cached(open_store(args.store), StoreLayout(args.store).current())
    nlp = load_pipeline(gazetteer)
    segmenter, linker = nlp.get_pipe("pas_offer_segmenter"), nlp.get_pipe("pas_skill_linker")
    offers = []
    for path in sorted((args.data / "offers").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            offer = json.loads(line)
            offers.append(((offer.get("intitule") or "") + "\n" + (offer.get("description") or ""),
                           offer.get("romeCode")))
    docs = [segmenter(nlp.make_doc(text)) for text, _ in offers]
    for doc, (_, rome) in zip(docs, offers, strict=True):
        doc._.prior = gazetteer.prior([rome]) if rome else None

    def link_all() -> None:
        linker.forget()  # the clause memo would replay a pass over the same offers: each pass links afresh
        for doc in docs:
            linker(doc)

    link_all()  # warm the word caches (fuzzy key look-ups, priors) as a long run has them
    n = len(docs)
    rows = [
        ("skill linker component (clauses, linking, emerging)", best_cpu(link_all)),
        ("comparator: spaCy tokenizer + offer segmenter", best_cpu(lambda: [segmenter(nlp.make_doc(t))
                                                                           for t, _ in offers])),
    ]
    print(f"# Skill linker speed — {n} real offers, CPU seconds, best of 3\n")
    print("| run | CPU s | offers / CPU-second | ms / offer |\n|---|---:|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {n / seconds:.0f} | {1000 * seconds / n:.1f} |")


if __name__ == "__main__":
    main()
