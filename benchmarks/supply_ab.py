"""Two code trees side by side on one supply file, in CPU seconds: each tree's child process
maps the file several times (``kg.build.map_source``, reader + mappings → N-Triples spool) with
the bare parse of the same file after each, rounds alternating the trees — so that both see the
same machine load, which on a shared machine moves one run's CPU seconds by ±30 %.

Usage: python benchmarks/supply_ab.py MODULE FILE --trees DIR [DIR ...] [--repeat 5] [--rounds 3]

MODULE is a ``synthetic`` module (``dgefp``, ``sirene``); FILE one it generated (e.g. kept by
``benchmarks/supply.py --keep var/bench``); each DIR a copy of the project (``git archive`` of a
commit). Printed per round and tree: the first map of the process ("fresh": what
``benchmarks/supply.py`` measures, imports excluded), the best and the median of the repeats,
the best bare parse, and best map / best bare.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(root: Path, module_name: str, path: Path, repeat: int) -> dict[str, list[float]]:
    """The measured work, in the child process: ``repeat`` maps, each followed by a bare parse."""
    sys.path.insert(0, str(root))
    from kg.build import map_source
    from kg.config import DEFAULT_BASE_IRI
    from kg.manifest import load_manifest

    module = importlib.import_module(f"synthetic.{module_name}")
    manifest = load_manifest(root / "mappings" / "sources.toml")
    if module.SOURCE not in manifest.names():  # no real file: the source is declared for the demo
        manifest = load_manifest(root / "demo" / "sources.toml")
    spec = dataclasses.replace(manifest.get(module.SOURCE), file=path.name)
    maps: list[float] = []
    bares: list[float] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(dir=path.parent) as folder:
            started = _cpu()
            map_source(spec, path.parent, DEFAULT_BASE_IRI, manifest.mappings_dir, Path(folder))
            maps.append(_cpu() - started)
        started = _cpu()
        module.bare_parse(path)
        bares.append(_cpu() - started)
    return {"map": maps, "bare": bares}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?")
    parser.add_argument("file", type=Path, nargs="?")
    parser.add_argument("--trees", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("TREE", "MODULE", "PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tree, module, path, repeat = args.child
        print(json.dumps(child(Path(tree), module, Path(path), int(repeat))))
        return
    if not (args.module and args.file and args.trees):
        parser.error("MODULE, FILE and --trees are required")
    path = args.file.resolve()
    print(f"{path.name}: CPU seconds; {args.repeat} maps per process, the bare parse after each")
    header = f"{'round':>5} {'tree':<28} {'fresh':>6} {'best':>6} {'median':>6} | {'bare':>6} | best/bare"
    print(header)
    for round_ in range(1, args.rounds + 1):
        for tree in args.trees:
            command = [sys.executable, __file__, "--child", str(tree.resolve()), args.module, str(path)]
            done = subprocess.run([*command, str(args.repeat)], check=True, capture_output=True, text=True)
            out = json.loads(done.stdout.strip().splitlines()[-1])
            maps, bare = out["map"], min(out["bare"])
            print(
                f"{round_:>5} {str(tree)[-28:]:<28} {maps[0]:>6.3f} {min(maps):>6.3f} "
                f"{statistics.median(maps):>6.3f} | {bare:>6.3f} | {min(maps) / bare:>8.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
