"""Benchmark of ``kg build --only`` on the real data, with the full build side by side.

Usage: python benchmarks/update.py [--data ../shared/data] [--store var/real]
                                   [--source rncp-blocs --source rome-skills]

Builds the real data from scratch (the comparator), then times, on that store: a no-op full
build (unchanged inputs), and for each source: a no-op ``--only``, a forced ``--only`` of the
same file (nothing changes, everything is redone), an ``--only`` of a revised copy of the file
(about 2 % of the rows removed, 2.5 % relabelled, 1.4 % added: an upstream revision; the copy
lives in a temporary folder and is deleted), and the ``--only`` back to the official file; then a
forced ``--only cog-communes``, which also re-reads the sources whose derivation rules read it.
Prints one table: seconds, ratio to the full build, what changed.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.build import BuildResult, build  # noqa: E402
from kg.config import Settings  # noqa: E402
from kg.manifest import Manifest, SourceSpec, load_manifest  # noqa: E402
from kg.mapping import Mapping  # noqa: E402
from kg.update import NoOp, run  # noqa: E402

CODE_COLUMN = {"rncp-blocs": 1}  # the column holding the entity's own code (default: the first)


def revise(spec: SourceSpec, manifest: Manifest, out: Path) -> Path:
    """A revised copy of a CSV source: every 50th row dropped, every 40th relabelled (its last
    non-empty text column), and after every 70th row a new row with a new code."""
    mapping = Mapping.load(spec.mapping_paths(manifest.mappings_dir)[0])
    options = {**mapping.options, **spec.options}
    named = options.get("delimiter", ",")
    delimiter = {"semicolon": ";", "comma": ",", "tab": "\t", "pipe": "|"}.get(named, named)
    encoding = options.get("encoding", "utf-8-sig")
    source = spec.path(manifest.data_dir)
    target = out / source.name
    with (
        source.open(encoding=encoding, newline="") as handle,
        target.open("w", encoding=encoding, newline="") as dest,
    ):
        reader = csv.reader(handle, delimiter=delimiter)
        writer = csv.writer(dest, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(next(reader))
        for n, row in enumerate(reader, start=1):
            if n % 50 == 0:
                continue
            if n % 40 == 0:
                last = max((i for i, cell in enumerate(row) if cell and not cell.isdigit()), default=None)
                if last is not None:
                    row = [*row[:last], row[last] + " (révisé)", *row[last + 1 :]]
            writer.writerow(row)
            if n % 70 == 0:
                key = CODE_COLUMN.get(spec.name, 0)
                writer.writerow([_new_code(cell) if i == key else cell for i, cell in enumerate(row)])
    return target


def _new_code(cell: str) -> str:
    """A code of the same shape that the official file does not use (digits raised by 900000)."""
    head = cell.rstrip("0123456789")
    digits = cell[len(head) :]
    return f"{head}{int(digits) + 900000}" if digits else cell


def timed(step: str, full_s: float | None, call: object) -> tuple[str, float, str]:
    started = time.perf_counter()
    result = call()  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    if isinstance(result, NoOp):
        what = "no-op"
    else:
        assert isinstance(result, BuildResult)
        parts = [
            f"{name}: +{c.entities_added} -{c.entities_removed} ~{c.entities_changed} entities, "
            f"+{c.triples_added} -{c.triples_removed} triples"
            for name, c in result.changes.items()
        ]
        what = "; ".join(parts) or f"{len(result.sources)} sources built"
    print(f"{step:<44} {elapsed:>8.1f} {elapsed / full_s if full_s else 1.0:>8.3f}  {what}", flush=True)
    return step, elapsed, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--store", type=Path, default=ROOT / "var" / "real")
    parser.add_argument("--source", action="append", default=None)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data folder {args.data}")
    sources = args.source or ["rncp-blocs", "rome-skills"]
    settings = dataclasses.replace(Settings(), store=args.store.resolve())
    manifest = load_manifest(ROOT / "mappings" / "sources.toml", data_dir=args.data)
    print(f"{'step':<44} {'seconds':>8} {'× full':>8}  what changed")
    _, full_s, _ = timed("full build (from scratch)", None, lambda: build(manifest, settings))
    timed("kg build (unchanged inputs)", full_s, lambda: run(manifest, settings))
    work = Path(tempfile.mkdtemp(prefix="passerelles-update-"))
    try:
        for name in sources:
            spec = manifest.get(name)
            revised = revise(spec, manifest, work)
            timed(f"--only {name} (unchanged)", full_s, lambda n=name: run(manifest, settings, only=[n]))
            timed(
                f"--only {name} --force (same file)",
                full_s,
                lambda n=name: run(manifest, settings, only=[n], force=True),
            )
            timed(
                f"--only {name} --file revised",
                full_s,
                lambda n=name, f=revised: run(manifest, settings, only=[n], file=f),
            )
            timed(
                f"--only {name} (back to official)", full_s, lambda n=name: run(manifest, settings, only=[n])
            )
        # A source other sources' derivation rules read (#+ reads:): they are re-read with it.
        timed(
            "--only cog-communes --force (+ dependents)",
            full_s,
            lambda: run(manifest, settings, only=["cog-communes"], force=True),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
