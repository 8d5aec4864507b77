"""Benchmark of the adviser's guidance paths (``kg paths``) on a built graph (real data), side by side
with the raw SPARQL of the same steps run directly on the same store.

Usage: python benchmarks/paths.py [--store /work/real-full] [--radius 50] [--repeat 1]

Requests: from the most populous commune (with coordinates) of every Normandy zone d'emploi to
each of the 10 target trades (``trades/target-trades.csv``: a trade's first occupation code),
radius 50 km, sessions starting after 2026-01-01. For each request:

* ``guidance``: :func:`kg.paths.guidance` (validation, the stored queries, ranking, explanations);
* ``raw SPARQL``: the steps it runs (commune look-up, ``path-target-occupations``,
  ``path-skills``, ``path-covering-blocs``, ``path-sessions-near`` with the same box), executed
  with pyoxigraph and every row read, nothing else.

Prints p50/p95 per request and the totals; goal: total guidance ≤ 1.5 × total raw.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reports import pct, raw  # noqa: E402  (benchmarks/reports.py: the raw-query runner of both)

from kg.config import Settings  # noqa: E402
from kg.paths import DEFAULT_THRESHOLD, box, guidance, resolve_commune  # noqa: E402
from kg.store import open_store  # noqa: E402

START = date(2026, 1, 1)


def zone_communes(store: ox.Store) -> list[tuple[str, str, str]]:
    """(zone d'emploi label, commune code, commune label): the most populous commune with
    coordinates of each Normandy zone d'emploi."""
    solutions = store.query(
        "PREFIX pas: <https://w3id.org/passerelles/ontology#> PREFIX schema: <https://schema.org/>"
        " PREFIX skos: <http://www.w3.org/2004/02/skos/core#>"
        " SELECT ?ze ?zeLabel ?code ?label ?pop WHERE {"
        "  ?r a pas:Region ; pas:code '28' . ?c pas:region ?r ; pas:employmentZone ?ze ; pas:code ?code ;"
        "  pas:population ?pop ; schema:latitude ?lat ."
        "  OPTIONAL { ?c skos:prefLabel ?label } OPTIONAL { ?ze skos:prefLabel ?zeLabel } }"
    )
    best: dict[str, tuple[float, str, str, str]] = {}
    for s in solutions:  # type: ignore[union-attr]
        ze, pop = s["ze"].value, float(s["pop"].value)
        label = s["label"].value if s["label"] else ""
        ze_label = s["zeLabel"].value if s["zeLabel"] else ze.rsplit("/", 1)[1]
        if ze not in best or pop > best[ze][0]:
            best[ze] = (pop, ze_label, s["code"].value, label)
    return [(z, code, label) for _, z, code, label in sorted(best.values(), key=lambda b: b[1])]


def trade_fiches() -> list[tuple[str, str]]:
    """(trade code, its first occupation code) from trades/target-trades.csv."""
    with (ROOT / "trades" / "target-trades.csv").open(encoding="utf-8") as f:
        return [
            (row["code"], row["occupations"].split(",")[0].strip())
            for row in csv.DictReader(f, delimiter=";")
        ]


def raw_steps(store: ox.Store, base: str, fiche: str, commune: str, radius: float) -> int:
    """The stored queries one guidance request runs, as raw SPARQL; returns the rows read."""
    _, lat, lon, _dep = resolve_commune(store, commune, base)
    south, north, west, east = box(lat, lon, radius)
    rows = raw(
        store,
        "reports/path-target-occupations",
        {
            "fiche": f"{base}id/rome/{fiche}",
            "v3": f"{base}id/rome-v3/{fiche}",
            "appellation": f"{base}id/appellation/{fiche}",
        },
        base,
    )
    occupation = f"{base}id/rome/{fiche}"
    rows += raw(store, "reports/path-skills", {"occupation": occupation}, base)
    where = {"occupation": occupation, "threshold": DEFAULT_THRESHOLD}
    rows += raw(store, "reports/path-covering-blocs", where, base)
    rows += raw(
        store,
        "reports/path-sessions-near",
        {
            **where,
            "startsAfter": START.isoformat(),
            "south": south,
            "north": north,
            "west": west,
            "east": east,
        },
        base,
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Settings.from_env().store)
    parser.add_argument("--radius", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per request (the median is kept)")
    args = parser.parse_args()
    store = open_store(args.store)
    base = Settings.from_env().base_iri
    zones, trades = zone_communes(store), trade_fiches()
    full: list[float] = []
    bare: list[float] = []
    per_trade: dict[str, list[tuple[float, float, int]]] = {}
    for _zone, commune, _label in zones:
        for trade, fiche in trades:
            g_s, r_s = [], []
            found = 0
            for run in range(args.repeat):
                # Alternate which side runs first, so that neither always finds the pages cached.
                for side in ("guidance", "raw") if (len(full) + run) % 2 == 0 else ("raw", "guidance"):
                    t0 = time.perf_counter()
                    if side == "guidance":
                        answer = guidance(
                            store, base, fiche, near=commune, radius_km=args.radius, starts_after=START
                        )
                        g_s.append(time.perf_counter() - t0)
                        found = len(answer.paths)
                    else:
                        raw_steps(store, base, fiche, commune, args.radius)
                        r_s.append(time.perf_counter() - t0)
            g, r = statistics.median(g_s), statistics.median(r_s)
            full.append(g)
            bare.append(r)
            per_trade.setdefault(f"{trade} ({fiche})", []).append((g, r, found))
    print(
        f"{len(zones)} zones d'emploi × {len(trades)} trades = {len(full)} requests, radius {args.radius} km"
    )
    print("zones (most populous commune): " + ", ".join(f"{z} {c}" for z, c, _ in zones))
    print(f"\n{'trade (fiche)':<44} {'paths':>6} {'guidance s':>11} {'raw s':>8} {'ratio':>6}")
    for name, rows in per_trade.items():
        g, r = sum(x[0] for x in rows), sum(x[1] for x in rows)
        print(f"{name:<44} {sum(x[2] for x in rows):>6} {g:>11.3f} {r:>8.3f} {g / r:>6.2f}")
    print(f"\n{'':<12} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'total s':>8}")
    for name, values in (("guidance", full), ("raw SPARQL", bare)):
        print(
            f"{name:<12} {pct(values, 0.5) * 1000:>8.1f} {pct(values, 0.95) * 1000:>8.1f} "
            f"{max(values) * 1000:>8.1f} {sum(values):>8.2f}"
        )
    print(f"ratio total guidance / raw = {sum(full) / sum(bare):.2f} (goal ≤ 1.5)")


if __name__ == "__main__":
    main()
