"""Peak memory of the store's bulk load as the file grows (issue #3: "memory flat as the file grows").

Usage: python benchmarks/store_memory.py [--sizes 250000 1000000 2000000 4000000 8000000]

``kg build`` maps each source into an N-Triples spool and bulk-loads it into the source's named
graph with pyoxigraph's ``Store.bulk_load`` (RocksDB's bulk loader, in Rust). This script measures
that step alone: for each size, a child process writes an N-Triples file of supply-like triples
(company IRIs, a few properties, French literals; not timed), bulk-loads it into a fresh on-disk
store, and reports its CPU time and peak RSS. The comparator is the same step at the other sizes:
the table shows whether the store's memory keeps growing with the file or levels off (the bulk
loader buffers a bounded batch of quads before writing sorted files).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = "https://w3id.org/passerelles/"


def _write_triples(path: Path, n: int) -> None:
    """Seven properties per subject, one literal each, as a mapped SIRENE-like source gives."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            subject = f"<{BASE}id/company/{i // 7:014d}>"
            out.write(f'{subject} <{BASE}ontology#p{i % 7}> "valeur {i % 5000} rue {i}"@fr .\n')


def _child(n: int, workdir: Path) -> dict[str, float]:
    import pyoxigraph as ox

    spool = workdir / f"spool-{n}.nt"
    _write_triples(spool, n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store = ox.Store(str(workdir / f"store-{n}"))
    cpu = time.process_time()
    store.bulk_load(path=spool, format=ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(f"{BASE}graph/x"))
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"triples": n, "cpu_s": cpu, "peak_mib": peak, "before_mib": before}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000, 2_000_000, 4_000_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.child, args.workdir)))
        return
    rows = []
    for n in args.sizes:
        workdir = Path(tempfile.mkdtemp(prefix="store-memory-"))
        try:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), "--workdir", str(workdir)],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print("| triples | bulk load CPU s | µs / triple | peak RSS (MiB) | RSS before the load |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['triples']:,} | {r['cpu_s']:.1f} | {1e6 * r['cpu_s'] / r['triples']:.1f} "
              f"| {r['peak_mib']:,.0f} | {r['before_mib']:,.0f} |")


if __name__ == "__main__":
    main()
