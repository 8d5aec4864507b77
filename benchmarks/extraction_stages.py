"""Where the CPU time of ``kg extract`` goes, stage by stage: CPU ms per offer of a cold then a warm pass.

Usage::

    python benchmarks/extraction_stages.py --store /work/real-s8
    python benchmarks/extraction_stages.py --store /work/real-s8 --code /tmp/before   # another checkout

The extraction is the code of ``kg extract`` (``make_extractor`` then ``run`` into a temporary file)
over the real offers (``../shared/data/offers``: the JSON Lines, both CSV dumps converted, and
``offers/trades``; first file wins for an id), models loaded beforehand. Each stage's functions are
wrapped with a CPU timer (``time.process_time``; ~1 µs per call, ~10 calls per offer):

- reading: parsing the offers file (``kg.nlp.offers.read_offers``);
- preparing: ``kg.nlp.offers.prepare`` (the text, the language check);
- occupation model: ``OccupationModel.predict``;
- tokenizer and ``Doc``: ``Extractor._make_doc``;
- segmenter and skill linker: the two pipeline components' ``__call__``;
- output: the result objects (``Extractor._result``) and their JSON (``json.dumps``, the file write);
- the rest: the whole pass minus the above (batching, reposts, spaCy's ``pipe``, the collector).

The first pass is cold (word caches empty: what a run over new offers is), the second warm (the linker
component's clause memo and the occupation model's title rows dropped before it, as
``benchmarks/extraction.py`` does). ``--code`` imports
``kg`` from another checkout (the code before a change), with the same driver, so the two tables compare.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
STAGES = (
    "reading", "preparing", "occupation model", "tokenizer and Doc", "segmenter", "skill linker", "output",
)


def _timed(spent: dict[str, float], stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[stage] += time.process_time() - start

    return timed


def _timed_iterator(
    spent: dict[str, float], stage: str, function: Callable[..., Iterator[Any]]
) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
        iterator = function(*args, **kwargs)
        while True:
            start = time.process_time()
            try:
                item = next(iterator)
            except StopIteration:
                spent[stage] += time.process_time() - start
                return
            spent[stage] += time.process_time() - start
            yield item

    return timed


class _TimedJson:
    """The ``json`` module of ``kg.nlp.extract`` with a timed ``dumps``."""

    def __init__(self, spent: dict[str, float]) -> None:
        self.dumps = _timed(spent, "output", json.dumps)


class _TimedFile:
    def __init__(self, handle: Any, spent: dict[str, float]) -> None:
        self.write = _timed(spent, "output", handle.write)


def merged_offers(data: pathlib.Path, path: pathlib.Path, code: pathlib.Path) -> int:
    """Write the real offers (the merge of ``benchmarks/extraction.py``) to ``path``; their number. The
    benchmark module of ``code`` puts that checkout first on the path (it imports its ``kg``)."""
    sys.path.insert(0, str(code / "benchmarks"))
    from extraction import load_offers, offer_files

    offers = load_offers(offer_files(data))
    with open(path, "w", encoding="utf-8") as f:
        for _, offer in offers.values():
            f.write(json.dumps(offer, ensure_ascii=False) + "\n")
    return len(offers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=pathlib.Path, required=True, help="a store built from the real data")
    ap.add_argument("--data", type=pathlib.Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--code", type=pathlib.Path, default=ROOT, help="the checkout whose kg is measured")
    ap.add_argument("--passes", type=int, default=2, help="passes in this process (the first is cold)")
    args = ap.parse_args()
    if not (args.data / "offers").is_dir():
        sys.exit(f"real data folder {args.data} is absent: nothing to measure")
    with tempfile.TemporaryDirectory() as tmp:
        offers_path = pathlib.Path(tmp, "offers.jsonl")
        count = merged_offers(args.data, offers_path, args.code.resolve())
        rows = measure(args.store, offers_path, args.passes, pathlib.Path(tmp))
    names = ["cold", "warm", *(f"pass {k}" for k in range(3, args.passes + 1))][: args.passes]
    print(f"# CPU ms per offer, {count} real offers, code of {args.code.resolve()}\n")
    print("| stage | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for stage in (*STAGES, "the rest", "total"):
        print(f"| {stage} | " + " | ".join(f"{1000 * r[stage] / count:.2f}" for r in rows) + " |")
    print("| offers per CPU-second | " + " | ".join(f"{count / r['total']:.1f}" for r in rows) + " |")


def measure(
    store: pathlib.Path, offers_path: pathlib.Path, passes: int, tmp: pathlib.Path
) -> list[dict[str, float]]:
    """Per pass, the CPU seconds of each stage, of the rest and in total."""
    import kg.nlp.extract as extract
    import kg.nlp.pipeline as pipeline
    from kg.config import DEFAULT_BASE_IRI
    from kg.store import StoreLayout, open_store

    extractor = extract.make_extractor(open_store(store), StoreLayout(store).current(), DEFAULT_BASE_IRI)
    spent: dict[str, float] = defaultdict(float)
    extract.read_offers = _timed_iterator(spent, "reading", extract.read_offers)  # type: ignore[assignment]
    pipeline.prepare = _timed(spent, "preparing", pipeline.prepare)  # type: ignore[assignment]
    occupation = extractor.occupation
    occupation.predict = _timed(spent, "occupation model", occupation.predict)  # type: ignore[method-assign]
    extractor._make_doc = _timed(spent, "tokenizer and Doc", extractor._make_doc)  # type: ignore[method-assign]
    segmenter = type(extractor.nlp.get_pipe("pas_offer_segmenter"))
    linker = type(extractor.nlp.get_pipe("pas_skill_linker"))
    segmenter.__call__ = _timed(spent, "segmenter", segmenter.__call__)  # type: ignore[method-assign]
    linker.__call__ = _timed(spent, "skill linker", linker.__call__)  # type: ignore[method-assign]
    pipeline.Extractor._result = staticmethod(  # type: ignore[method-assign]
        _timed(spent, "output", pipeline.Extractor._result)
    )
    extract.json = _TimedJson(spent)  # type: ignore[assignment]
    rows = []
    for number in range(passes):
        for owner in (extractor.nlp.get_pipe("pas_skill_linker"), occupation):  # their memos
            forget = getattr(owner, "forget", None)
            if forget is not None:
                forget()
        spent.clear()
        with open(tmp / f"out{number}.jsonl", "w", encoding="utf-8") as handle:
            start = time.process_time()
            extract.run(extractor, [offers_path], _TimedFile(handle, spent))  # type: ignore[arg-type]
            total = time.process_time() - start
        row = {stage: spent[stage] for stage in STAGES}
        row["the rest"] = total - sum(row.values())
        row["total"] = total
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
