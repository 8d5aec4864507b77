"""GraphQL against hand-written SPARQL for the same data, on the full real graph.

Usage::

    python benchmarks/graphql.py                          # var/store, 30 rounds
    python benchmarks/graphql.py --store var/real --rounds 50

Each case runs a typical client request through the whole GraphQL stack (HTTP request in process,
parse, validation, limits, DataLoaders, named queries, JSON) and, side by side in the same run,
the SPARQL a developer would write by hand for the same data, executed directly on the store with
the rows materialised. The rounds alternate the two so that load on the machine affects both.
Reported: median and p95 (ms) of the GraphQL request over HTTP (the test client, which adds a thread
hand-off per request), of the same request executed in process as the app does it (the document
from the app's cache of parsed and validated query texts, the limits measured, execution, JSON),
and of the SPARQL; ratios of the medians (goal: GraphQL ≤ 1.5×), and the ratio of the median CPU
times (this process, all its threads) of the in-process request and the SPARQL: on a shared,
loaded machine the wall-clock times wander with other jobs, CPU times much less.
The search index is built once per store; its build time is reported apart (the first search of
a new build pays it).

``--gc-freeze compare`` measures the app's ``gc.freeze()`` (``kg.heap.freeze_heap``, setting
``PASSERELLES_GC_FREEZE``) side by side: each round runs the case's three calls once with the
long-lived objects (store, schema, search index, caches) unfrozen and once frozen (``gc.freeze()`` /
``gc.unfreeze()`` between them), and each case prints two rows, "gc" and "frozen". ``--gc-freeze on``
freezes once before the cases (as the app does), ``off`` (default) never does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import gc
import json
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
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from api.graphql.context import Context  # noqa: E402
from api.graphql.limits import measure  # noqa: E402
from api.graphql.queries import QueryRunner  # noqa: E402
from api.graphql.router import _execute, _parsed  # noqa: E402
from api.graphql.schema import schema  # noqa: E402
from api.graphql.search import index_future  # noqa: E402
from kg.config import Settings  # noqa: E402
from kg.heap import freeze_heap  # noqa: E402
from kg.namespaces import prefixes_for  # noqa: E402
from kg.store import open_store  # noqa: E402

OCCUPATION_GQL = """query($code: String!) { occupation(code: $code) {
  code label definition domain { code label }
  skills(first: 100) { totalCount edges { core node { code label kind } } }
  certifications(first: 20) {
    totalCount nodes { code label level blocks(first: 20) { nodes { code label } } }
  }
} }"""

OCCUPATION_SPARQL = [
    """SELECT ?label ?domainCode ?domainLabel (GROUP_CONCAT(?text; separator=" ") AS ?definition) WHERE {
  ?o pas:code "%(code)s" ; a pas:Occupation ; skos:prefLabel ?label .
  OPTIONAL { ?o pas:professionalDomain ?d . ?d pas:code ?domainCode ; skos:prefLabel ?domainLabel }
  OPTIONAL { ?o pas:definitionSentence ?s . ?s rdf:value ?text }
} GROUP BY ?label ?domainCode ?domainLabel""",
    """SELECT ?code ?label ?class ?core ?total WHERE {
  { SELECT (COUNT(DISTINCT ?any) AS ?total) WHERE {
      ?o pas:code "%(code)s" ; a pas:Occupation ; pas:hasSkill ?any . ?any a pas:Skill } }
  ?o pas:code "%(code)s" ; a pas:Occupation ; pas:hasSkill ?skill .
  ?skill pas:code ?code ; skos:prefLabel ?label ; a ?class .
  FILTER (?class IN (pas:KnowHow, pas:Knowledge, pas:SoftSkill, pas:MacroSkill))
  BIND (EXISTS { ?o pas:hasCoreSkill ?skill } AS ?core)
} ORDER BY DESC(?core) ?skill LIMIT 100""",
    """SELECT ?total ?cert ?code ?label ?level ?block ?blockCode ?blockLabel WHERE {
  { SELECT (COUNT(DISTINCT ?any) AS ?total) WHERE {
      ?o pas:code "%(code)s" ; a pas:Occupation ; pas:romeV3Parent ?v3 .
      ?any pas:relatedOccupationV3 ?v3 ; a pas:Certification . } }
  { SELECT DISTINCT ?cert WHERE {
      ?o pas:code "%(code)s" ; a pas:Occupation ; pas:romeV3Parent ?v3 .
      ?cert pas:relatedOccupationV3 ?v3 ; a pas:Certification .
    } ORDER BY ?cert LIMIT 20 }
  ?cert pas:code ?code .
  OPTIONAL { ?cert skos:prefLabel ?label }
  OPTIONAL { ?cert pas:europeanLevel ?level }
  OPTIONAL {
    ?cert pas:hasBlock ?block . ?block pas:code ?blockCode .
    OPTIONAL { ?block skos:prefLabel ?blockLabel }
  }
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

# Filtered lists (issue #6): a page of 100 with its totalCount, certifications with their blocs; the
# hand-written SPARQL pages the filtered selection in a sub-SELECT, then reads the fields, and counts.
CERT_LIST_GQL = """query($rome: String, $level: Int, $formacode: String) {
  certifications(first: 100, rome: $rome, level: $level, formacode: $formacode) {
    totalCount nodes { code label level blocks(first: 50) { nodes { code label } } } } }"""
CERT_PAGE_SPARQL = """SELECT ?s ?code ?label ?level ?block ?blockCode ?blockLabel WHERE {
  { SELECT DISTINCT ?s ?code WHERE { %(where)s ?s a pas:Certification ; pas:code ?code . }
    ORDER BY ?code LIMIT 100 }
  OPTIONAL { ?s skos:prefLabel ?label }
  OPTIONAL { ?s pas:europeanLevel ?level }
  OPTIONAL { ?s pas:hasBlock ?block . ?block pas:code ?blockCode .
             OPTIONAL { ?block skos:prefLabel ?blockLabel } }
}"""
COUNT_SPARQL = "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { %(where)s ?s a %(cls)s . }"
LIST_PAGE_SPARQL = """SELECT ?s ?code ?label WHERE {
  { SELECT DISTINCT ?s ?code WHERE { %(where)s ?s a %(cls)s ; pas:code ?code . } ORDER BY ?code LIMIT 100 }
  OPTIONAL { ?s skos:prefLabel ?label }
}"""
ROME_WHERE = (
    '{ ?v3 pas:code "%s" } UNION { ?o pas:code "%s" ; pas:romeV3Parent ?v3 } ?s pas:relatedOccupationV3 ?v3 .'
)
DEP = "https://w3id.org/passerelles/id/departement/"
CERT_CASES = [  # (name, GraphQL variables, SPARQL selection)
    ("certifications rome D1102 + blocs", {"rome": "D1102"}, ROME_WHERE % ("D1102", "D1102")),
    ("certifications rome M1607 + blocs", {"rome": "M1607"}, ROME_WHERE % ("M1607", "M1607")),
    ("certifications level 5 + blocs", {"level": 5}, "?s pas:europeanLevel 5 ."),
    (
        "certifications formacode 32062 + blocs",
        {"formacode": "32062"},
        '?s pas:trainingDomain/pas:code "32062" .',
    ),
    ("certifications (all) + blocs", {}, ""),
]
LIST_CASES = [  # (name, GraphQL field and arguments, class, SPARQL selection)
    ("skills (all)", "skills", "", "pas:Skill", ""),
    (
        "skills category",
        "skills",
        'category: "Savoir-faire"',
        "pas:Skill",
        '?s pas:skillCategory "Savoir-faire" .',
    ),
    (
        "companies naf 68",
        "companies",
        'naf: "68"',
        "pas:Company",
        '?n pas:code "68" . ?a skos:broader* ?n . ?s pas:nafActivity ?a .',
    ),
    (
        "territories within 76",
        "territories",
        f'within: "{DEP}76"',
        "pas:Territory",
        "?s pas:departement|pas:region|pas:epci|pas:employmentZone|pas:arrondissement|pas:parentCommune "
        f"<{DEP}76> .",
    ),
    ("territories communes", "territories", "kind: COMMUNE", "pas:Territory", "?s a pas:Commune ."),
    (
        "occupations domain D",
        "occupations",
        'domain: "D"',
        "pas:Occupation",
        '?s pas:professionalDomain/skos:broader? ?d . ?d pas:code "D" .',
    ),
]

# orderBy: LABEL over a whole large list: a page of 100 with its totalCount. The hand-written SPARQL
# sorts the resources by their lower-cased French label (unlabelled last, as the API), then counts.
LABEL_PAGE_SPARQL = """SELECT ?s ?code ?label WHERE {
  { SELECT ?s (MIN(?c) AS ?code) (MIN(LCASE(STR(?l))) AS ?key) WHERE {
      ?s a %(cls)s ; pas:code ?c .
      OPTIONAL { ?s skos:prefLabel ?l FILTER (LANGMATCHES(LANG(?l), "fr")) }
    } GROUP BY ?s }
  OPTIONAL { ?s skos:prefLabel ?label FILTER (LANGMATCHES(LANG(?label), "fr")) }
} ORDER BY (!BOUND(?key)) ?key ?code ?s LIMIT 100 OFFSET %(offset)s"""
LABEL_CASES = [  # (name, GraphQL field, after cursor, class, offset)
    ("certifications orderBy LABEL", "certifications", None, "pas:Certification", 0),
    ("certifications orderBy LABEL (offset 500)", "certifications", "offset:499", "pas:Certification", 500),
    ("skills orderBy LABEL", "skills", None, "pas:Skill", 0),
    ("occupations orderBy LABEL", "occupations", None, "pas:Occupation", 0),
]

SEARCH_GQL = """query($t: String!) { search(text: $t, first: 10) { score type label code } }"""
SEARCH_SPARQL = [
    """SELECT ?s ?label ?class WHERE {
  VALUES ?class { pas:Occupation pas:Appellation pas:Skill pas:Certification pas:TrainingDomain pas:Commune }
  ?s a ?class ; skos:prefLabel ?label .
  FILTER (CONTAINS(LCASE(STR(?label)), "%(needle)s"))
} LIMIT 10"""
]


# A benchmark case: name, GraphQL over HTTP, GraphQL in process, the hand-written SPARQL.
Case = tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], Any]]


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
    parser.add_argument("--store", type=Path, default=Path("var/store"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--only", default="", help="run only the cases whose name contains one of these comma-separated texts"
    )
    parser.add_argument(
        "--gc-freeze",
        choices=("off", "on", "compare"),
        default="off",
        help="gc.freeze() the heap after start-up: never, once, or per round with and without (two rows)",
    )
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

    runner = QueryRunner(store, prefixes, executor=ThreadPoolExecutor(max_workers=4))
    bench_key = ("bench", str(opts.store))  # the in-process requests' store build (their own search index)
    loop = asyncio.new_event_loop()

    def executed(query: str, variables: dict[str, Any]) -> Callable[[], Any]:
        """The same request without HTTP: parse, validate, execute, serialise (what the app adds to the
        store's work; the test client's per-request thread hand-off is not)."""

        def call() -> Any:
            document, errors = _parsed(query, True)  # the app's document cache (parse + validation)
            assert not errors
            size = measure(schema._schema, document, variables, None)  # the limits, per request
            assert size.depth <= settings.graphql_max_depth and size.cost <= settings.graphql_max_cost
            context = Context(runner=runner, settings=settings, build_key=bench_key)
            result = loop.run_until_complete(_execute(document, variables, None, context))
            assert not result.errors, result.errors
            return json.dumps(result.data, ensure_ascii=False)

        return call

    def paged(
        name: str, text: str, variables: dict[str, Any], sparql: list[str], args: dict[str, str]
    ) -> Case:
        """A page case: the GraphQL request over HTTP and in process, and its hand-written SPARQL."""
        return (
            name,
            gql(text, variables),
            executed(text, variables),
            lambda: run_sparql(store, prefixes, sparql, args),
        )

    t0 = time.perf_counter()
    while True:  # the app builds the search index in the background and answers "not ready" meanwhile
        body = client.post("/graphql", json={"query": SEARCH_GQL, "variables": {"t": "boulanger"}}).json()
        if "errors" not in body:
            break
        assert body["errors"][0]["extensions"]["code"] == "SEARCH_INDEX_NOT_READY", body["errors"]
        time.sleep(1)
    index_s = time.perf_counter() - t0
    # The in-process requests search their own index (another build key): wait for it too, or their
    # first search answers "not ready" (the search cases failed so).
    index_future(bench_key, runner).result()

    cases: list[Case] = []
    for code in ("D1102", "I1402", "M1607"):
        cases.append(
            (
                f"occupation {code} + 100 skills + 20 certifs + blocks",
                gql(OCCUPATION_GQL, {"code": code}),
                executed(OCCUPATION_GQL, {"code": code}),
                lambda c=code: run_sparql(store, prefixes, OCCUPATION_SPARQL, {"code": c}),
            )
        )
    cases.append(
        (
            "certifications page of 100 (offset 500)",
            gql(LIST_GQL, {}),
            executed(LIST_GQL, {}),
            lambda: run_sparql(store, prefixes, LIST_SPARQL, {}),
        )
    )
    for name, variables, where in CERT_CASES:
        args = {"where": where, "cls": "pas:Certification"}
        cases.append(paged(name, CERT_LIST_GQL, variables, [CERT_PAGE_SPARQL, COUNT_SPARQL], args))
    for name, field, arguments, cls, where in LIST_CASES:
        text = f"{{ {field}(first: 100, {arguments}) {{ totalCount nodes {{ code label }} }} }}"
        sparql = [LIST_PAGE_SPARQL, COUNT_SPARQL]
        cases.append(paged(f"{name} page of 100", text, {}, sparql, {"where": where, "cls": cls}))
    for name, field, after, cls, offset in LABEL_CASES:
        cursor = f', after: "{base64.b64encode(after.encode()).decode()}"' if after else ""
        text = f"{{ {field}(first: 100, orderBy: LABEL{cursor}) {{ totalCount nodes {{ code label }} }} }}"
        args = {"where": "", "cls": cls, "offset": str(offset)}
        cases.append(paged(f"{name} page of 100", text, {}, [LABEL_PAGE_SPARQL, COUNT_SPARQL], args))
    for text, needle in (
        ("boulanger", "boulanger"),
        ("boulanjer", "boulanjer"),
        ("électricien", "électricien"),
    ):
        cases.append(
            (
                f"search {text!r} (SPARQL: CONTAINS, no typos)",
                gql(SEARCH_GQL, {"t": text}),
                executed(SEARCH_GQL, {"t": text}),
                lambda n=needle: run_sparql(store, prefixes, SEARCH_SPARQL, {"needle": n}),
            )
        )

    print(f"store {opts.store} ({len(store):,} quads); search index built in {index_s * 1000:.0f} ms (once)")
    header = (
        f"{'case':<52} {'HTTP med':>9} {'p95':>7} {'exec med':>9} {'p95':>7} {'SPARQL med':>10} "
        f"{'p95':>7} {'HTTP/SPARQL':>11} {'exec/SPARQL':>11} {'CPU exec':>8} {'CPU SPARQL':>10} "
        f"{'CPU exec/SPARQL':>15}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    variants = {"off": (False,), "on": (True,), "compare": (False, True)}[opts.gc_freeze]
    if opts.gc_freeze != "off":
        frozen_objects = freeze_heap()  # after start-up and the search index, as the app does
        full: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(3):  # what a full collection costs with the long-lived objects in it and out
            for frozen in (False, True):
                if frozen:
                    gc.freeze()
                else:
                    gc.unfreeze()
                t = time.perf_counter()
                gc.collect()
                full[frozen].append((time.perf_counter() - t) * 1000)
        print(
            f"gc.freeze(): {frozen_objects:,} objects frozen; a full collection (gc.collect(), median of "
            f"3) {statistics.median(full[False]):.0f} ms not frozen, {statistics.median(full[True]):.0f} ms "
            "frozen"
        )
        if opts.gc_freeze == "compare":
            gc.unfreeze()
    collections = _Collections()
    gc.callbacks.append(collections.callback)
    for name, http_call, exec_call, sparql_call in cases:
        if not any(part in name for part in opts.only.split(",")):
            continue
        firsts = []
        for call in (http_call, exec_call, sparql_call):  # warm caches; the first call's time is printed
            t = time.perf_counter()
            call()
            firsts.append((time.perf_counter() - t) * 1000)
        times = {v: ([], [], []) for v in variants}
        cpu = {v: ([], [], []) for v in variants}
        for _ in range(opts.rounds):
            for frozen in variants:
                if opts.gc_freeze == "compare":  # the long-lived objects in or out of the collections
                    if frozen:
                        gc.freeze()  # no collection here: the rounds' own garbage is collected as it comes
                    else:
                        gc.unfreeze()
                collections.variant = frozen
                calls = (http_call, exec_call, sparql_call)
                for call, bucket, cpu_bucket in zip(calls, times[frozen], cpu[frozen], strict=True):
                    t, c = time.perf_counter(), time.process_time()
                    call()
                    bucket.append((time.perf_counter() - t) * 1000)
                    cpu_bucket.append(time.process_time() - c)
        collections.variant = None
        for frozen in variants:
            row = name if opts.gc_freeze != "compare" else f"{name[:44]} {'frozen' if frozen else 'gc'}"
            ratio = _row(row, times[frozen], cpu[frozen], firsts)  # every case printed, search included
            if "search" not in name:  # the mean is of look-ups and lists (search is not like for like)
                ratios.append(ratio)
    gc.callbacks.remove(collections.callback)
    for frozen in variants:
        count, spent = collections.full[frozen]
        young_count, young_spent = collections.young[frozen]
        print(
            f"garbage collector, {'frozen' if frozen else 'not frozen'}: {count} full collections "
            f"({spent * 1000:.0f} ms, {spent * 1000 / max(count, 1):.0f} ms each), {young_count} younger "
            f"({young_spent * 1000:.0f} ms) during the timed calls"
        )
    if ratios:
        mean = statistics.geometric_mean(ratios)
        print(f"geometric mean exec/SPARQL ratio (lookups and lists): {mean:.2f}×")


class _Collections:
    """Collections and their time (gc.callbacks) during the timed calls, by variant (frozen or not)."""

    def __init__(self) -> None:
        self.variant: bool | None = None
        self.full: dict[bool, list[float]] = {False: [0, 0.0], True: [0, 0.0]}
        self.young: dict[bool, list[float]] = {False: [0, 0.0], True: [0, 0.0]}
        self._start = 0.0

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self.variant is not None:
            totals = (self.full if info["generation"] == 2 else self.young)[self.variant]
            totals[0] += 1
            totals[1] += time.perf_counter() - self._start


def _row(
    name: str, times: tuple[list[float], ...], cpu: tuple[list[float], ...], firsts: list[float]
) -> float:
    """Print one case's row; its exec/SPARQL ratio of the medians."""
    h_med, e_med, s_med = (statistics.median(b) for b in times)
    cpu_exec, cpu_sparql = statistics.median(cpu[1]) * 1000, statistics.median(cpu[2]) * 1000
    cpu_ratio = cpu_exec / cpu_sparql
    print(
        f"{name:<52} {h_med:>9.1f} {percentile(times[0], 0.95):>7.1f} {e_med:>9.1f} "
        f"{percentile(times[1], 0.95):>7.1f} {s_med:>10.1f} {percentile(times[2], 0.95):>7.1f} "
        f"{h_med / s_med:>10.2f}× {e_med / s_med:>10.2f}× {cpu_exec:>8.1f} {cpu_sparql:>10.1f} "
        f"{cpu_ratio:>14.2f}×  first HTTP/exec/SPARQL {firsts[0]:.0f}/{firsts[1]:.0f}/{firsts[2]:.0f} ms"
    )
    return e_med / s_med


if __name__ == "__main__":
    main()
