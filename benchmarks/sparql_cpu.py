"""Where /sparql's CPU goes, per query: the app process and its query workers, side by side with
``oxigraph serve-read-only`` on the same store, one client, each query sent ``--repeat`` times.

Usage::

    python benchmarks/sparql_cpu.py --store var/real --repeat 30
    python benchmarks/sparql_cpu.py --store var/real --compare var/head   # another checkout's app too

The queries are those of ``benchmarks/sparql.py`` (its mix) and ``ASK {}`` (the fixed cost of a
request). CPU is read from ``/proc`` (user + system, the kernel counts it in 10 ms ticks: use
enough repeats). Prints one line per query and the ratio of the mix's total to the reference's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.sparql import mix, start_app, start_oxigraph, stop  # noqa: E402
from kg.config import DEFAULT_BASE_IRI  # noqa: E402

ACCEPT = {"accept": "application/sparql-results+json, application/n-triples;q=0.9"}


def split_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of a process and of all its descendants (an app's query workers)."""
    root = psutil.Process(pid)
    times = root.cpu_times()
    children = 0.0
    for child in root.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        children += child_times.user + child_times.system
    return times.user + times.system, children


def measure(url: str, pid: int, query: str, repeat: int) -> tuple[float, float]:
    """Milliseconds of CPU per query: (the process, its descendants)."""
    with httpx.Client(timeout=120) as http:
        for _ in range(3):  # warm
            http.post(url, data={"query": query}, headers=ACCEPT).raise_for_status()
        before = split_cpu(pid)
        for _ in range(repeat):
            http.post(url, data={"query": query}, headers=ACCEPT).raise_for_status()
        after = split_cpu(pid)
    return (after[0] - before[0]) / repeat * 1e3, (after[1] - before[1]) / repeat * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=Path("var/store"), help="store root (has current/)")
    parser.add_argument("--repeat", type=int, default=30, help="times each query is sent (ASK {}: ×10)")
    parser.add_argument("--workers", type=int, default=0, help="app query workers (0: default)")
    parser.add_argument("--compare", type=Path, default=None, help="another checkout, its app measured too")
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        apps: dict[str, tuple[str, int]] = {}
        url, proc = start_app(args.store, args.workers)
        procs.append(proc)
        apps["kg-serve"] = (url, proc.pid)
        if args.compare is not None:
            url, proc = start_app(args.store, args.workers, root=args.compare)
            procs.append(proc)
            apps["kg-serve@compare"] = (url, proc.pid)
        ref_url, ref = start_oxigraph((args.store / "current").resolve(), 30)
        procs.append(ref)
        totals = dict.fromkeys([*apps, "oxigraph"], 0.0)
        print(f"CPU ms per query ({args.repeat} each, one client): total (app + workers) per app")
        for name, query in [*mix(DEFAULT_BASE_IRI).items(), ("ASK {}", "ASK {}")]:
            repeat = args.repeat * 10 if name == "ASK {}" else args.repeat
            line = f"{name:32}"
            for target, (url, pid) in apps.items():
                app, workers = measure(url, pid, query, repeat)
                line += f"  {target} {app + workers:7.2f} (app {app:5.2f} + workers {workers:7.2f})"
                totals[target] += 0 if name == "ASK {}" else app + workers
            reference = sum(measure(ref_url, ref.pid, query, repeat))
            totals["oxigraph"] += 0 if name == "ASK {}" else reference
            print(f"{line}  oxigraph {reference:7.2f}", flush=True)
        print(
            "mix total: "
            + ", ".join(f"{t} {v:.1f} ms (×{v / totals['oxigraph']:.2f})" for t, v in totals.items())
        )
    finally:
        stop(procs)


if __name__ == "__main__":
    main()
