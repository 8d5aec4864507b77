"""Benchmark of the certifier's and the adviser's reports on a built graph (real data), each
side by side with the raw SPARQL of the same steps run directly on the store.

Usage: python benchmarks/reports.py [--store var/store] [--repeat 3]

* Gaps: ``kg.gaps.trade_gaps`` for each target trade (all 10 = ``kg gaps --all``), against the
  four stored queries it runs (queries/reports/skill-gaps, skill-gap-evidence per gap,
  trade-emerging-skills, uncovered-core-skills) executed and fully iterated with pyoxigraph.
* Paths: ``kg.paths.guidance`` from one commune of every Normandy zone d'emploi (the first by
  INSEE code with coordinates) to each target trade's first fiche, radius 50 km, against the
  path-* stored queries of the same request run raw. Reports p50/p95 and the total ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.config import Settings  # noqa: E402
from kg.gaps import target_trades, trade_gaps  # noqa: E402
from kg.namespaces import sparql_prologue  # noqa: E402
from kg.paths import box, guidance, resolve_commune  # noqa: E402
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


def normandy_zone_communes(store: ox.Store) -> list[str]:
    solutions = store.query(
        "PREFIX pas: <https://w3id.org/passerelles/ontology#> PREFIX schema: <https://schema.org/>"
        " SELECT ?ze (MIN(?code) AS ?commune) WHERE { ?c a pas:Commune ; pas:code ?code ; pas:region ?r ;"
        " pas:employmentZone ?ze ; schema:latitude ?lat . ?r pas:code '28' } GROUP BY ?ze ORDER BY ?ze"
    )
    return [s["commune"].value for s in solutions]  # type: ignore[union-attr]


def trade_fiches(store: ox.Store) -> list[str]:
    solutions = store.query(
        "PREFIX pas: <https://w3id.org/passerelles/ontology#> SELECT ?t (MIN(?code) AS ?fiche) WHERE {"
        " ?t a pas:TargetTrade ; pas:ordinal ?n ; pas:tradeOccupation/pas:code ?code }"
        " GROUP BY ?t ?n ORDER BY ?n"
    )
    return [s["fiche"].value for s in solutions]  # type: ignore[union-attr]


def bench_paths(store: ox.Store, base: str) -> None:
    communes, fiches = normandy_zone_communes(store), trade_fiches(store)
    start = date(2026, 1, 1)
    full, bare, found = [], [], 0
    for commune in communes:
        for fiche in fiches:
            t0 = time.perf_counter()
            answer = guidance(store, base, fiche, near=commune, radius_km=50, starts_after=start)
            full.append(time.perf_counter() - t0)
            found += len(answer.paths)
            t0 = time.perf_counter()
            occupation = f"{base}id/rome/{fiche}"
            _, lat, lon, _dep = resolve_commune(store, commune, base)
            south, north, west, east = box(lat, lon, 50)
            raw(
                store,
                "reports/path-target-occupations",
                {
                    "fiche": occupation,
                    "v3": f"{base}id/rome-v3/{fiche}",
                    "appellation": f"{base}id/appellation/{fiche}",
                },
                base,
            )
            raw(store, "reports/path-skills", {"occupation": occupation}, base)
            raw(store, "reports/path-covering-blocs", {"occupation": occupation}, base)
            raw(
                store,
                "reports/path-sessions-near",
                {
                    "occupation": occupation,
                    "startsAfter": start.isoformat(),
                    "south": south,
                    "north": north,
                    "west": west,
                    "east": east,
                },
                base,
            )
            bare.append(time.perf_counter() - t0)
    n = len(full)
    print(
        f"\npaths: {len(communes)} zones d'emploi × {len(fiches)} trades = {n} requests, {found} paths found"
    )
    print(f"{'':<12} {'p50 ms':>8} {'p95 ms':>8} {'total s':>8}")
    for name, values in (("guidance", full), ("raw SPARQL", bare)):
        print(
            f"{name:<12} {pct(values, 0.5) * 1000:>8.1f} {pct(values, 0.95) * 1000:>8.1f} {sum(values):>8.2f}"
        )
    print(f"ratio total guidance / raw = {sum(full) / sum(bare):.2f} (goal ≤ 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Settings.from_env().store)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = open_store(args.store)
    base = Settings.from_env().base_iri
    bench_gaps(store, base, args.repeat)
    bench_paths(store, base)


if __name__ == "__main__":
    main()
