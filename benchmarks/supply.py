"""Benchmark of the supply-side readers + mappings on synthetic regional files, with the bare parse
of the same file side by side.

Usage: python benchmarks/supply.py [--sizes 10000 50000] [--only lheo] [--seed 0] [--keep DIR]

For each format module of ``synthetic/`` (see the protocol in ``synthetic/__init__.py``) and each
size: the file is generated (not timed), then three child processes run one after the other, each
reporting its own wall time and peak RSS (so figures are per run, not cumulated):

- ``bare``: the module's ``bare_parse`` (lxml ``iterparse`` or the ``csv`` module alone);
- ``bare+xsd`` (formats with a schema, when the module has ``bare_parse_validated`` and the schema
  is found): the bare parse plus the schema check the reader does;
- ``read``: the project's reader alone, as the build reads it (once for the mappings that parse the
  file alike, each mapping's own step such as LHEO's ``explode`` applied);
- ``build``: ``kg.build.map_source`` — reader + every mapping of the manifest source the module
  names (``SOURCE``), writing the N-Triples spool, i.e. what ``kg build`` does before loading.

Goal (issue #3): ``build`` within 3x ``bare``; peak RSS flat between the two sizes. Wall and CPU
seconds are both printed: on a shared machine the CPU ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import pkgutil
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _modules(only: list[str] | None) -> list[str]:
    import synthetic

    names = [m.name for m in pkgutil.iter_modules(synthetic.__path__) if not m.name.startswith("_")]
    return [n for n in names if only is None or n in only]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, module_name: str, path: Path) -> dict[str, float | int]:
    """One measured run, in this (child) process."""
    module = importlib.import_module(f"synthetic.{module_name}")
    from kg.build import map_source
    from kg.config import DEFAULT_BASE_IRI
    from kg.manifest import load_manifest
    from kg.mapping import Mapping
    from kg.sources.records import read_records, split_read_options

    manifest = load_manifest(ROOT / "mappings" / "sources.toml")
    if module.SOURCE not in manifest.names():  # no real file: the source is declared for the demo
        manifest = load_manifest(ROOT / "demo" / "sources.toml")
    spec = dataclasses.replace(manifest.get(module.SOURCE), file=path.name)
    started = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_started = usage.ru_utime + usage.ru_stime
    out: dict[str, float | int] = {}
    if kind == "bare":
        out["units"] = module.bare_parse(path)
    elif kind == "xsd":
        from kg.sources.lheo_reader import schema_path

        out["units"] = module.bare_parse_validated(path, schema_path({}))
    elif kind == "read":
        # As the build reads it: once per group of mappings that parse the file alike, each
        # mapping's own step (LHEO's explode) applied to every record.
        rows = 0
        groups: dict[str, tuple[str, dict[str, str], list[object]]] = {}
        for mapping_path in spec.mapping_paths(manifest.mappings_dir):
            mapping = Mapping.load(mapping_path)
            parse, step = split_read_options(mapping.format, {**mapping.options, **spec.options})
            key = repr((mapping.format, sorted(parse.items())))
            groups.setdefault(key, (mapping.format, parse, []))[2].append(step)
        for fmt, parse, steps in groups.values():
            for record in read_records(path, fmt, parse):
                for step in steps:
                    rows += len(step(record)) if callable(step) else 1
        out["rows"] = rows
    else:
        report, stats, spool = map_source(
            spec, path.parent, DEFAULT_BASE_IRI, manifest.mappings_dir, path.parent
        )
        out["rows"], out["triples"] = report.rows_read, stats.triples
        spool.unlink(missing_ok=True)
    out["seconds"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = usage.ru_utime + usage.ru_stime - cpu_started
    out["peak_mib"] = _peak_mib()
    return out


def _run_child(kind: str, module: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, module, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _has_schema(module: object) -> bool:
    if not hasattr(module, "bare_parse_validated"):
        return False
    from kg.sources.lheo_reader import schema_path

    return schema_path({}).is_file()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--only", nargs="+", help="synthetic module names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="folder for the generated files (default: a temp dir)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MODULE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, module, path = args.child
        print(json.dumps(child(kind, module, Path(path))))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="passerelles-supply-"))
    work.mkdir(parents=True, exist_ok=True)
    header = (
        f"{'module':<8} {'size':>7} {'MB':>6} {'rows':>8} {'triples':>9} | {'bare s':>7} {'+xsd s':>7} "
        f"{'read s':>7} "
        f"{'build s':>8} {'rows/s':>8} {'build/bare':>10} | {'CPU bare':>8} {'+xsd':>6} {'read':>6} "
        f"{'build':>6} {'build/bare':>10} | {'RSS bare':>8} {'RSS read':>8} {'RSS build':>9}"
    )
    print(header)
    print("-" * len(header))
    try:
        for name in _modules(args.only):
            module = importlib.import_module(f"synthetic.{name}")
            for size in args.sizes:
                path = work / f"{name}-{size}{getattr(module, 'SUFFIX', '')}"
                if not path.exists():
                    module.generate(path, size, args.seed)
                bare = _run_child("bare", name, path)
                xsd = _run_child("xsd", name, path) if _has_schema(module) else None
                read = _run_child("read", name, path)
                built = _run_child("build", name, path)
                print(
                    f"{name:<8} {size:>7} {path.stat().st_size / 1e6:>6.1f} {int(built['rows']):>8} "
                    f"{int(built['triples']):>9} | {bare['seconds']:>7.2f} "
                    f"{xsd['seconds'] if xsd else float('nan'):>7.2f} {read['seconds']:>7.2f} "
                    f"{built['seconds']:>8.2f} {built['rows'] / built['seconds']:>8.0f} "
                    f"{built['seconds'] / bare['seconds']:>9.1f}x | {bare['cpu_s']:>8.2f} "
                    f"{xsd['cpu_s'] if xsd else float('nan'):>6.2f} {read['cpu_s']:>6.2f} "
                    f"{built['cpu_s']:>6.2f} {built['cpu_s'] / bare['cpu_s']:>9.1f}x | "
                    f"{bare['peak_mib']:>6.0f} M {read['peak_mib']:>6.0f} M {built['peak_mib']:>7.0f} M",
                    flush=True,
                )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
