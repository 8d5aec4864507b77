"""Benchmark of the supply-side readers + mappings on synthetic regional files, with the bare parse
of the same file side by side.

Usage: python benchmarks/supply.py [--sizes 10000 50000] [--only lheo] [--seed 0] [--keep DIR]
                                   [--shacl [SIZE ...]] [--rounds N] [--tree DIR]
                                   [--polars-threads 1 2 default [--rounds 3]]

For each format module of ``synthetic/`` (see the protocol in ``synthetic/__init__.py``) and each
size: the file is generated (not timed), then child processes run one after the other, each
reporting its own CPU time and peak RSS (so figures are per run, not cumulated):

- ``bare``: the module's ``bare_parse`` (lxml ``iterparse`` or the ``csv`` module alone);
- ``bare+xsd`` (formats with a schema, when the module has ``bare_parse_validated`` and the schema
  is found): the bare parse plus the schema check the reader does;
- ``read``: the project's reader alone, as the build reads it (once for the mappings that parse the
  file alike, each mapping's own step such as LHEO's ``explode`` applied; a CSV file whose
  mappings are all compiled is read as raw cells, as the build does, or in polars blocks of the
  columns used when they compile to columns: kg.sources.csv_blocks);
- ``build``: ``kg.build.map_source`` — reader + every mapping of the manifest source the module
  names (``SOURCE``), writing the N-Triples spool, i.e. what ``kg build`` does before loading
  ("map"); then, in the same process and measured apart: the spool bulk-loaded into the
  source's named graph of a fresh on-disk store, as ``kg build`` does ("store"), and with
  ``--shacl`` the SHACL validation of that graph alone with the project's shapes
  (``kg.validate.validate_union``, whose ``publish`` loads the graph into the default graph;
  links to sources not loaded, such as communes, are violations here, so only its time is
  meaningful) ("shacl": not part of the load, and its memory grows with the graph).

Goal (issue #3): the load within 3x ``bare``; peak RSS flat between the two sizes. The table gives
map/bare (reader + mappings, the part in Python), (map+store)/bare (the load into the store),
and for LHEO map/(bare+xsd) (the reader validates every formation against the XSD, which the
bare lxml parse does not). CPU seconds are printed, not wall times: on a shared machine they are
the steadier figure (CPU seconds of a child include its threads: the store's).

``--rounds N`` (default 1): the children of each file run N times, one line per round, then a
line of medians (``med.``, the ratios taken between medians); the store and SHACL steps run in
the first round only (later rounds map without storing). ``--tree DIR``: the children import
the project from DIR (a ``git archive`` of another commit) instead of this tree, so that two
trees are measured by the same benchmark code (run one, then the other, alternately).

``--child map MODULE PATH`` (one map, no store; JSON on stdout) also gives the map's user and
system seconds and minor page faults (``map_user_s``, ``map_sys_s``, ``map_minflt``): the
kernel's share, first touches of memory (kg.allocator; ``PASSERELLES_ALLOCATOR=off`` in its
environment for the allocators' defaults).

``--polars-threads 1 2 default``: instead, the map alone (no store) of each file in a fresh child
per variant of polars' thread pool (POLARS_MAX_THREADS set in the child's environment before it
imports polars; ``default``: polars' own choice), variants rotated each round, CPU and wall
seconds side by side (the project's default is one thread: kg.polars_threads).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import pkgutil
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _modules(only: list[str] | None) -> list[str]:
    import synthetic

    names = [m.name for m in pkgutil.iter_modules(synthetic.__path__) if not m.name.startswith("_")]
    return [n for n in names if only is None or n in only]


def _synthetic_files(
    only: list[str] | None, sizes: list[int], work: Path, seed: int
) -> Iterator[tuple[str, ModuleType, int, Path]]:
    """Each synthetic source's file of each size under ``work`` (generated once, kept for the next
    runs): (source name, its generator module, size, path)."""
    for name in _modules(only):
        module = importlib.import_module(f"synthetic.{name}")
        for size in sizes:
            path = work / f"{name}-{size}{getattr(module, 'SUFFIX', '')}"
            if not path.exists():
                module.generate(path, size, seed)
            yield name, module, size, path


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, module_name: str, path: Path, root: Path = ROOT) -> dict[str, float | int]:
    """One measured run, in this (child) process, of the project at ``root``."""
    if root != ROOT:
        sys.path.insert(0, str(root))  # before this tree: the other tree's kg and synthetic
    module = importlib.import_module(f"synthetic.{module_name}")
    from kg.build import map_source
    from kg.config import DEFAULT_BASE_IRI
    from kg.manifest import load_manifest
    from kg.mapping import Mapping
    from kg.sources.records import read_records, split_read_options

    manifest = load_manifest(root / "mappings" / "sources.toml")
    if module.SOURCE not in manifest.names():  # no real file: the source is declared for the demo
        manifest = load_manifest(root / "demo" / "sources.toml")
    spec = dataclasses.replace(manifest.get(module.SOURCE), file=path.name)
    started = time.perf_counter()
    cpu_started = _cpu()
    usage_started = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, float | int] = {}
    if kind == "none":  # the imports alone: subtracted from instruction counts (valgrind)
        return out
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
        mappings = [Mapping.load(p) for p in spec.mapping_paths(manifest.mappings_dir)]
        for mapping in mappings:
            parse, step = split_read_options(mapping.format, {**mapping.options, **spec.options})
            key = repr((mapping.format, sorted(parse.items())))
            groups.setdefault(key, (mapping.format, parse, []))[2].append(step)
        for fmt, parse, steps in groups.values():
            if _reads_cells(fmt, parse, mappings, spec.options):
                from kg.sources.csv_reader import read_csv_cells

                blocks = _read_blocks(path, parse, mappings, spec.options)
                if blocks is not None:  # the columnar engine's read: polars blocks of the used columns
                    rows += blocks * len(steps)
                    continue
                rows += sum(1 for _ in read_csv_cells(path, parse)[1]) * len(steps)
                continue
            for record in read_records(path, fmt, parse):
                for step in steps:
                    rows += len(step(record)) if callable(step) else 1
        out["rows"] = rows
    else:
        import tempfile

        import pyoxigraph as ox

        from kg.validate import validate_union

        report, stats, spool = map_source(
            spec, path.parent, DEFAULT_BASE_IRI, manifest.mappings_dir, path.parent
        )
        out["rows"], out["triples"] = report.rows_read, stats.triples
        out["map_cpu_s"], out["map_peak_mib"] = _cpu() - cpu_started, _peak_mib()
        usage = resource.getrusage(resource.RUSAGE_SELF)  # the kernel's share: first touches of memory
        out["map_user_s"] = usage.ru_utime - usage_started.ru_utime
        out["map_sys_s"] = usage.ru_stime - usage_started.ru_stime
        out["map_minflt"] = usage.ru_minflt - usage_started.ru_minflt
        out["map_s"] = time.perf_counter() - started
        if "polars" in sys.modules:  # asked after the map: asking starts the pool
            out["polars_threads"] = sys.modules["polars"].thread_pool_size()
        try:
            if kind == "map":  # the map alone (--polars-threads): no store
                return out
            with tempfile.TemporaryDirectory(dir=path.parent) as folder:
                store = ox.Store(folder)
                before = _cpu()
                store.bulk_load(path=spool, format=ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode("urn:x:g"))
                store.flush()
                out["store_cpu_s"] = _cpu() - before
                out["load_peak_mib"] = _peak_mib()
                if kind == "build+shacl":
                    before = _cpu()
                    results, _ = validate_union(
                        spool, store, lambda: store.bulk_load(path=spool, format=ox.RdfFormat.N_TRIPLES)
                    )
                    out["shacl_cpu_s"] = _cpu() - before
                    out["violations"] = sum(r.severity == "Violation" for r in results)
                del store
        finally:
            spool.unlink(missing_ok=True)
    out["seconds"] = time.perf_counter() - started
    out["cpu_s"] = _cpu() - cpu_started
    out["peak_mib"] = _peak_mib()
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _read_blocks(
    path: Path, parse: dict[str, str], mappings: list[object], options: dict[str, str]
) -> int | None:
    """The rows of a CSV file as the columnar engine reads them (kg.sources.csv_blocks, the columns
    its mappings and skip rules use; the csv module past a hand-over), or None when the build
    does not read it so (or on code without that engine)."""
    try:
        from kg.mapping import MappingRunner
        from kg.sources.csv_blocks import Block, read_blocks, readable
    except ImportError:
        return None
    from itertools import dropwhile

    from kg.config import DEFAULT_BASE_IRI
    from kg.sources.csv_reader import read_csv_cells

    names, rest = read_csv_cells(path, parse)
    runners = [MappingRunner(m, DEFAULT_BASE_IRI, options=options) for m in mappings]  # type: ignore[arg-type]
    plans = [r.columnar_plan(names) for r in runners]
    if not readable(parse) or not all(plans):
        return None
    index = {name: position for position, name in enumerate(names)}
    wanted = {index[n] for plan in plans if plan for n in plan.present}
    wanted |= {index[r.column] for runner in runners for r in runner._skip if r.column in index}
    rows = 0
    for block in read_blocks(path, parse, len(names), sorted(wanted), 2000):
        if isinstance(block, Block):
            rows += block.rows
        else:
            rows += sum(1 for _ in dropwhile(lambda row, done=block.line: row[0] <= done, rest))
    return rows


def _reads_cells(fmt: str, parse: dict[str, str], mappings: list[object], options: dict[str, str]) -> bool:
    """Whether the build reads this group as raw CSV cells (kg.mapping.run_csv_cells); False on
    code without that path, so that the benchmark also runs on older commits."""
    try:
        from kg.mapping import MappingRunner, _cells_path
    except ImportError:
        return False
    from kg.config import DEFAULT_BASE_IRI

    runners = [(MappingRunner(m, DEFAULT_BASE_IRI, options=options), None) for m in mappings]  # type: ignore[arg-type]
    return _cells_path(fmt, parse, runners)


TREE = ROOT  # the project the children import (--tree)


def _run_child(kind: str, module: str, path: Path, threads: str | None = None) -> dict[str, float]:
    env = None
    if threads is not None:
        env = _threads_env(threads)
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, module, str(path), "--tree", str(TREE)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _threads_env(threads: str) -> dict[str, str]:
    """The child's environment for one ``--polars-threads`` variant: a number of threads is put
    in POLARS_MAX_THREADS (read by polars when its pool starts, so it must be in the environment
    before the child imports polars); ``default`` unsets it and asks the project's setting for
    polars' own choice (one thread per core), so that older trees and this one run alike."""
    unset = ("POLARS_MAX_THREADS", "PASSERELLES_POLARS_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if threads == "default":
        env["PASSERELLES_POLARS_THREADS"] = "auto"
    else:
        env["POLARS_MAX_THREADS"] = str(int(threads))
    return env


def _threads_table(args: argparse.Namespace, work: Path) -> None:
    """``--polars-threads``: the map (reader + mappings -> spool, no store) of each file once per
    variant and round, the variants in a rotated order each round, the bare parse once a round;
    CPU and wall seconds of each map, then the medians per variant."""
    variants: list[str] = args.polars_threads
    header = (
        f"{'module':<7} {'size':>7} {'round':>5} {'threads':>7} {'pool':>4} | {'bare':>5} "
        f"{'map cpu':>7} {'map wall':>8} {'cpu/bare':>8} {'RSS':>5}"
    )
    print(
        "map = reader + mappings -> spool in a fresh child; CPU and wall seconds; pool = "
        "polars.thread_pool_size() in the child; RSS = the map's peak, MiB"
    )
    print(header)
    print("-" * len(header))
    for name, _, size, path in _synthetic_files(args.only, args.sizes, work, args.seed):
        runs: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
        bares = []
        for round_ in range(args.rounds):
            bare = _run_child("bare", name, path)["cpu_s"]
            bares.append(bare)
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                got = _run_child("map", name, path, variant)
                runs[variant].append((got["map_cpu_s"], got["map_s"]))
                print(
                    f"{name:<7} {size:>7} {round_ + 1:>5} {variant:>7} "
                    f"{int(got.get('polars_threads', 0)):>4} | {bare:>5.2f} {got['map_cpu_s']:>7.3f} "
                    f"{got['map_s']:>8.3f} {got['map_cpu_s'] / bare:>7.1f}x {got['map_peak_mib']:>5.0f}",
                    flush=True,
                )
        for variant in variants:
            cpu = statistics.median(c for c, _ in runs[variant])
            wall = statistics.median(w for _, w in runs[variant])
            print(
                f"{name:<7} {size:>7} {'med.':>5} {variant:>7} {'':>4} | "
                f"{statistics.median(bares):>5.2f} {cpu:>7.3f} {wall:>8.3f} "
                f"{cpu / statistics.median(bares):>7.1f}x",
                flush=True,
            )


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
    parser.add_argument(
        "--shacl",
        nargs="*",
        type=int,
        metavar="SIZE",
        help="also validate the loaded graph (all sizes, or the sizes given): slow, and its memory "
        "grows with the graph (it is not part of the load)",
    )
    parser.add_argument(
        "--polars-threads",
        nargs="+",
        metavar="N",
        help="instead of the table: the map alone (no store) with polars' thread pool at each size "
        "given (a number, or 'default' for polars' own choice), side by side, --rounds times",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of each file's children (default 1; 3 with --polars-threads)"
    )
    parser.add_argument(
        "--tree", type=Path, default=ROOT, help="the project the children import (default: this one)"
    )
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MODULE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, module, path = args.child
        print(json.dumps(child(kind, module, Path(path), args.tree.resolve())))
        return
    global TREE
    TREE = args.tree.resolve()
    print(f"tree: {TREE}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="passerelles-supply-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.polars_threads:
        args.rounds = args.rounds or 3
        try:
            _threads_table(args, work)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
        return
    header = (
        f"{'module':<7} {'size':>7} {'round':>5} {'MB':>5} {'rows':>7} {'triples':>9} | "
        f"{'bare':>5} {'+xsd':>5} {'read':>5} "
        f"{'map':>6} {'store':>6} {'shacl':>6} | {'map/bare':>8} {'map/+xsd':>8} {'load/bare':>9} "
        f"{'rows/s':>7} | {'RSS bare':>8} {'read':>5} {'map':>5} {'load':>5}"
    )
    print("CPU seconds of each child process; ratios of CPU seconds; load = map + store; RSS in MiB")
    print(header)
    print("-" * len(header))
    try:
        for name, module, size, path in _synthetic_files(args.only, args.sizes, work, args.seed):
            rounds: list[dict[str, float]] = []
            for round_ in range(args.rounds or 1):
                bare = _run_child("bare", name, path)
                xsd = _run_child("xsd", name, path) if _has_schema(module) else None
                read = _run_child("read", name, path)
                shacl = round_ == 0 and args.shacl is not None and (not args.shacl or size in args.shacl)
                built = _run_child("build+shacl" if shacl else "build" if round_ == 0 else "map", name, path)
                if round_ == 0:
                    first = built
                    stored, load_peak = built["store_cpu_s"], built["load_peak_mib"]
                else:  # stored once: the store's figures of the first round
                    built.update(store_cpu_s=stored, load_peak_mib=load_peak)
                rounds.append(
                    {
                        "bare": bare["cpu_s"],
                        "xsd": xsd["cpu_s"] if xsd else float("nan"),
                        "read": read["cpu_s"],
                        "map": built["map_cpu_s"],
                        "bare_mib": bare["peak_mib"],
                        "read_mib": read["peak_mib"],
                        "map_mib": built["map_peak_mib"],
                    }
                )
                _table_line(
                    name, size, path, str(round_ + 1) if args.rounds else "", rounds[-1], built, shacl
                )
            if len(rounds) > 1:
                medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
                _table_line(name, size, path, "med.", medians, first, False)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _table_line(
    name: str, size: int, path: Path, round_: str, cpu: dict[str, float], built: dict[str, float], shacl: bool
) -> None:
    """One line of the table: ``cpu`` the children's CPU seconds and peak RSS (bare, xsd, read,
    map), ``built`` the map child's other figures (rows, triples, store, SHACL)."""
    bare, xsd_cpu, mapped, stored = cpu["bare"], cpu["xsd"], cpu["map"], built["store_cpu_s"]
    xsd = xsd_cpu == xsd_cpu  # not NaN: the format has a schema
    shacl_text = f"{built['shacl_cpu_s']:.2f}" if shacl else "—"
    print(
        f"{name:<7} {size:>7} {round_:>5} {path.stat().st_size / 1e6:>5.1f} {int(built['rows']):>7} "
        f"{int(built['triples']):>9} | {bare:>5.2f} "
        f"{f'{xsd_cpu:.2f}' if xsd else '—':>5} {cpu['read']:>5.2f} "
        f"{mapped:>6.2f} {stored:>6.2f} {shacl_text:>6} | "
        f"{mapped / bare:>7.2f}x {f'{mapped / xsd_cpu:.2f}x' if xsd else '—':>8} "
        f"{(mapped + stored) / bare:>8.1f}x {built['rows'] / mapped:>7.0f} | "
        f"{cpu['bare_mib']:>8.0f} {cpu['read_mib']:>5.0f} {cpu['map_mib']:>5.0f} "
        f"{built['load_peak_mib']:>5.0f}"
        + (f"  (shacl: {int(built['violations'])} violations, RSS {built['peak_mib']:.0f})" if shacl else ""),
        flush=True,
    )


if __name__ == "__main__":
    main()
