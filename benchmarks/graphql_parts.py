"""Where a GraphQL request's CPU goes, against the hand-written SPARQL for the same data, in process.

Usage::

    python benchmarks/graphql_parts.py --store /work/real-s5 --case I1402          # ratio, 40 rounds
    python benchmarks/graphql_parts.py --store /work/real-s5 --case D1102 --split  # store calls / rest
    python benchmarks/graphql_parts.py --store /work/real-s5 --case D --log        # the store queries
    python benchmarks/graphql_parts.py --store /work/real-s6 --case I1402 --replay # the Python alone
    python benchmarks/graphql_parts.py --store /work/real-s6 --case I1402 --replay --profile 30

``--case``: a ROME code (the deep look-up of ``benchmarks/graphql.py``: the fiche, 100 skills, 20
certifications and their blocs) or ``D`` (``occupations(domain: "D")``, a page of 100 with
``totalCount``). Each round runs the request as the app does (cached document, limits, execution,
JSON), then the hand-written SPARQL of ``benchmarks/graphql.py``, and takes the CPU time
(``time.process_time``: this process, all its threads) of each; medians are printed. ``--split``
also times the store calls (``QueryRunner``'s, in the thread that runs them: the store's work and
the rows read) apart from the rest (graphql-core, the look-ahead's completion, conversions, JSON).
``--log`` lists the store queries of one request with their CPU and rows. ``--replay``: every store
query is answered from its first answer, kept as a list of rows (the store's work left out: what is
left is the Python of a request, rows read included), with the garbage collector's time and
collections per request; ``--profile N`` then prints cProfile's N costliest functions. Run it from
two trees one after the other to compare two versions on a shared machine
(``docs/guides/graphql-joined.md``, ``docs/guides/graphql-light-records.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # (graphql.py: not the package)
sys.path.insert(0, str(_HERE.parent))

from api.graphql.context import Context  # noqa: E402
from api.graphql.limits import measure  # noqa: E402
from api.graphql.queries import QueryRunner  # noqa: E402
from api.graphql.router import _execute, _parsed  # noqa: E402
from api.graphql.schema import schema  # noqa: E402
from kg.config import Settings  # noqa: E402
from kg.namespaces import prefixes_for  # noqa: E402
from kg.store import open_store  # noqa: E402

_SPEC = importlib.util.spec_from_file_location("graphql_bench", _HERE / "graphql.py")
assert _SPEC is not None and _SPEC.loader is not None
bench: Any = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)

DOMAIN_GQL = '{ occupations(first: 100, domain: "D") { totalCount nodes { code label } } }'
DOMAIN_WHERE = '?s pas:professionalDomain/skos:broader? ?d . ?d pas:code "D" .'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=Path("var/store"))
    parser.add_argument("--case", default="I1402")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--split", action="store_true")
    parser.add_argument("--log", action="store_true")
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--profile", type=int, default=0)
    opts = parser.parse_args()
    settings = dataclasses.replace(Settings(), store=opts.store, graphql_timeout_s=300.0)
    store = open_store(opts.store)
    prefixes = prefixes_for(settings.base_iri)
    runner = QueryRunner(store, prefixes, executor=ThreadPoolExecutor(max_workers=4))
    loop = asyncio.new_event_loop()
    if opts.case == "D":
        query, variables = DOMAIN_GQL, {}
        sparql = [bench.LIST_PAGE_SPARQL, bench.COUNT_SPARQL]
        args = {"where": DOMAIN_WHERE, "cls": "pas:Occupation"}
    else:
        query, variables = bench.OCCUPATION_GQL, {"code": opts.case}
        sparql, args = bench.OCCUPATION_SPARQL, {"code": opts.case}

    def request() -> str:
        document, errors = _parsed(query, True)
        assert not errors
        measure(schema._schema, document, variables, None)
        context = Context(runner=runner, settings=settings, build_key=("parts", str(opts.store)))
        result = loop.run_until_complete(_execute(document, variables, None, context))
        assert not result.errors, result.errors
        return json.dumps(result.data, ensure_ascii=False)

    def hand_written() -> int:
        return int(bench.run_sparql(store, prefixes, sparql, args))

    if opts.replay:
        _replay(runner)
    for _ in range(3):  # warm caches (documents, degrees, the store's pages)
        request()
        hand_written()
    if opts.replay:
        _python_alone(request, opts.case, opts.rounds, opts.profile)
        return
    if opts.log:
        original = runner._solutions
        seen: list[tuple[float, int, str]] = []

        class Rows(list):  # type: ignore[type-arg]  # (what run_sync reads of a result: its variables)
            variables: Any = ()

        def logged(text: str, substitutions: Any) -> Any:
            start = time.thread_time()
            result = original(text, substitutions)
            rows = Rows(result)
            rows.variables = result.variables
            seen.append((time.thread_time() - start, len(rows), " ".join(text.split())[:160]))
            return rows

        runner._solutions = logged  # type: ignore[method-assign]
        request()
        for cpu, rows, text in seen:
            print(f"{cpu * 1000:6.2f} ms {rows:5d} rows  {text}")
        return
    spent = [0.0]
    if opts.split:
        for name in ("joined_sync", "lookup_sync", "run_sync"):
            setattr(runner, name, _timed(getattr(runner, name), spent))
    totals: list[float] = []
    stores: list[float] = []
    hands: list[float] = []
    for _ in range(opts.rounds):
        spent[0] = 0.0
        start = time.process_time()
        request()
        totals.append(time.process_time() - start)
        stores.append(spent[0])
        start = time.process_time()
        hand_written()
        hands.append(time.process_time() - start)
    total, hand = statistics.median(totals) * 1000, statistics.median(hands) * 1000
    line = f"{opts.case}: request {total:.2f} ms CPU, hand-written SPARQL {hand:.2f} ms: {total / hand:.2f}×"
    if opts.split:
        store_part = statistics.median(stores) * 1000
        rest = statistics.median(t - s for t, s in zip(totals, stores, strict=True)) * 1000
        line += f"; store calls {store_part:.2f} ms, the rest {rest:.2f} ms"
    print(line)


class _Rows(list):  # type: ignore[type-arg]  # (what the runner reads of a result: rows, variables)
    variables: Any = ()


def _replay(runner: QueryRunner) -> None:
    """Answer each store query of ``runner`` from its first answer, kept as a list of row tuples."""
    original = runner._solutions
    kept: dict[tuple[str, str], _Rows] = {}

    def replayed(text: str, substitutions: Any) -> Any:
        key = (text, repr(sorted((str(k), str(v)) for k, v in substitutions.items())))
        rows = kept.get(key)
        if rows is None:
            result = original(text, substitutions)
            width = len(result.variables)
            rows = kept[key] = _Rows(tuple(solution[i] for i in range(width)) for solution in result)
            rows.variables = result.variables
        return rows

    runner._solutions = replayed  # type: ignore[method-assign]


def _python_alone(request: Callable[[], str], case: str, rounds: int, profile: int) -> None:
    """The CPU of ``request`` with the store's answers replayed, and the garbage collector's share."""
    import cProfile
    import gc
    import pstats

    collected = [0.0, 0.0, 0]

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collected[0] = time.process_time()
        else:
            collected[1] += time.process_time() - collected[0]
            collected[2] += 1

    gc.callbacks.append(watch)
    times = []
    for _ in range(rounds):
        start = time.process_time()
        request()
        times.append(time.process_time() - start)
    gc.callbacks.remove(watch)
    print(
        f"{case}: the Python of a request (store answers replayed) {statistics.median(times) * 1000:.2f} ms "
        f"CPU (median of {rounds}); garbage collection {collected[1] / rounds * 1000:.2f} ms, "
        f"{collected[2] / rounds:.2f} collections per request"
    )
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(rounds):
            request()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)


def _timed(function: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    """``function``, adding the CPU time of the thread that runs it to ``spent[0]``."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - start

    return timed


if __name__ == "__main__":
    main()
