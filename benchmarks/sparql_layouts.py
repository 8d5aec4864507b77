"""The query engine alone under concurrency, laid out as P processes × T threads over one read-only
store per process: what the /sparql worker pool's layout costs before any HTTP.

Usage::

    python benchmarks/sparql_layouts.py --store var/real --seconds 15 --rounds 3
    python benchmarks/sparql_layouts.py --store var/real --layouts 8x1,2x4,1x8

Each process opens the store, runs the mix of ``benchmarks/sparql.py`` once (warm-up), then its
threads loop over the mix through ``api.results.execute`` (what a worker runs: TSV within the row
cap, then SPARQL JSON) for ``--seconds``. Layouts alternate for ``--rounds`` rounds so that load
from other processes on the machine hits all alike. Prints queries per second and CPU per query
(user + system of the processes, warm-up excluded) per layout and round. pyoxigraph releases the
GIL while it evaluates and writes results, so the threads of a process run queries in parallel.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _process(build: str, threads: int, seconds: float, out: Any) -> None:
    import pyoxigraph as ox

    from api.results import Job, execute
    from benchmarks.sparql import mix
    from kg.config import DEFAULT_BASE_IRI

    store = ox.Store.read_only(build)
    jobs = [Job(text, "json", "nt", 10_000) for text in mix(DEFAULT_BASE_IRI).values()]
    for job in jobs:
        execute(store, job)
    counts = [0] * threads
    start = time.monotonic() + 0.5  # every thread starts together
    stop = start + seconds

    def loop(k: int) -> None:
        i = k
        while time.monotonic() < start:
            time.sleep(0.01)
        while time.monotonic() < stop:
            execute(store, jobs[i % len(jobs)])
            i += 1
            counts[k] += 1

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    cpu = time.process_time()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    out.put((sum(counts), time.process_time() - cpu))


def measure(build: str, processes: int, threads: int, seconds: float) -> tuple[float, float]:
    """(queries per second, CPU ms per query) of one layout."""
    ctx = multiprocessing.get_context("forkserver")
    out = ctx.Queue()
    procs = [ctx.Process(target=_process, args=(build, threads, seconds, out)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    queries = sum(n for n, _ in results)
    cpu = sum(c for _, c in results)
    return queries / seconds, cpu / max(1, queries) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=Path("var/store"), help="store root (has current/)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layouts", default="8x1,2x4,1x8,4x2", help="processes x threads, comma-separated")
    args = parser.parse_args()
    build = str((args.store / "current").resolve())
    layouts = [tuple(int(n) for n in item.split("x")) for item in args.layouts.split(",")]
    print(f"store {build}; {os.cpu_count()} CPUs; {args.seconds:g} s per layout and round")
    print(f"{'round':>5} {'layout':>8} {'q/s':>7} {'CPU ms/q':>9} {'load':>5}")
    for rnd in range(args.rounds):
        for processes, threads in layouts:
            qps, cpq = measure(build, processes, threads, args.seconds)
            layout = f"{processes}x{threads}"
            print(f"{rnd:>5} {layout:>8} {qps:>7.1f} {cpq:>9.1f} {os.getloadavg()[0]:>5.1f}", flush=True)


if __name__ == "__main__":
    main()
