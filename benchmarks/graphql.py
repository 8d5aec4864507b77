"""GraphQL against hand-written SPARQL for the same data, on the full real graph.

Usage::

    python benchmarks/graphql.py                          # /work/real-store, 30 rounds
    python benchmarks/graphql.py --store var/real --rounds 50

Each case runs a typical client request through the whole GraphQL stack (HTTP request in process,
parse, validation, limits, DataLoaders, named queries, JSON) and, side by side in the same run,
the SPARQL a developer would write by hand for the same data, executed directly on the store with
the rows materialised. The rounds alternate the two so that load on the machine affects both.
Reported: median and p95 (ms) of each, and the ratio of the medians (goal: GraphQL ≤ 1.5×).
The search index is built once per store; its build time is reported apart (the first search of
a new build pays it).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph as ox

# This file is named like the graphql-core package: take its folder off the import path first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from kg.config import Settings  # noqa: E402
from kg.namespaces import prefixes_for  # noqa: E402
from kg.store import open_store  # noqa: E402

OCCUPATION_GQL = """query($code: String!) { occupation(code: $code) {
  code label definition domain { code label }
  skills(first: 100) { totalCount edges { core node { code label kind } } }
  certifications(first: 20) { totalCount nodes { code label level blocks(first: 20) { nodes { code label } } } }
} }"""

OCCUPATION_SPARQL = [
    """SELECT ?label ?domainCode ?domainLabel (GROUP_CONCAT(?text; separator=" ") AS ?definition) WHERE {
  ?o pas:code "%(code)s" ; a pas:Occupation ; skos:prefLabel ?label .
  OPTIONAL { ?o pas:professionalDomain ?d . ?d pas:code ?domainCode ; skos:prefLabel ?domainLabel }
  OPTIONAL { ?o pas:definitionSentence ?s . ?s rdf:value ?text }
} GROUP BY ?label ?domainCode ?domainLabel""",
    """SELECT ?code ?label ?class ?core WHERE {
  ?o pas:code "%(code)s" ; a pas:Occupation ; pas:hasSkill ?skill .
  ?skill pas:code ?code ; skos:prefLabel ?label ; a ?class .
  FILTER (?class IN (pas:KnowHow, pas:Knowledge, pas:SoftSkill, pas:MacroSkill))
  BIND (EXISTS { ?o pas:hasCoreSkill ?skill } AS ?core)
} ORDER BY DESC(?core) ?skill LIMIT 100""",
    """SELECT ?cert ?code ?label ?level ?block ?blockCode ?blockLabel WHERE {
  { SELECT DISTINCT ?cert WHERE {
      ?o pas:code "%(code)s" ; a pas:Occupation ; pas:romeV3Parent ?v3 .
      ?cert pas:relatedOccupationV3 ?v3 ; a pas:Certification .
    } ORDER BY ?cert LIMIT 20 }
  ?cert pas:code ?code .
  OPTIONAL { ?cert skos:prefLabel ?label }
  OPTIONAL { ?cert pas:europeanLevel ?level }
  OPTIONAL { ?cert pas:hasBlock ?block . ?block pas:code ?blockCode . OPTIONAL { ?block skos:prefLabel ?blockLabel } }
}""",
]

LIST_GQL = """{ certifications(first: 100, after: "b2Zmc2V0OjQ5OQ==") {
  pageInfo { hasNextPage endCursor } nodes { code label level kind } } }"""
LIST_SPARQL = [
    """SELECT ?s ?code ?label ?level ?class WHERE {
  { SELECT ?s ?code ?label WHERE {
      ?s a pas:Certification ; pas:code ?code .
      OPTIONAL { ?s skos:prefLabel ?label FILTER (LANGMATCHES(LANG(?label), "fr")) }
    } ORDER BY ?code ?s LIMIT 101 OFFSET 500 }
  OPTIONAL { ?s pas:europeanLevel ?level }
  OPTIONAL { ?s a ?class FILTER (?class IN (pas:RncpCertification, pas:RsCertification)) }
}"""
]

SEARCH_GQL = """query($t: String!) { search(text: $t, first: 10) { score type label code } }"""
SEARCH_SPARQL = [
    """SELECT ?s ?label ?class WHERE {
  VALUES ?class { pas:Occupation pas:Appellation pas:Skill pas:Certification pas:TrainingDomain pas:Commune }
  ?s a ?class ; skos:prefLabel ?label .
  FILTER (CONTAINS(LCASE(STR(?label)), "%(needle)s"))
} LIMIT 10"""
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_sparql(store: ox.Store, prefixes: dict[str, str], queries: list[str], args: dict[str, str]) -> int:
    rows = 0
    for text in queries:
        result = store.query(text % args, prefixes=prefixes)
        assert isinstance(result, ox.QuerySolutions)
        names = [v.value for v in result.variables]
        rows += len([{n: s[n] for n in names} for s in result])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=Path("/work/real-store"))
    parser.add_argument("--rounds", type=int, default=30)
    opts = parser.parse_args()
    settings = dataclasses.replace(Settings(), store=opts.store, graphql_timeout_s=300.0)
    store = open_store(opts.store)
    prefixes = prefixes_for(settings.base_iri)
    client = TestClient(create_app(settings, store=store))

    def gql(query: str, variables: dict[str, Any]) -> Callable[[], Any]:
        def call() -> Any:
            body = client.post("/graphql", json={"query": query, "variables": variables}).json()
            assert "errors" not in body, body["errors"]
            return body

        return call

    t0 = time.perf_counter()
    gql(SEARCH_GQL, {"t": "boulanger"})()
    index_s = time.perf_counter() - t0

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = []
    for code in ("D1102", "I1402", "M1607"):
        cases.append((
            f"occupation {code} + 100 skills + 20 certifications + blocks",
            gql(OCCUPATION_GQL, {"code": code}),
            lambda c=code: run_sparql(store, prefixes, OCCUPATION_SPARQL, {"code": c}),
        ))
    cases.append(("certifications page of 100 (offset 500)", gql(LIST_GQL, {}),
                  lambda: run_sparql(store, prefixes, LIST_SPARQL, {})))
    for text, needle in (("boulanger", "boulanger"), ("boulanjer", "boulanjer"), ("électricien", "électricien")):
        cases.append((
            f"search {text!r} (SPARQL: CONTAINS, no typo tolerance)",
            gql(SEARCH_GQL, {"t": text}),
            lambda n=needle: run_sparql(store, prefixes, SEARCH_SPARQL, {"needle": n}),
        ))

    print(f"store {opts.store} ({len(store):,} quads); search index built in {index_s * 1000:.0f} ms (once)")
    header = f"{'case':<62} {'GraphQL med':>11} {'p95':>7} {'SPARQL med':>11} {'p95':>7} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    ratios = []
    for name, graphql_call, sparql_call in cases:
        graphql_call(), sparql_call()  # warm caches
        g_times, s_times = [], []
        for _ in range(opts.rounds):
            t = time.perf_counter()
            graphql_call()
            g_times.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            sparql_call()
            s_times.append((time.perf_counter() - t) * 1000)
        g_med, s_med = statistics.median(g_times), statistics.median(s_times)
        ratio = g_med / s_med if s_med else float("inf")
        if "search" not in name:
            ratios.append(ratio)
        print(f"{name:<62} {g_med:>11.1f} {percentile(g_times, 0.95):>7.1f} {s_med:>11.1f} "
              f"{percentile(s_times, 0.95):>7.1f} {ratio:>5.2f}×")
    print(f"geometric mean ratio (lookups and lists): {statistics.geometric_mean(ratios):.2f}×")


if __name__ == "__main__":
    main()
