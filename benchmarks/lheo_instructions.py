"""LHEO map against the bare parse in executed instructions (valgrind), not CPU seconds: on a
machine shared with other work, CPU seconds of one run vary by ±30 %, instruction counts by
well under 1 %, so two code trees can be compared on one file.

Usage: python benchmarks/lheo_instructions.py FILE --trees DIR [DIR ...]

For each tree (a copy of the project, e.g. ``git archive`` of a commit, with ``PASSERELLES_DATA``
pointing at the real-data folder for the XSD), ``valgrind --tool=callgrind`` counts the
instructions of a child process doing, after the same imports: nothing (``none``, subtracted
from the others), ``bare`` (``synthetic.lheo.bare_parse``: lxml ``iterparse`` alone), ``xsd``
(``bare_parse_validated``: lxml + the XSD check of each formation) and ``map``
(``kg.build.map_source``: reader + both LHEO mappings to the N-Triples spool), the same work as
the children of ``benchmarks/supply.py``. Instructions are a proxy for CPU time (memory stalls
are not counted); valgrind runs about 50 times slower than native, so use a file of a few
thousand sessions (``python -m synthetic.lheo --n 2000 --out var/lheo-2000.xml``).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import tempfile
from pathlib import Path

KINDS = ("none", "bare", "xsd", "map")


def child(root: Path, kind: str, path: Path) -> None:
    """The measured work, in the child process (the imports are the same for every kind)."""
    sys.path.insert(0, str(root))
    from kg.build import map_source
    from kg.config import DEFAULT_BASE_IRI
    from kg.manifest import load_manifest
    from kg.sources.lheo_reader import schema_path
    from synthetic import lheo

    manifest = load_manifest(root / "mappings" / "sources.toml")
    spec = dataclasses.replace(manifest.get("lheo-offers"), file=path.name)
    if kind == "bare":
        lheo.bare_parse(path)
    elif kind == "xsd":
        lheo.bare_parse_validated(path, schema_path({}))
    elif kind == "map":
        with tempfile.TemporaryDirectory() as spool_dir:
            map_source(spec, path.parent, DEFAULT_BASE_IRI, manifest.mappings_dir, Path(spool_dir))


def _count(tree: Path, kind: str, path: Path) -> int:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={folder}/out",
                sys.executable,
                __file__,
                "--child",
                str(tree),
                kind,
                str(path),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count for {tree} {kind}:\n{done.stderr[-2000:]}")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, nargs="?")
    parser.add_argument("--trees", nargs="+", type=Path)
    parser.add_argument("--child", nargs=3, metavar=("TREE", "KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tree, kind, path = args.child
        child(Path(tree), kind, Path(path))
        return
    if args.file is None or not args.trees:
        parser.error("FILE and --trees are required")
    path = args.file.resolve()
    print(f"{path.name}: millions of instructions (the imports-only run subtracted)")
    print(f"{'tree':<28} {'bare':>8} {'+xsd':>8} {'map':>8} | {'map/bare':>8} {'map/+xsd':>8}")
    for tree in args.trees:
        # One native run first, so that every counted run finds the tree's modules compiled
        # (__pycache__, unless PYTHONDONTWRITEBYTECODE): a first import compiles the sources,
        # ~300 M instructions that would land in whichever run came first.
        warm = [sys.executable, __file__, "--child", str(tree.resolve()), "map", str(path)]
        subprocess.run(warm, check=True)
        counts = {kind: _count(tree.resolve(), kind, path) for kind in KINDS}
        bare, xsd, mapped = (counts[k] - counts["none"] for k in ("bare", "xsd", "map"))
        print(
            f"{str(tree)[-28:]:<28} {bare / 1e6:>8.0f} {xsd / 1e6:>8.0f} {mapped / 1e6:>8.0f} | "
            f"{mapped / bare:>7.2f}x {mapped / xsd:>7.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
