"""LHEO map/bare ratios on a loaded machine: the children of ``benchmarks/supply.py`` (bare
lxml parse, lxml + XSD, map), run several times, interleaved between code trees, minimum and
median CPU seconds of each.

Usage: python benchmarks/lheo_ratio.py FILE [FILE ...] --trees DIR [DIR ...] [--repeat 3]

Each ``DIR`` is a copy of the project (``git archive`` of a commit) whose
``benchmarks/supply.py --child KIND lheo FILE`` is run; ``FILE`` is a kept synthetic LHEO file
(``benchmarks/supply.py --keep``). On a machine shared with other work, one run's CPU seconds
vary by ±30 % (``benchmarks/supply.py`` runs each child once): the minimum of a few runs, taken
in turn for every tree, is the steadier figure for comparing trees. Ratios are map / bare and
map / (bare + XSD), of the minima.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

KINDS = ("bare", "xsd", "build")


def _child(tree: Path, kind: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / "supply.py"), "--child", kind, "lheo", str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--trees", nargs="+", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'file':<18} {'tree':<22} {'bare':>11} {'+xsd':>11} {'map':>11} | "
        f"{'map/bare':>8} {'map/+xsd':>8} | {'RSS map':>7}"
    )
    print("(CPU seconds: minimum / median of the runs; ratios of the minima; RSS in MiB)")
    for path in args.files:
        runs: dict[tuple[Path, str], list[float]] = {}
        rss: dict[Path, float] = {}
        for _ in range(args.repeat):
            for tree in args.trees:
                for kind in KINDS:
                    out = _child(tree.resolve(), kind, path.resolve())
                    cpu = out["map_cpu_s"] if kind == "build" else out["cpu_s"]
                    runs.setdefault((tree, kind), []).append(cpu)
                    if kind == "build":
                        rss[tree] = max(rss.get(tree, 0.0), out["map_peak_mib"])
        for tree in args.trees:
            low = {kind: min(runs[(tree, kind)]) for kind in KINDS}
            mid = {kind: statistics.median(runs[(tree, kind)]) for kind in KINDS}
            cells = " ".join(f"{low[k]:>5.2f}/{mid[k]:<5.2f}" for k in KINDS)
            print(
                f"{path.name:<18} {str(tree)[-22:]:<22} {cells} | {low['build'] / low['bare']:>7.1f}x "
                f"{low['build'] / low['xsd']:>7.1f}x | {rss[tree]:>7.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
