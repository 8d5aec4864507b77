"""How many candidates the skill linker's prefilter lets through, and the extraction's CPU time, with the
shipped model (``kg/nlp/rerank-model.json``) at other gates, or with another model file, on the real
offers (docs/guides/skill-tree-cascade.md).

    .venv/bin/python benchmarks/cascade_candidates.py --store /work/real-s11b [--gate 0.05 --gate 0.1]
        [--model OTHER.json] [--unfiltered]

Each row is one pass of one worker over every offer, after an unprinted pass that warms the word caches
(the clause memo dropped before each): the candidates described (:meth:`kg.nlp.rerank.Generator._features`
calls: those the prefilters let through), the skills kept, the CPU seconds (a rough figure: the speed is
measured by ``benchmarks/extraction.py --speed-only`` beside main's checkout). A gate only
changes the prefilter's bound and the cascade (:class:`kg.nlp.rerank.Model`); the trees stay the same.
``--unfiltered`` adds the shipped model with no prefilter (every candidate described, the cascade deciding)
and says whether its skills (codes, spans, scores) are those of the shipped row: the bound is exact.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from extraction import DATA, load_offers, offer_files  # noqa: E402

from kg.nlp.rerank import MODEL_FILE, Generator, Model, Reranker  # noqa: E402


def counting(calls: Counter[str], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` counting its calls under ``name``."""
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return method(*args, **kwargs)
    return counted


class Unfiltered(Generator):
    """A generator that describes every candidate: no bound, no early prefilter."""

    def candidates(self, clauses: Any, text: str, predicted: Any, linked: Any = (), model: Any = None
                   ) -> Any:
        return super().candidates(clauses, text, predicted, linked, None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=pathlib.Path, default=DATA)
    ap.add_argument("--store", type=pathlib.Path, required=True)
    ap.add_argument("--gate", type=float, action="append", default=[],
                    help="the shipped model at this gate too (repeatable)")
    ap.add_argument("--model", type=pathlib.Path, action="append", default=[],
                    help="another model file (repeatable), e.g. main's logistic")
    ap.add_argument("--unfiltered", action="store_true",
                    help="the shipped model with no prefilter too, its skills compared with the shipped"
                    " row's")
    args = ap.parse_args()

    from kg.config import DEFAULT_BASE_IRI
    from kg.nlp.extract import make_extractor, run
    from kg.store import StoreLayout, open_store

    offers = load_offers(offer_files(args.data))
    shipped = Model.load(MODEL_FILE)
    models: list[tuple[str, Model]] = [(f"shipped ({MODEL_FILE.name}, gate {shipped.gate})", shipped)]
    models += [(f"shipped at gate {g}", replace(shipped, gate=g)) for g in args.gate]
    models += [(f"{path} (gate {Model.load(path).gate})", Model.load(path)) for path in args.model]
    if args.unfiltered:
        models.append(("shipped, no prefilter", shipped))
    extractor = make_extractor(open_store(args.store), StoreLayout(args.store).current(), DEFAULT_BASE_IRI)
    pipe: Any = extractor.nlp.get_pipe("pas_skill_linker")  # kg.nlp.pipeline.SkillLinker
    reranker = pipe.reranker
    assert reranker is not None, "the second stage is off (PASSERELLES_NLP_RERANK=0?)"
    skills: dict[str, list[Any]] = {}
    calls: Counter[str] = Counter()
    Generator._features = counting(calls, "described", Generator._features)  # type: ignore[method-assign]
    print(f"{len(offers)} offers; one warm pass, one worker each\n")
    print("| model | candidates described | skills kept | CPU s | offers per CPU s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        merged = pathlib.Path(tmp, "offers.jsonl")
        merged.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for _, o in offers.values()),
                          encoding="utf-8")
        for name, model in [("warm-up", shipped), *models]:
            # the same liberal linker (its word cache shared with the first stage), this model's prefilter
            generator = reranker.generator
            if name == "shipped, no prefilter":
                generator.__class__ = Unfiltered
                generator.early = False
            pipe.reranker = Reranker(generator, model)
            pipe.forget()
            calls.clear()
            out = pathlib.Path(tmp, "out.jsonl")
            with open(out, "w", encoding="utf-8") as f:
                c0 = time.process_time()
                stats = run(extractor, [merged], f, workers=1)
                cpu = time.process_time() - c0
            skills[name] = [json.loads(line).get("skills") or [] for line in out.open(encoding="utf-8")]
            kept = sum(map(len, skills[name]))
            if name != "warm-up":
                print(f"| {name} | {calls['described']} | {kept} | {cpu:.1f} | {stats.offers / cpu:.0f} |",
                      flush=True)
    if args.unfiltered:
        same = skills["shipped, no prefilter"] == skills[models[0][0]]
        word = "the same" if same else "DIFFERENT"
        print(f"\nthe shipped model's skills without the prefilters are {word}")


if __name__ == "__main__":
    main()
