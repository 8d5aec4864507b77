"""Where the CPU time of the skill linker goes, inside it: the first stage, and the second stage's parts
(the liberal linker and its early bound, the prefilter, the features, the logistic, the trees, decide), in
CPU ms per offer of a cold then a warm pass over the real offers, with call and row counts.

Usage::

    python benchmarks/second_stage_split.py --store /work/real-s12
    python benchmarks/second_stage_split.py --store /work/real-s12 --code /tmp/before   # another checkout

Each part's function is wrapped with a CPU timer (``time.process_time``, ~1 µs a call: the per-candidate
parts, called tens of thousands of times, read a little high); a part's time includes the parts indented
under it. The offers and passes are those of ``benchmarks/extraction_stages.py`` (the linker component's
memo and the occupation model's rows dropped before each pass). ``--code`` imports ``kg`` from another
checkout with this driver, so the two tables compare; a part the other checkout lacks is left out.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import pathlib
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]

# (part, owner, attribute, what to count besides calls: rows of the answer, of the first argument, …)
PARTS: tuple[tuple[str, str, str, str], ...] = (
    ("skill linker component", "component", "__call__", ""),
    ("first stage (Linker.link_many)", "Linker", "link_many", ""),
    ("second stage (Reranker.mentions)", "Reranker", "mentions", ""),
    ("  candidates (Generator.candidates)", "Generator", "candidates", "answer"),
    ("    liberal linker (Generator._scored_all)", "Generator", "_scored_all", ""),
    ("      its windows (Linker._scored)", "liberal", "_scored", "kept"),
    ("      early bound (_Prefilter.early)", "_Prefilter", "early", ""),
    ("      prior postings (Linker._prior_postings)", "liberal", "_prior_postings", ""),
    ("    prefilter (_Prefilter.keep; rows in, kept)", "_Prefilter", "keep", "rows"),
    ("    base features (Generator._features)", "Generator", "_features", ""),
    ("    structure features (Generator._core_features)", "Generator", "_core_features", ""),
    ("    span features (Generator._span_features)", "Generator", "_span_features", ""),
    ("  rows (Model.rows)", "Model", "rows", ""),
    ("  probability (Model.probability)", "Model", "probability", ""),
    ("    trees (Forest.raw; rows)", "Forest", "raw", "answer"),
    ("  decide", "rerank", "decide", ""),
)


def _timed(spent: dict[str, float], counts: dict[str, list[int]], part: str, count: str,
           function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            answer = function(*args, **kwargs)
        finally:
            spent[part] += time.process_time() - start
        tally = counts[part]
        tally[0] += 1
        if count == "answer":
            tally[1] += len(answer)
        elif count == "rows":  # (the prefilter: the rows it reads, and those it keeps)
            tally[1] += len(args[1])
            tally[2] += sum(answer)
        elif count == "kept":  # (Linker._scored: the candidates whose window it computes)
            tally[1] += len(args[4])
        return answer

    return timed


def measure(store: pathlib.Path, data: pathlib.Path, code: pathlib.Path) -> tuple[int, list[dict[str, Any]]]:
    """The number of offers and, per pass, each part's CPU seconds and counts and the pass's total."""
    sys.path.insert(0, str(code))
    sys.path.insert(0, str(code / "benchmarks"))
    from extraction_stages import merged_offers

    import kg.nlp.extract as extract
    import kg.nlp.forest as forest
    import kg.nlp.linker as linker
    import kg.nlp.rerank as rerank
    from kg.config import DEFAULT_BASE_IRI
    from kg.store import StoreLayout, open_store

    if not pathlib.Path(extract.__file__).resolve().is_relative_to(code.resolve()):
        sys.exit(f"kg was imported from {extract.__file__}, not from {code}")
    extractor = extract.make_extractor(open_store(store), StoreLayout(store).current(), DEFAULT_BASE_IRI)
    component = extractor.nlp.get_pipe("pas_skill_linker")
    owners: dict[str, Any] = {
        "component": type(component), "Linker": linker.Linker, "Reranker": rerank.Reranker,
        "Generator": rerank.Generator, "_Prefilter": rerank._Prefilter, "Model": rerank.Model,
        "Forest": forest.Forest, "rerank": rerank, "liberal": component.reranker.generator.linker,
    }
    spent: dict[str, float] = defaultdict(float)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for part, owner, name, count in PARTS:
        target = owners[owner]
        if hasattr(target, name):  # (the liberal linker: its own methods, not the first stage's)
            wrapped = _timed(spent, counts, part, count, getattr(target, name))
            if isinstance(inspect.getattr_static(target, name), staticmethod):
                wrapped = staticmethod(wrapped)
            setattr(target, name, wrapped)
    passes = []
    with tempfile.TemporaryDirectory() as tmp:
        offers = pathlib.Path(tmp, "offers.jsonl")
        number = merged_offers(data, offers, code)
        for _ in ("cold", "warm"):
            for owner in (component, extractor.occupation):
                forget = getattr(owner, "forget", None)
                if forget is not None:
                    forget()
            spent.clear()
            counts.clear()
            with open(pathlib.Path(tmp, "out.jsonl"), "w", encoding="utf-8") as handle:
                start = time.process_time()
                extract.run(extractor, [offers], handle)
                total = time.process_time() - start
            passes.append({"total": total, "spent": dict(spent),
                           "counts": {k: list(v) for k, v in counts.items()}})
    return number, passes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=pathlib.Path, required=True, help="a store built from the real data")
    ap.add_argument("--data", type=pathlib.Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--code", type=pathlib.Path, default=ROOT, help="the checkout whose kg is measured")
    args = ap.parse_args()
    if not (args.data / "offers").is_dir():
        sys.exit(f"real data folder {args.data} is absent: nothing to measure")
    number, passes = measure(args.store, args.data, args.code.resolve())
    print(f"# CPU ms per offer inside the skill linker, {number} real offers, "
          f"code of {args.code.resolve()}\n")
    print("| part | cold | warm | calls | rows |")
    print("|---|---:|---:|---:|---|")
    for part, *_ in PARTS:
        if part not in passes[0]["spent"]:
            continue
        calls, rows, kept = passes[0]["counts"][part]
        counted = f"{rows:,} in, {kept:,} kept" if kept else (f"{rows:,}" if rows else "")
        cells = " | ".join(f"{1000 * p['spent'].get(part, 0.0) / number:.2f}" for p in passes)
        print(f"| {part.replace('  ', '&nbsp;&nbsp;')} | {cells} | {calls:,} | {counted} |")
    print("| whole extraction | " + " | ".join(f"{1000 * p['total'] / number:.2f}" for p in passes)
          + " | | |")
    print("| offers per CPU-second | " + " | ".join(f"{number / p['total']:.1f}" for p in passes) + " | | |")


if __name__ == "__main__":
    main()
