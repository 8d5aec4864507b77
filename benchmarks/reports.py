"""Benchmark of the certifier's gap reports on a built graph (real data), side by side with the raw
SPARQL of the same steps run directly on the store. (The adviser's paths: benchmarks/paths.py.)

Usage: python benchmarks/reports.py [--store var/store] [--repeat 3]

* Gaps: ``kg.gaps.trade_gaps`` for each target trade (all 10 = ``kg gaps --all``), against the
  four stored queries it runs (queries/reports/skill-gaps, skill-gap-evidence per gap,
  trade-emerging-skills, uncovered-core-skills) executed and fully iterated with pyoxigraph.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.config import Settings  # noqa: E402
from kg.gaps import target_trades, trade_gaps  # noqa: E402
from kg.namespaces import sparql_prologue  # noqa: E402
from kg.queries import named_query  # noqa: E402
from kg.store import open_store  # noqa: E402


def raw(store: ox.Store, name: str, params: dict[str, object], base: str) -> int:
    """Run a stored query as plain pyoxigraph would (bound values, every row read)."""
    query = named_query(name)
    bound = query.substitutions(params, base)
    solutions = store.query(sparql_prologue(base) + query.text, substitutions=bound)
    return sum(1 for _ in solutions)  # type: ignore[union-attr]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_gaps(store: ox.Store, base: str, repeat: int) -> None:
    trades = target_trades(store)
    print(f"{'trade':<34} {'offers':>6} {'gaps':>5} {'report s':>9} {'raw s':>8} {'ratio':>6}")
    total_report = total_raw = 0.0
    for iri, code, _ in trades:
        report_s, raw_s = [], []
        report = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = trade_gaps(store, iri, base)
            report_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            where = {"trade": iri}
            raw(store, "reports/skill-gaps", where, base)
            for gap in report.gaps:
                raw(store, "reports/skill-gap-evidence", {**where, "skill": gap.skill}, base)
            raw(store, "reports/trade-emerging-skills", where, base)
            raw(store, "reports/uncovered-core-skills", where, base)
            raw_s.append(time.perf_counter() - t0)
        assert report is not None
        r, w = statistics.median(report_s), statistics.median(raw_s)
        total_report, total_raw = total_report + r, total_raw + w
        print(f"{code:<34} {report.offers:>6} {len(report.gaps):>5} {r:>9.3f} {w:>8.3f} {r / w:>6.2f}")
    print(
        f"{'all ' + str(len(trades)) + ' trades':<34} {'':>6} {'':>5} {total_report:>9.3f} {total_raw:>8.3f} "
        f"{total_report / total_raw:>6.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Settings.from_env().store)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = open_store(args.store)
    base = Settings.from_env().base_iri
    bench_gaps(store, base, args.repeat)


if __name__ == "__main__":
    main()
