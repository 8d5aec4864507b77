"""The CSV blocks reader of two code trees on one file, in CPU milliseconds: the whole
``read_blocks`` pass (every block's checks and polars reads) and the per-line width check alone
(``_widths_match``, or the block's delimiter total in a tree without it), best of N in a child
process per tree, trees alternating.

Usage: python benchmarks/csv_blocks_ab.py FILE --trees DIR [DIR ...] [--rounds 2]

FILE is a generated DGEFP (``;``) or SIRENE (``,``) file (e.g. kept by ``benchmarks/supply.py
--keep var/bench``); every column is read, as the widest mapping would.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def child(root: Path, path: Path, repeat: int) -> dict[str, float]:
    """Best CPU seconds of the whole read and of the width checks, in the child process."""
    sys.path.insert(0, str(root))
    from kg.sources import csv_blocks

    header = path.open("rb").readline()
    sep = b";" if header.count(b";") > header.count(b",") else b","
    options = {"delimiter": "semicolon" if sep == b";" else "comma"}
    width = header.count(sep) + 1
    wanted = list(range(width))

    def read() -> list[csv_blocks.Block | csv_blocks.Resume]:
        return list(csv_blocks.read_blocks(path, options, width, wanted, 2000))

    blocks = [b for b in read() if isinstance(b, csv_blocks.Block)]
    check = getattr(csv_blocks, "_widths_match", None)

    def widths() -> bool:
        if check is None:  # the tree before: the block's total only
            return all(b.data.count(sep) == b.rows * (width - 1) for b in blocks)
        return all(check(b.data, b.rows, sep, width) for b in blocks)

    best: dict[str, float] = {}
    for name, work in (("read_blocks", read), ("width check", widths)):
        times = []
        for _ in range(repeat):
            started = time.process_time()
            work()
            times.append(time.process_time() - started)
        best[name] = min(times)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, nargs="?")
    parser.add_argument("--trees", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--child", nargs=3, metavar=("TREE", "PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tree, path, repeat = args.child
        print(json.dumps(child(Path(tree), Path(path), int(repeat))))
        return
    if not (args.file and args.trees):
        parser.error("FILE and --trees are required")
    path = args.file.resolve()
    print(f"{path.name}: best CPU ms of {args.repeat}")
    print(f"{'round':>5} {'tree':<28} {'read_blocks':>11} {'width check':>11}")
    for round_ in range(1, args.rounds + 1):
        for tree in args.trees:
            command = [sys.executable, __file__, "--child", str(tree.resolve()), str(path), str(args.repeat)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            out = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{round_:>5} {str(tree)[-28:]:<28} {out['read_blocks'] * 1000:>11.1f} "
                f"{out['width check'] * 1000:>11.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
