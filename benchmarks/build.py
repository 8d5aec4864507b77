"""Benchmark of the full build on the real data, with the store's bulk loader side by side.

Usage: python benchmarks/build.py [--data ../shared/data] [--engine fast|pyshacl]

Prints, per source: records and triples, seconds to read, map and load, triples/s; then the
stages (map+load, validate, quarantine, total), the build's peak RSS, and in the same run
the two comparators on the N-Quads dump of what was built: ``oxigraph load`` (the store's
own bulk loader, the practical limit) and rdflib parsing the dump (the naive comparator).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.build import build  # noqa: E402
from kg.config import Settings  # noqa: E402
from kg.manifest import load_manifest  # noqa: E402
from kg.store import open_store  # noqa: E402


def rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def timed_child(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of a child process."""
    before = rss_mib(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    return elapsed, max(rss_mib(resource.RUSAGE_CHILDREN), before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--engine", default="fast")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data folder {args.data}")
    work = Path(tempfile.mkdtemp(prefix="passerelles-bench-"))
    settings = dataclasses.replace(Settings(), store=work / "store")
    manifest = load_manifest(ROOT / "mappings" / "sources.toml", data_dir=args.data)
    result = build(manifest, settings, engine=args.engine)
    build_rss = rss_mib()

    print(
        f"{'source':<34} {'records':>9} {'triples':>10} {'read s':>7} {'map s':>7} {'load s':>7} "
        f"{'triples/s':>10}"
    )
    for r in result.sources:
        seconds = r.read_s + r.map_s + r.load_s
        rate = r.triples / seconds if seconds else 0
        print(
            f"{r.name:<34} {r.rows_read:>9,} {r.triples:>10,} {r.read_s:>7.2f} {r.map_s:>7.2f} "
            f"{r.load_s:>7.2f} {rate:>10,.0f}"
        )
    named = sum(result.graph_triples.values())
    store = open_store(settings.store)
    total_triples = len(store)  # named graphs + the published default graph + ontology
    t = result.timings
    print()
    print(
        f"quads in store: {total_triples:,} ({named:,} in named graphs, the rest in the published default "
        f"graph); violations {result.violations:,}, warnings {result.warnings:,}"
    )
    for stage in (
        "read",
        "map",
        "load",
        "map_and_load",
        "publish",
        "validate",
        "validate_and_quarantine",
        "total",
    ):
        print(f"  {stage:<14} {t[stage]:8.2f} s")
    print(f"  validation share of total: {t['validate'] / t['total']:.0%}")
    print(f"  build peak RSS: {build_rss:,.0f} MiB")

    dump = work / "dump.nq"
    store.dump(str(dump), format=__import__("pyoxigraph").RdfFormat.N_QUADS)
    del store
    size_mib = dump.stat().st_size / 2**20
    oxi = str(Path(sys.executable).parent / "oxigraph")
    load_s, load_rss = timed_child([oxi, "load", "--location", str(work / "bulk"), "--file", str(dump)])
    rdflib_s, rdflib_rss = timed_child(
        [
            sys.executable,
            "-c",
            "import sys, rdflib; g = rdflib.Dataset(); g.parse(sys.argv[1], format='nquads'); print(len(g))",
            str(dump),
        ]
    )
    print()
    print(f"comparators on the N-Quads dump ({size_mib:,.0f} MiB, {total_triples:,} quads):")
    print(f"{'what':<30} {'seconds':>9} {'quads/s':>12} {'build ÷ it':>11} {'peak RSS MiB':>13}")
    for name, seconds, rss in (
        ("kg build (whole)", t["total"], build_rss),
        ("oxigraph load (bulk loader)", load_s, load_rss),
        ("rdflib parse (naive)", rdflib_s, rdflib_rss),
    ):
        print(
            f"{name:<30} {seconds:>9.2f} {total_triples / seconds:>12,.0f} "
            f"{t['total'] / seconds:>10.2f}x {rss:>13,.0f}"
        )


if __name__ == "__main__":
    main()
