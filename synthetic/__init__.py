"""Synthetic source files at regional scale, for the scale benchmarks — never read by a build.

Kept apart from ``kg/sources`` (which reads real files): nothing here is imported by ``kg``.
Each module generates one official format and follows one small protocol, which
``benchmarks/supply.py`` relies on to find and run it:

``SOURCE: str``
    The name of the manifest source (in ``mappings/sources.toml`` or its fragments) whose
    mappings and reader options load this format; the benchmark maps the generated file with
    that source's spec, through the same code path as ``kg build`` (``kg.build.map_source``).
``UNIT: str``
    What ``n`` counts (``"sessions"``, ``"establishments"``...), for the benchmark's table.
``SUFFIX: str`` (optional)
    The generated file's suffix (``".xml"``, ``".csv"``), for readers that look at it.
``generate(path: Path, n: int, seed: int = 0) -> None``
    Write a realistic file of ``n`` units to ``path``, deterministically for a given seed, in
    memory independent of ``n`` (written as it goes).
``bare_parse(path: Path) -> int``
    The comparator: parse the whole file with the format's plain parser alone (lxml
    ``iterparse``, the ``csv`` module...), count the units and return the count.
``bare_parse_validated(path: Path, xsd: Path) -> int`` (optional)
    For a format with a schema the reader checks: the bare parse plus that check.

Each module also runs as ``python -m synthetic.<module> --n N --out FILE [--seed S]`` (:func:`cli`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def cli(doc: str | None, generate: Callable[[Path, int, int], None], unit: str, what: str) -> Path:
    """``python -m synthetic.<module> --n N --out FILE [--seed S]`` (``--<unit>`` is an alias of
    ``--n``): parse the arguments, generate the file, return its path."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--n", f"--{unit}", dest="n", type=int, required=True, help=what)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generate(args.out, args.n, args.seed)
    return Path(args.out)
