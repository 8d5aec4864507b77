"""The GraphQL API on the demo graph plus a small supply/NLP fixture graph (tests/fixtures/graphql).

Covers every type, pagination, filters and ordering, search quality (typos, accents, case), the
N+1 guard (store queries per request do not grow with the number of parents), limits, the HTTP
transport (GraphQL over HTTP, the offline explorer) and SPARQL-injection strings in every string
argument.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient
from graphql import GraphQLNonNull, GraphQLScalarType, get_named_type

from api.app import create_app
from api.graphql import search as search_module
from api.graphql.queries import QueryRunner
from api.graphql.schema import schema
from kg.build import build
from kg.cli import DEMO_MANIFEST
from kg.config import Settings
from kg.manifest import load_manifest
from kg.namespaces import prefixes_for
from kg.store import open_store
from tests.conftest import ROOT, TEST_BASE, on_test_backend, remote_twin

FIXTURE = ROOT / "tests" / "fixtures" / "graphql" / "supply-nlp.ttl"
ID = TEST_BASE + "id/"
GQL = "application/graphql-response+json"
SEARCH_INDEX_THREAD = search_module.BUILDER_THREAD


class CountingStore:
    """A store proxy that records the text of every query (to count them and to inspect them)."""

    def __init__(self, store: ox.Store) -> None:
        self.store = store
        self.texts: list[str] = []
        self.substitutions: list[dict[Any, Any]] = []
        self.threads: list[str] = []  # the name of the thread that sent each query

    def query(self, text: str, **kwargs: Any) -> Any:
        self.texts.append(text)
        self.substitutions.append(kwargs.get("substitutions") or {})
        self.threads.append(threading.current_thread().name)
        return self.store.query(text, **kwargs)

    def requests_since(self, start: int) -> list[str]:
        """The queries sent since ``start`` by the requests, without those of the search index's
        background build (``api.graphql.search``: started by an app's first GraphQL request, on its
        own thread, at the same time as the request)."""
        return [
            text
            for text, thread in zip(self.texts[start:], self.threads[start:], strict=True)
            if not thread.startswith(SEARCH_INDEX_THREAD)
        ]

    def __len__(self) -> int:
        return len(self.store)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, ox.Store]:
    """The demo build copied into memory, plus the fixture graph."""
    settings = dataclasses.replace(
        Settings(), store=tmp_path_factory.mktemp("gql") / "store", base_iri=TEST_BASE
    )
    build(load_manifest(DEMO_MANIFEST), settings)
    built = open_store(settings.store)
    store = ox.Store()
    store.bulk_extend(built.quads_for_pattern(None, None, None, ox.DefaultGraph()))
    store.bulk_extend(
        ox.Quad(t.subject, t.predicate, t.object)
        for t in ox.parse(path=str(FIXTURE), format=ox.RdfFormat.TURTLE)
    )
    return settings, store


@pytest.fixture(scope="module")
def app_store(graph: tuple[Settings, ox.Store]) -> tuple[TestClient, CountingStore]:
    settings, store = graph
    counting = CountingStore(remote_twin(on_test_backend(settings, store)) or store)  # type: ignore[arg-type]
    app = create_app(settings, store=store)
    app.state.store = counting  # every GraphQL store access goes through the proxy
    return TestClient(app), counting


@pytest.fixture
def gql(app_store: tuple[TestClient, CountingStore]) -> Callable[..., dict[str, Any]]:
    client, _ = app_store

    def run(
        query: str, variables: dict[str, Any] | None = None, expect_errors: bool = False
    ) -> dict[str, Any]:
        response = client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers={"accept": GQL}
        )
        body = response.json()
        if not expect_errors:
            assert response.status_code == 200 and "errors" not in body, body
        return body

    return run


# --- Every type ------------------------------------------------------------------------------------


def test_occupation_with_everything(gql: Callable[..., dict[str, Any]]) -> None:
    occ = gql("""{ occupation(code: "I1407") {
        id code label ogrCode definition access ecologicalTransition digitalTransition regulatedJob
        riasecMajor romeV3Parent { code label occupations { totalCount } }
        domain { code label broader { code } occupations { totalCount } }
        appellations { totalCount nodes { code label shortLabel mainAppellation occupation { code } } }
        skills { totalCount edges { core emerging node { code label kind category macroSkill { code } } } }
        workContexts { nodes { code label } }
        mobilityTargets { nodes { code } }
        certifications { nodes { code kind } }
        jobOffers { totalCount nodes { code } }
        targetTrades { nodes { code label ordinal } }
    } }""")["data"]["occupation"]
    assert occ["id"] == ID + "rome/I1407" and occ["code"] == "I1407"
    assert occ["label"].startswith("Réparateur") and occ["definition"] and occ["access"]
    assert occ["romeV3Parent"]["code"] and occ["domain"]["code"] == "I14"
    assert occ["domain"]["broader"]["code"] == "I" and occ["domain"]["occupations"]["totalCount"] >= 1
    assert occ["appellations"]["totalCount"] == 2
    assert all(a["occupation"]["code"] == "I1407" for a in occ["appellations"]["nodes"])
    skills = occ["skills"]
    assert skills["totalCount"] == 6
    cores = [e["core"] for e in skills["edges"]]
    assert cores == sorted(cores, reverse=True) and any(cores)  # core skills first
    kinds = {e["node"]["kind"] for e in skills["edges"]}
    assert {"KNOW_HOW", "KNOWLEDGE", "MACRO_SKILL"} <= kinds
    know_how = [e["node"] for e in skills["edges"] if e["node"]["kind"] == "KNOW_HOW"]
    assert all(k["macroSkill"] for k in know_how)
    assert occ["jobOffers"]["totalCount"] >= 2  # the fixture's two, and the demo's offers
    assert sorted(occ["targetTrades"]["nodes"], key=lambda n: n["ordinal"]) == [  # the demo's, the fixture's
        {
            "code": "reparation-telephonie",
            "label": "Réparation et reconditionnement de téléphones mobiles",
            "ordinal": 1,
        },
        {"code": "reparation-numerique", "label": "Réparation numérique", "ordinal": 11},
    ]


def test_v3_code_resolves_to_v4(gql: Callable[..., dict[str, Any]]) -> None:
    rows = gql('{ occupations(v3: "I1402", first: 50) { nodes { code romeV3Parent { code } } } }')
    nodes = rows["data"]["occupations"]["nodes"]
    assert nodes and all(n["romeV3Parent"]["code"] == "I1402" for n in nodes)
    one = gql('{ occupation(code: "I1402") { code } }', expect_errors=True)
    assert one["data"]["occupation"] is not None or one["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_skill_certification_block_coverage(gql: Callable[..., dict[str, Any]]) -> None:
    skill = gql("""{ skill(code: "140926") { code label kind occupations { nodes { code } }
        blocks { nodes { score method block { code certification { code } } skill { code } } }
        requiredBy { totalCount nodes { code } } } }""")["data"]["skill"]
    assert skill["kind"] == "KNOW_HOW" and skill["occupations"]["nodes"] == [{"code": "I1407"}]
    assert skill["blocks"]["nodes"] == [
        {
            "score": 0.72,
            "method": "fuzzy",
            "skill": {"code": "140926"},
            "block": {"code": "RNCP36170BC01", "certification": {"code": "RNCP36170"}},
        }
    ]
    assert skill["requiredBy"]["totalCount"] >= 2  # the fixture's two, and the demo's offers
    cert = gql("""{ certification(code: "RNCP36170") { code label kind level accessModes
        blocks { nodes { code label certification { code } coverage { totalCount }
                         courses { nodes { code } } } }
        occupationsV3 { nodes { code } } occupations { nodes { code romeV3Parent { code } } }
        trainingDomains { nodes { code } } nsfSpecialities { nodes { code label } }
        certifiers { nodes { code label certifications { totalCount } } }
        replacedBy { nodes { code } } replaces { nodes { code } } courses { nodes { code } } } }""")
    c = cert["data"]["certification"]
    assert c["kind"] == "RNCP" and c["level"] == 3 and c["blocks"]["nodes"][0]["code"] == "RNCP36170BC01"
    assert c["blocks"]["nodes"][0]["coverage"]["totalCount"] == 1
    assert c["courses"]["nodes"] == [{"code": "AF-001"}]
    assert {"code": "I1402"} in c["occupationsV3"]["nodes"]
    v3_codes = {n["code"] for n in c["occupationsV3"]["nodes"]}
    assert c["occupations"]["nodes"] and all(
        n["romeV3Parent"]["code"] in v3_codes for n in c["occupations"]["nodes"]
    )
    assert c["certifiers"]["nodes"] and c["certifiers"]["nodes"][0]["certifications"]["totalCount"] >= 1


def test_training_supply(gql: Callable[..., dict[str, Any]]) -> None:
    course = gql("""{ trainingCourse(code: "AF-001") {
        code label objective totalHours hoursInCentre entryLevel
        provider { code label qualiopi qualiopiVae natures siren emails webPages commune { code label }
                   disabilityReferents { nodes { code roleTitle emails trainingBodies { nodes { code } }
                                                 places { nodes { code } } } }
                   courses { totalCount } }
        trainingDomains { nodes { code label courses { totalCount } certifications { totalCount } } }
        occupations { nodes { code } } certifications { nodes { code } } blocks { nodes { code } }
        sessions { totalCount nodes { code startDate endDate recruitmentStatus course { code }
                   places { nodes { code label postalCode commune { code } } } } } } }""")
    c = course["data"]["trainingCourse"]
    assert c["totalHours"] == 400 and c["hoursInCentre"] == 300 and c["entryLevel"] == "3"
    p = c["provider"]
    assert (
        p["qualiopi"] is True and p["qualiopiVae"] is False and p["natures"] == ["formateur", "responsable"]
    )
    assert p["webPages"] == ["https://atelier-formation.example/"] and p["commune"]["code"] == "14118"
    ref = p["disabilityReferents"]["nodes"][0]
    assert ref["roleTitle"].startswith("Référent") and ref["trainingBodies"]["nodes"][0]["code"] == p["code"]
    assert c["trainingDomains"]["nodes"][0]["courses"]["totalCount"] >= 2  # the fixture's two, and the demo's
    assert c["sessions"]["totalCount"] == 2
    assert c["sessions"]["nodes"][0]["startDate"] == "2026-09-01"
    assert c["sessions"]["nodes"][0]["places"]["nodes"][0]["commune"]["code"] == "14118"


def test_relays_companies_offers_emerging(gql: Callable[..., dict[str, Any]]) -> None:
    caen = ID + "commune/14118"
    data = gql(
        """query($t: ID) {
        vaeRelays(territory: $t) { nodes { code label mandatingNetwork departement { code } telephones } }
        companies(territory: $t) { nodes { code label workforceBand hiringScore disabilityCommitted } }
        jobOffers(territory: $t) { nodes { code label contractType creationDate employerName
            declaredOccupation { code } predictions { nodes { rank score occupation { code } } }
            requiredSkills { nodes { code } } desiredSkills { nodes { code } }
            mentions { nodes { evidenceText startOffset endOffset confidence method skill { code }
                               emergingSkill { code label normalisedPhrase offerCount exampleTexts
                                               exampleOffers { nodes { code } }
                                               mentions { totalCount } } } } } }
        emergingSkills(first: 100) { nodes { code } }
        targetTrades { nodes { code occupations { nodes { code } } } } }""",
        {"t": caen},
    )["data"]
    assert {n["departement"]["code"] for n in data["vaeRelays"]["nodes"]} == {"14"}
    company = next(n for n in data["companies"]["nodes"] if n["code"] == "99887766500013")  # the fixture's
    assert company["hiringScore"] == 0.8
    offer = next(n for n in data["jobOffers"]["nodes"] if n["code"] == "123ABCD")
    assert offer["code"] == "123ABCD" and offer["predictions"]["nodes"][0]["occupation"]["code"] == "I1407"
    mentions = {m["evidenceText"]: m for m in offer["mentions"]["nodes"]}
    assert mentions["réparez des smartphones"]["skill"] == {"code": "140926"}
    emerging = mentions["micro-soudure"]["emergingSkill"]
    assert emerging["offerCount"] == 3 and emerging["mentions"]["totalCount"] == 1
    assert {"code": "micro-soudure"} in data["emergingSkills"]["nodes"]
    trade = next(n for n in data["targetTrades"]["nodes"] if n["code"] == "reparation-numerique")
    assert trade["occupations"]["nodes"] == [{"code": "I1407"}]


def test_territories_parents_children(gql: Callable[..., dict[str, Any]]) -> None:
    data = gql(
        f"""{{ territory(code: "14118") {{ code label kind population postalCodes latitude
        departement {{ code kind region {{ code label }} }} region {{ code }} epci {{ code kind }}
        employmentZone {{ code }} }}
        normandie: territory(code: "28", kind: REGION) {{ kind chefLieu {{ code }}
            children(kind: DEPARTEMENT) {{ totalCount nodes {{ code }} }} }}
        territories(kind: DEPARTEMENT, within: "{ID}region/28") {{ totalCount }} }}"""
    )["data"]
    caen = data["territory"]
    assert caen["kind"] == "COMMUNE" and caen["departement"]["code"] == "14"
    assert caen["departement"]["region"]["label"] == "Normandie" and caen["epci"]["kind"] == "EPCI"
    assert "14000" in caen["postalCodes"] and caen["latitude"] > 49
    assert data["normandie"]["children"]["totalCount"] == data["territories"]["totalCount"] == 5


def test_node_and_nodes(gql: Callable[..., dict[str, Any]]) -> None:
    ids = [
        ID + "rome/I1407",
        ID + "competence/140926",
        ID + "formacode/24136",
        ID + "siret/12345678900015",
        ID + "session/SE-001",
        ID + "nothing/here",
    ]
    data = gql("""query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }""", {"ids": ids})["data"]
    assert [n and n["__typename"] for n in data["nodes"]] == [
        "Occupation",
        "Skill",
        "TrainingDomain",
        "TrainingBody",
        "TrainingSession",
        None,
    ]
    assert data["nodes"][0]["id"] == ids[0]


# --- Pagination, filters, ordering ------------------------------------------------------------------


def test_pagination_walks_every_item_once(gql: Callable[..., dict[str, Any]]) -> None:
    seen: list[str] = []
    after = None
    total = None
    while True:
        page = gql(
            "query($a: String) { occupations(first: 4, after: $a) { totalCount "
            "pageInfo { hasNextPage endCursor } nodes { code } } }",
            {"a": after},
        )["data"]["occupations"]
        total = page["totalCount"]
        seen += [n["code"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == total and seen == sorted(seen)
    nested = gql(
        '{ occupation(code: "I1407") { skills(first: 2) { totalCount pageInfo { hasNextPage endCursor } } } }'
    )
    cursor = nested["data"]["occupation"]["skills"]["pageInfo"]["endCursor"]
    rest = gql(
        'query($c: String) { occupation(code: "I1407") { skills(first: 10, after: $c) '
        "{ edges { cursor } } } }",
        {"c": cursor},
    )["data"]["occupation"]["skills"]["edges"]
    assert len(rest) == 4


def test_filters_and_ordering(gql: Callable[..., dict[str, Any]]) -> None:
    f = gql('{ occupations(domain: "F", first: 100) { nodes { code } } }')["data"]["occupations"]["nodes"]
    assert f and all(n["code"].startswith("F") for n in f)
    desc = gql("{ occupations(first: 100, orderBy: CODE_DESC) { nodes { code } } }")["data"]["occupations"][
        "nodes"
    ]
    assert [n["code"] for n in desc] == sorted((n["code"] for n in desc), reverse=True)
    knowledge = gql("{ skills(kind: KNOWLEDGE, first: 100) { nodes { kind } } }")["data"]["skills"]["nodes"]
    assert knowledge and {n["kind"] for n in knowledge} == {"KNOWLEDGE"}
    rncp = gql('{ certifications(rome: "I1407", first: 100) { nodes { code } } }')["data"]["certifications"]
    assert {"code": "RNCP36170"} in rncp["nodes"]
    by_formacode = gql('{ trainingCourses(formacode: "24136") { totalCount } }')["data"]["trainingCourses"]
    assert by_formacode["totalCount"] >= 2  # the fixture's two, and the demo's
    sessions = gql('{ trainingSessions(startFrom: "2026-09-15", startTo: "2027-12-31") { nodes { code } } }')
    fixture_sessions = [
        n["code"] for n in sessions["data"]["trainingSessions"]["nodes"] if n["code"].startswith("SE-")
    ]
    assert fixture_sessions == ["SE-003", "SE-002"]
    offers = gql('{ jobOffers(createdFrom: "2026-11-01") { nodes { code } } }')["data"]["jobOffers"]["nodes"]
    assert {"code": "123ABCD"} in offers
    bodies = gql("{ trainingBodies(qualiopi: false) { nodes { code } } }")["data"]["trainingBodies"]["nodes"]
    assert {"code": "44556677800012"} in bodies  # the fixture's (the demo has others)


# --- Search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "types", "expected"),
    [
        (
            "Réparateur smartphone",
            None,
            "Réparateur / Réparatrice en smartphone, téléphonie mobile, tablette",
        ),
        (
            "reparateur smartfone",
            ["APPELLATION"],
            "Réparateur / Réparatrice en smartphone, téléphonie mobile, tablette",
        ),
        ("MACON", ["OCCUPATION"], "Maçon / Maçonne"),
        ("energie eolienne", ["TRAINING_DOMAIN"], "Énergie éolienne"),
        ("caen", ["COMMUNE"], "Caen"),
        ("alencon", ["COMMUNE"], "Alençon"),
        ("RNCP36170", None, None),
    ],
)
def test_search_quality(
    gql: Callable[..., dict[str, Any]], text: str, types: list[str] | None, expected: str | None
) -> None:
    hits = gql(
        "query($t: String!, $k: [SearchType!]) { search(text: $t, types: $k, first: 5) "
        "{ score type label code node { id } } }",
        {"t": text, "k": types},
    )["data"]["search"]
    assert hits, text
    if expected is None:
        assert hits[0]["code"] == text and hits[0]["score"] == 100
    else:
        assert hits[0]["label"] == expected, hits
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    if types:
        assert {h["type"] for h in hits} <= set(types)


# --- Store queries per request (no N+1) ----------------------------------------------------------


def test_store_queries_do_not_grow_with_parents(graph: tuple[Settings, ox.Store]) -> None:
    """The store queries of a request do not grow with its number of parents, on a cold app as on a
    warm one. An app's first GraphQL request also starts the search index's build in the background
    (one label query per searchable kind, on the index builder's thread, at the same time as the
    request): those are not the request's queries and are counted apart. (They were once counted
    with the request's: 8 instead of 2 when this test ran first, 2 when an earlier test of the
    module had started the index of the shared app.)"""
    settings, graph_store = graph
    # A fresh app on a fresh proxy (a new build key): its search index is not built yet.
    store = CountingStore(remote_twin(on_test_backend(settings, graph_store)) or graph_store)  # type: ignore[arg-type]
    app = create_app(settings, store=graph_store)
    app.state.store = store
    client = TestClient(app)

    def queries_for(query: str, n: int) -> int:
        before = len(store.texts)
        body = client.post("/graphql", json={"query": query, "variables": {"n": n}}, headers={"accept": GQL})
        assert body.status_code == 200 and "errors" not in body.json(), body.json()
        return len(store.requests_since(before))

    # One level of parents, one of children: a fixed number of store queries, whatever the number of parents.
    simple = (
        "query($n: Int) { occupations(first: $n) { nodes { "
        "skills(first: 50) { edges { node { label } } } } } }"
    )
    # The page (its fields read with it), then the occupations' level with their skills joined to it
    # (QueryRunner.joined): 2 (3 before the look-ahead joined a level's links to it). The first of
    # these requests is the app's first (cold): the same count.
    cold = queries_for(simple, 8)
    assert cold == queries_for(simple, 21) == queries_for(simple, 8) <= 2
    # The index's build: once for the app, one query per searchable kind, none of the request's.
    search_module._BUILDER.submit(lambda: None).result(timeout=60)  # the builder is one thread: FIFO
    background = len(store.texts) - len(store.requests_since(0))
    assert background == len(search_module.KINDS), store.texts
    # A deep request: the count depends on the shape of the data reached, never on how many parents.
    deep = """query($n: Int) { occupations(first: $n) { nodes { code label domain { label }
        skills(first: 50) { edges { core node { label kind macroSkill { label } } } }
        appellations { nodes { label } }
        certifications { totalCount nodes { code blocks { totalCount } } } } } }"""
    # More parents reach more kinds of data (a domain, a macro-skill...), so the count may rise a
    # little, but stays under a bound below the number of parents (N+1 would give > 21).
    # 4–5 on the demo graph (6 before a level's links were read with it; the bound was 16 then).
    counts = [queries_for(deep, n) for n in (1, 8, 21)]
    assert max(counts) <= 6, counts
    assert len(store.texts) - len(store.requests_since(0)) == len(search_module.KINDS)  # built once


# --- Limits and errors ----------------------------------------------------------------------------


def test_limits(app_store: tuple[TestClient, CountingStore]) -> None:
    client, _ = app_store

    def post(query: str, **kw: Any) -> Any:
        return client.post("/graphql", json={"query": query, **kw}, headers={"accept": GQL})

    too_big = post("{ occupations(first: 101) { totalCount } }")
    assert (
        too_big.status_code == 400 and too_big.json()["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    )
    deep = '{ occupation(code: "I1407") { ' + "mobilityTargets { nodes { " * 8 + "code" + " } }" * 8 + " } }"
    r = post(deep)
    assert r.status_code == 400 and "depth" in r.json()["errors"][0]["message"]
    costly = (
        "{ occupations(first: 100) { nodes { skills(first: 100) { edges { node { occupations(first: 100) "
        "{ nodes { code } } } } } } } }"
    )
    r = post(costly)
    assert r.status_code == 400 and "cost" in r.json()["errors"][0]["message"]
    aliases = "{ " + " ".join(f'a{i}: occupation(code: "I1407") {{ code }}' for i in range(31)) + " }"
    r = post(aliases)
    assert r.status_code == 400 and "aliases" in r.json()["errors"][0]["message"]
    batch = client.post("/graphql", json=[{"query": "{ __typename }"}] * 11, headers={"accept": GQL})
    assert batch.status_code == 400 and batch.json()["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    ok_batch = client.post("/graphql", json=[{"query": "{ __typename }"}] * 2, headers={"accept": GQL})
    assert ok_batch.status_code == 200 and ok_batch.json() == [{"data": {"__typename": "Query"}}] * 2
    missing = post('{ certification(code: "RNCP0") { code } }').json()
    assert missing["data"] == {"certification": None}
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    bad = post('{ occupations(after: "not-a-cursor") { totalCount } }').json()
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and "Traceback" not in json.dumps(bad)


def test_batched_lookup_reads_every_pair(graph: tuple[Settings, ox.Store]) -> None:
    """The fields of a page are read by one ``values`` query: exactly the (resource, property)
    pairs of the default graph, as one look-up per pair would find them (no more, none lost)."""
    from api.graphql.queries import QueryRunner

    _, store = graph
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    skill = ox.NamedNode("https://w3id.org/passerelles/ontology#Skill")
    subjects = sorted({q.subject.value for q in store.quads_for_pattern(None, rdf_type, skill)})[:40]
    props = [
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
        "http://www.w3.org/2004/02/skos/core#prefLabel",
        "https://w3id.org/passerelles/ontology#code",
        "https://w3id.org/passerelles/ontology#nothing",
    ]
    expected = {}
    for s in subjects:
        for p in props:
            objects = [
                q.object
                for q in store.quads_for_pattern(ox.NamedNode(s), ox.NamedNode(p), None, ox.DefaultGraph())
            ]
            if objects:
                expected[(s, p)] = objects
    assert len(subjects) > 10
    want = {k: sorted(map(str, v)) for k, v in expected.items()}
    kind = subjects[0].rsplit("/", 1)[0]
    # Read by index scans (few triples per skill), by look-ups (many), and the two mixed.
    for degree, queries in ((0, 1), (10**6, 2), (None, 2)):
        runner = QueryRunner(store, {})
        if degree is not None:
            runner.degrees[kind] = degree
        found = runner.lookup_sync([*subjects, ID + "absent"], props)
        assert {k: sorted(map(str, v)) for k, v in found.items()} == want
        assert runner.count <= queries
    # Through a store that is not embedded (a proxy): the look-ups, the same pairs.
    proxied = QueryRunner(CountingStore(store), {})  # type: ignore[arg-type]
    found = proxied.lookup_sync(subjects, props)
    assert {k: sorted(map(str, v)) for k, v in found.items()} == want and proxied.count == 1


def test_document_cache_keeps_the_limits(app_store: tuple[TestClient, CountingStore]) -> None:
    """The parsed and validated documents are kept by query text (``router._parsed``), but the limits
    are measured on every request: a too-deep or too-costly query is refused on its second
    submission too (its document then comes from the cache), and the cache is bounded."""
    from api.graphql.router import _parsed

    client, _ = app_store

    def post(query: str, variables: dict[str, Any] | None = None) -> Any:
        return client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers={"accept": GQL}
        )

    deep = '{ occupation(code: "I1407") { ' + "mobilityTargets { nodes { " * 9 + "code" + " } }" * 9 + " } }"
    for _ in range(2):
        hits = _parsed.cache_info().hits
        r = post(deep)
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "depth" in r.json()["errors"][0]["message"]
    assert _parsed.cache_info().hits == hits + 1  # the second refusal came from a cached document
    # The same cached text, different variables: the page size and the cost follow the variables.
    paged = "query($n: Int) { occupations(first: $n) { nodes { skills(first: $n) { totalCount } } } }"
    assert post(paged, {"n": 2}).status_code == 200
    r = post(paged, {"n": 101})
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    # Invalid documents are cached with their errors, and answered with them every time.
    for _ in range(2):
        r = post("{ occupations { nope } }")
        assert r.status_code == 400 and "nope" in r.json()["errors"][0]["message"]
    maxsize = _parsed.cache_info().maxsize
    assert maxsize is not None and maxsize <= 1024
    for i in range(maxsize + 5):
        _parsed(f"{{ __typename a{i}: __typename }}", True)
    assert _parsed.cache_info().currsize == maxsize


def test_timeout_introspection_allowlist(graph: tuple[Settings, ox.Store], tmp_path: Path) -> None:
    settings, store = graph
    slow = TestClient(create_app(dataclasses.replace(settings, graphql_timeout_s=0.000001), store=store))
    r = slow.post(
        "/graphql",
        json={"query": "{ occupations(first: 100) { totalCount nodes { label } } }"},
        headers={"accept": GQL},
    )
    assert r.status_code == 504 and r.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    closed = TestClient(create_app(dataclasses.replace(settings, graphql_introspection=False), store=store))
    r = closed.post("/graphql", json={"query": "{ __schema { types { name } } }"}, headers={"accept": GQL})
    assert r.status_code == 400 and "introspection" in r.json()["errors"][0]["message"].lower()
    allowed = '{ occupation(code: "I1407") { code } }'
    (tmp_path / "occupation.graphql").write_text(allowed, encoding="utf-8")
    locked = TestClient(create_app(dataclasses.replace(settings, graphql_allowlist=tmp_path), store=store))
    assert locked.post("/graphql", json={"query": allowed}).json()["data"]["occupation"]["code"] == "I1407"
    import hashlib

    digest = hashlib.sha256(allowed.encode()).hexdigest()
    by_hash = locked.post(
        "/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    )
    assert by_hash.json()["data"]["occupation"]["code"] == "I1407"
    other = locked.post("/graphql", json={"query": "{ occupations { totalCount } }"}, headers={"accept": GQL})
    assert other.status_code == 403 and other.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- Transport -------------------------------------------------------------------------------------


def test_graphql_over_http(app_store: tuple[TestClient, CountingStore]) -> None:
    client, _ = app_store
    r = client.get(
        "/graphql", params={"query": '{ occupation(code: "I1407") { code } }'}, headers={"accept": GQL}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith(GQL)
    assert r.json()["data"]["occupation"]["code"] == "I1407"
    r = client.get("/graphql", params={"query": "mutation { x }"}, headers={"accept": GQL})
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = client.post("/graphql", json={"query": "{ occupation(code: "}, headers={"accept": GQL})
    assert r.status_code == 400 and r.headers["content-type"].startswith(GQL)
    r = client.post("/graphql", json={"query": "{ nosuchfield }"}, headers={"accept": GQL})
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    legacy = client.post(
        "/graphql", json={"query": "{ nosuchfield }"}, headers={"accept": "application/json"}
    )
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
    assert (
        client.post(
            "/graphql", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/graphql", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    assert (
        client.post("/graphql", json={"query": "{ __typename }"}, headers={"accept": "text/csv"}).status_code
        == 406
    )
    text = client.post("/graphql", content=b"{ __typename }", headers={"content-type": "application/graphql"})
    assert text.json() == {"data": {"__typename": "Query"}}


def test_explorer_is_served_offline(app_store: tuple[TestClient, CountingStore]) -> None:
    client, _ = app_store
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text
    assert "https://" not in page.text and "http://" not in page.text.replace("new URL", "")
    for asset in (
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "LICENSE.graphiql",
    ):
        assert f"/graphql/static/{asset}" in page.text or asset.startswith("LICENSE")
        r = client.get(f"/graphql/static/{asset}")
        assert r.status_code == 200 and len(r.content) > 500
    assert client.get("/graphql/static/../router.py").status_code == 404


# --- Injection strings ------------------------------------------------------------------------------

INJECTIONS = [
    '" } ; DROP ALL ; #',
    '" . ?s ?p ?o } UNION { ?s ?p ?o',
    "> } INSERT DATA { <http://evil> <http://evil> <http://evil> } #",
    "' OR '1'='1",
    'I1407" ) } #',
    '\\" } LIMIT 1 #',
    "https://w3id.org/passerelles/id/x> } ; DELETE WHERE { ?s ?p ?o } #",
]


def _string_arguments() -> list[tuple[str, str, bool]]:
    """(root field, argument, required) for every String/ID argument of the Query root."""
    out = []
    for name, fld in schema._schema.query_type.fields.items():
        for arg_name, arg in fld.args.items():
            named = get_named_type(arg.type)
            if isinstance(named, GraphQLScalarType) and named.name in ("String", "ID"):
                out.append((name, arg_name, isinstance(arg.type, GraphQLNonNull)))
    return out


def test_injection_strings_are_inert(app_store: tuple[TestClient, CountingStore]) -> None:
    client, store = app_store
    size = len(store)
    arguments = _string_arguments()
    assert len(arguments) >= 30
    for field_name, arg, _ in arguments:
        fld = schema._schema.query_type.fields[field_name]
        kind = str(fld.args[arg].type)
        named = get_named_type(fld.type)
        selection = "{ __typename }" if hasattr(named, "fields") else ""
        if field_name in ("node", "nodes"):
            selection = "{ id }"
        for text in INJECTIONS:
            start = len(store.texts)
            value: Any = [text] if kind.startswith("[") else text
            query = f"query($v: {kind}) {{ {field_name}({arg}: $v) {selection} }}"
            r = client.post(
                "/graphql", json={"query": query, "variables": {"v": value}}, headers={"accept": GQL}
            )
            assert r.status_code in (200, 400), (field_name, arg, r.status_code)
            body = r.json()
            for error in body.get("errors", []):
                assert error["extensions"]["code"] in ("NOT_FOUND", "BAD_USER_INPUT", "LIMIT_EXCEEDED"), (
                    field_name,
                    arg,
                    error,
                )
            data = (body.get("data") or {}).get(field_name)
            assert (
                not data
                or data == [None]
                or data.get("__typename", "").endswith("Connection")
                or (field_name == "search")
            ), (field_name, arg, data)
            for sent in store.texts[start:]:
                assert text not in sent, f"{field_name}({arg}:) put user text into SPARQL"
    assert len(store) == size


# --- Lists: the selection is paged before the keys are joined (issue #6) ---------------------------


def _one(store: ox.Store, text: str) -> str:
    """The first value of a one-column query on the graph (a filter value the demo holds)."""
    rows = list(store.query(text, prefixes={"pas": "https://w3id.org/passerelles/ontology#"}))
    assert rows, text
    return str(rows[0][0].value)  # type: ignore[union-attr]


def _walk(gql: Callable[..., dict[str, Any]], field: str, args: str) -> tuple[list[str], int]:
    """Every code of a filtered list, page by page (3 at a time), and its totalCount."""
    codes: list[str] = []
    after = None
    while True:
        page = gql(
            f"query($a: String) {{ {field}({args} first: 3, after: $a) {{ totalCount "
            "pageInfo { hasNextPage endCursor } nodes { code } } }",
            {"a": after},
        )["data"][field]
        codes += [n["code"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return codes, page["totalCount"]
        after = page["pageInfo"]["endCursor"]


def test_label_order_pages_match_the_paged_query(
    graph: tuple[Settings, ox.Store], gql: Callable[..., dict[str, Any]]
) -> None:
    """``orderBy: LABEL`` / ``LABEL_DESC`` of a large list, walked 3 at a time through the API (the
    kept whole ordering, sliced), gives the resources in exactly the order of the store's own paged
    query (``LIMIT``/``OFFSET``, no ordering kept), each once, and its totalCount counts them; a
    filtered (small) list by label is paged by the store as before."""
    settings, store = graph
    plain = QueryRunner(store, prefixes_for(settings.base_iri))

    async def paged(name: str, params: dict[str, Any], descending: bool) -> list[str]:
        codes: list[str] = []
        while True:  # build None: no ordering kept, each page its own LIMIT/OFFSET query
            rows = await plain.page(name, params, "label", descending, 3, len(codes))
            codes += [row["code"].value for row in rows]
            if len(rows) < 3:
                return codes

    for field, query, args, params in (
        ("certifications", "list-certifications", "", {}),
        ("skills", "list-skills", "", {}),
        ("certifications", "list-certifications", "level: 5,", {"level": ox.Literal(5)}),
    ):
        for order in ("LABEL", "LABEL_DESC"):
            codes, total = _walk(gql, field, f"{args} orderBy: {order},")
            expected = asyncio.run(paged(query, params, order == "LABEL_DESC"))
            assert len(expected) > (1 if params else 6), (field, args)  # large ones: several pages
            assert codes == expected and len(set(codes)) == len(codes) == total, (field, args, order)
    assert plain.orders == {}


def test_list_filters_match_plain_sparql(
    graph: tuple[Settings, ox.Store], gql: Callable[..., dict[str, Any]]
) -> None:
    """Each filtered list holds what a plain query finds, every item once, in code order, and its
    totalCount counts resources (a certification with two labels once)."""
    _, store = graph
    level = _one(store, "SELECT ?l { ?s a pas:Certification ; pas:europeanLevel ?l } LIMIT 1")
    formacode = _one(store, "SELECT ?f { ?s a pas:Certification ; pas:trainingDomain/pas:code ?f } LIMIT 1")
    certifier = _one(store, "SELECT ?c { ?s a pas:Certification ; pas:certifier/pas:code ?c } LIMIT 1")
    v4 = _one(
        store, "SELECT ?c { ?o pas:romeV3Parent ?v3 ; pas:code ?c . ?s pas:relatedOccupationV3 ?v3 } LIMIT 1"
    )
    category = _one(store, "SELECT ?c { ?s a pas:Skill ; pas:skillCategory ?c } LIMIT 1")
    cases = [
        (
            "certifications",
            f'rome: "{v4}",',
            f"?s a pas:Certification ; pas:relatedOccupationV3 ?v3 . "
            f'{{ ?v3 pas:code "{v4}" }} UNION {{ ?o pas:code "{v4}" ; pas:romeV3Parent ?v3 }}',
        ),
        ("certifications", f"level: {level},", f"?s a pas:Certification ; pas:europeanLevel {level}"),
        (
            "certifications",
            f"level: {level}, kind: RNCP,",
            f"?s a pas:Certification, pas:RncpCertification ; pas:europeanLevel {level}",
        ),
        (
            "certifications",
            f'formacode: "{formacode}",',
            f'?s a pas:Certification ; pas:trainingDomain/pas:code "{formacode}"',
        ),
        (
            "certifications",
            f'certifier: "{certifier}",',
            f'?s a pas:Certification ; pas:certifier/pas:code "{certifier}"',
        ),
        ("certifications", "kind: RS,", "?s a pas:Certification, pas:RsCertification"),
        ("skills", f'category: "{category}",', f'?s a pas:Skill ; pas:skillCategory "{category}"'),
        (
            "occupations",
            'domain: "F",',
            '?s a pas:Occupation ; pas:professionalDomain/skos:broader? ?d . ?d pas:code "F"',
        ),
    ]
    for field, args, pattern in cases:
        expected = {
            str(row[0].value)  # type: ignore[union-attr]
            for row in store.query(
                f"SELECT DISTINCT ?code {{ {pattern} . ?s pas:code ?code }}",
                prefixes={
                    "pas": "https://w3id.org/passerelles/ontology#",
                    "skos": "http://www.w3.org/2004/02/skos/core#",
                },
            )
        }
        codes, total = _walk(gql, field, args)
        assert expected, (field, args)
        assert set(codes) == expected and len(codes) == len(expected) == total, (field, args)
        assert codes == sorted(codes), (field, args)


def test_list_queries_page_before_the_keys(app_store: tuple[TestClient, CountingStore]) -> None:
    """The shape of the store queries of a list: a filter's look-up comes first (free text stays a
    substitution, behind a LATERAL fence), the order key is joined to the selection and the page is
    cut by the store; a large unfiltered selection reads its codes by one scan, and is counted on
    its class alone; a page makes one store query (the page, its fields and, as `totalCount` is
    asked, its count: three queries before the count and the fields were joined to the page)."""
    client, store = app_store
    for _ in range(200):  # the search index is built in the background: its queries must be over
        search = client.post("/graphql", json={"query": '{ search(text: "a") { code } }'}).json()
        if "errors" not in search:
            break
        time.sleep(0.05)

    def sent(query: str) -> list[str]:
        start = len(store.texts)
        body = client.post("/graphql", json={"query": query}, headers={"accept": GQL}).json()
        assert "errors" not in body, body
        return store.texts[start:]

    texts = sent('{ certifications(rome: "I1407", first: 5) { totalCount nodes { code label } } }')
    assert len(texts) <= 2  # (3 before the count was read by the page's query)
    page = next(t for t in texts if "LIMIT 6 OFFSET 0" in t)
    assert "I1407" not in page  # a substitution, never text
    assert page.index("pas:code ?rome") < page.index("LATERAL") < page.index("?s pas:code ?_code .")
    assert "SELECT ?s ?_code WHERE { ?s pas:code ?_code }" not in page  # a small selection: look-ups
    assert store.substitutions[store.texts.index(page)] == {ox.Variable("rome"): ox.Literal("I1407")}

    texts = sent("{ certifications(first: 2) { totalCount nodes { code } } }")
    page = next(t for t in texts if "LIMIT 3 OFFSET 0" in t)
    assert "{ SELECT ?s ?_code WHERE { ?s pas:code ?_code } }" in page  # large: one scan, hash-joined
    assert "ORDER BY ASC(?_code) ?s LIMIT 3 OFFSET 0\n}" in page  # the page, a sub-SELECT...
    # ... joined to the fields the request reads on it (one query), in the page's order again.
    assert "OPTIONAL { ?s <https://w3id.org/passerelles/ontology#code> ?_a0 }" in page
    assert page.rstrip().endswith("} ORDER BY ASC(?_code) ?s")
    assert len(texts) == 1  # the count in the same query: a sub-SELECT of its own, on the class alone
    count = page[page.index("{ SELECT (COUNT(DISTINCT ?s)") : page.rindex("\n} ORDER BY")]
    assert "pas:code" not in count and "prefLabel" not in count and "LIMIT" not in count

    texts = sent("{ certifications(first: 2, kind: RS, orderBy: LABEL) { totalCount nodes { code label } } }")
    whole = [t for t in texts if "GROUP BY ?s" in t]  # one row per resource
    # A large selection by label: the whole ordering once (no LIMIT), kept for this build; counted by it.
    assert len(whole) == 1 and "LCASE" in whole[0] and "LIMIT" not in whole[0]
    assert not any("COUNT(DISTINCT ?s)" in t for t in texts)
    texts = sent(
        '{ certifications(first: 2, kind: RS, after: "b2Zmc2V0OjE=", orderBy: LABEL) '
        "{ totalCount nodes { code } } }"
    )
    assert not any("GROUP BY ?s" in t or "COUNT(" in t for t in texts)  # the next page: a slice of it
    labelled = client.post(
        "/graphql", json={"query": "{ certifications(first: 100, orderBy: LABEL) { nodes { label } } }"}
    ).json()["data"]["certifications"]["nodes"]
    labels = [n["label"] for n in labelled]
    present = [label.lower() for label in labels if label]
    assert present == sorted(present) and labels[: len(present)] == [
        x for x in labels if x
    ]  # unlabelled last


# --- The look-ahead executor ------------------------------------------------------------------------

LOOKAHEAD_DOCUMENTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "the benchmark's deep look-up",
        """query($code: String!) { occupation(code: $code) {
          code label definition domain { code label }
          skills(first: 100) { totalCount edges { core node { code label kind } } }
          certifications(first: 20) {
            totalCount nodes { code label level blocks(first: 20) { nodes { code label } } } } } }""",
        {"code": "I1407"},
    ),
    (
        "aliases, fragments, inline fragments, variables, directives, pages after a cursor",
        """query($code: String!, $n: Int, $after: String, $blocks: Boolean!, $skip: Boolean!) {
          occupation(code: $code) {
            ...Fiche
            firstTwo: skills(first: 2, after: $after) {
              totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
              edges { cursor core emerging node { __typename ... on Skill { code kind } id } }
            }
            knowHow: skills(kind: KNOW_HOW) { totalCount edges { node { code kind } } }
            cores: skills(core: true, first: $n) { edges { node { code label } } }
            label @skip(if: $skip)
            __typename
          } }
        fragment Fiche on Occupation {
          id code label definition access riasecMajor regulatedJob
          domain { code label broader { code label } }
          romeV3Parent { code occupations(first: 1) { totalCount nodes { code } } }
          certifications(first: $n) { totalCount pageInfo { endCursor } nodes { code kind level
            blocks(first: 1) @include(if: $blocks) { totalCount nodes { code label ...Block } } } }
          appellations { nodes { ...Appellation } }
          mobilityTargets { edges { cursor node { code } } }
        }
        fragment Appellation on Appellation { code label shortLabel mainAppellation occupation { code } }
        fragment Block on SkillBlock { certification { code } }""",
        {"code": "I1407", "n": 3, "after": "b2Zmc2V0OjA=", "blocks": True, "skip": False},
    ),
    (
        "the same document, other variables",
        "",
        {"code": "I1407", "n": 1, "after": None, "blocks": False, "skip": True},
    ),
    (
        "root lists with nested connections",
        """{ occupations(first: 5) { totalCount pageInfo { hasNextPage endCursor } nodes { code label
              skills(first: 3) { totalCount edges { core node { code kind macroSkill { code label } } } }
              certifications { totalCount nodes { code } } } }
            certifications(first: 4, after: "b2Zmc2V0OjE=") { totalCount edges { cursor node {
              code label kind level openToVae blocks { totalCount nodes { code label } } } } }
            territories(first: 5, kind: COMMUNE) { totalCount nodes { code label kind departement { code } } }
            skills(first: 5, kind: KNOWLEDGE) { nodes { code label kind category } } }""",
        {},
    ),
    (
        "a field the look-ahead leaves to graphql-core, under and beside known ones",
        """{ occupation(code: "I1407") { code skills(first: 2) { edges { node { code } } }
              domain { code } } territories(first: 2) { nodes { code children(first: 2) { nodes { code } } } }
            search(text: "boulanger", first: 2) { label node { id } } }""",
        {},
    ),
    (
        "errors inside a known selection: the same errors, at the same paths",
        """{ occupation(code: "I1407") { code skills(after: "not a cursor") { totalCount } }
            certifications(first: 2) { nodes { code blocks(first: 101) { nodes { code } } } } }""",
        {},
    ),
    (
        # A level's links read with it (QueryRunner.joined): parents sharing their targets (domains,
        # skills, v3 codes), the same link under two aliases with other arguments, links inside a
        # fragment, inverse links (appellations; certifications through the v3 code), pages after
        # a cursor given as a variable.
        "joined hops: shared targets, aliases of one link, fragments, inverse links, variables",
        """query($n: Int!, $after: String, $kind: SkillKind) { occupations(first: $n) { nodes { code
            d1: domain { code label } d2: domain { label broader { code label } }
            definition
            a: skills(first: 2, after: $after) { totalCount edges { cursor core node { code kind } } }
            b: skills(first: 5, kind: $kind) { totalCount edges { node { code label kind } } }
            appellations(first: 2) { totalCount nodes { code label occupation { code } } }
            ...Links } } }
          fragment Links on Occupation {
            certifications(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
              nodes { code label level blocks(first: 1) { totalCount nodes { code label } } } }
            romeV3Parent { code label occupations { totalCount nodes { code label } } }
            mobilityTargets(first: 3) { nodes { code label domain { code } } } }""",
        {"n": 8, "after": "b2Zmc2V0OjA=", "kind": "KNOW_HOW"},
    ),
    (
        "errors in joined hops: the same errors, at the same paths",
        """{ occupations(first: 3) { nodes { code domain { code }
              certifications(after: "not a cursor") { totalCount }
              appellations(first: 101) { totalCount } } } }""",
        {},
    ),
]

# The errors each "errors" document must give, by (first, last) element of their paths.
ERROR_PATHS = {
    "errors inside a known selection: the same errors, at the same paths": {
        ("certifications", "blocks"),
        ("occupation", "skills"),
    },
    # (appellations fails too, but certifications, non-null, nulls the fiche first: both executors
    # drop the sibling's error, as at any non-null position)
    "errors in joined hops: the same errors, at the same paths": {("occupations", "certifications")},
}


ONE_ROOT = {name for name, _, _ in LOOKAHEAD_DOCUMENTS[:3]}


UNEXPECTED: list[str] = []  # exceptions of the look-ahead other than its hand-backs (_execute_both)


def _execute_both(
    graph: tuple[Settings, ox.Store], query: str, variables: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, int, int, int]:
    """The document run by the look-ahead executor and by graphql-core's (both with siblings settled:
    ``SettledExecutor``): both results, the store queries of each, and how many levels the look-ahead
    completed."""
    from graphql import GraphQLError

    from api.graphql.context import Context
    from api.graphql.lookahead import LookaheadExecutor, Unsupported
    from api.graphql.router import _execute, _parsed

    settings, store = graph
    levels = 0
    original = LookaheadExecutor._objects

    async def counted(self: Any, *args: Any) -> Any:
        nonlocal levels
        levels += 1
        try:
            return await original(self, *args)
        except (Unsupported, GraphQLError):  # (left to graphql-core, which reports it where it belongs)
            raise
        except Exception as exc:  # a fault of the look-ahead itself: graphql-core would hide it
            UNEXPECTED.append(repr(exc))
            raise

    monkeypatch.setattr(LookaheadExecutor, "_objects", counted)
    document, errors = _parsed(query, True)
    assert not errors, errors
    results, counts = [], []
    for ahead in (True, False):
        runner = QueryRunner(store, prefixes_for(settings.base_iri))
        context = Context(runner=runner, settings=settings, build_key=("lookahead-test", ahead))
        results.append(asyncio.run(_execute(document, variables, None, context, ahead=ahead)))
        counts.append(runner.count)
    return results[0], results[1], counts[0], counts[1], levels


async def _slow_error(*_: Any) -> str:
    """A resolver failing late (the timing tests: its error must not be lost)."""
    await asyncio.sleep(0.05)
    raise ValueError("slow")


async def _fast_error(*_: Any) -> str:
    """A resolver failing at the first loop turn."""
    await asyncio.sleep(0)
    raise ValueError("fast")


@pytest.mark.parametrize("executor", ["SettledExecutor", "LookaheadExecutor"])
def test_sibling_errors_do_not_depend_on_timing(executor: str) -> None:
    """Sibling fields are all let finish before the first failure propagates: the error of a slow
    sibling at a nullable position is listed even when a fast sibling's non-null error nulls the
    whole answer first (graphql-core cancels the slow one and drops its error: the answer to
    ``test_lookahead_answers_as_graphql_core``'s "errors" case then depended on which store thread
    returned first)."""
    from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, GraphQLString, execute, parse

    from api.graphql import lookahead

    inner = GraphQLObjectType("Inner", {"bad": GraphQLField(GraphQLString, resolve=_slow_error)})
    query = GraphQLObjectType(
        "Query",
        {
            "slow": GraphQLField(inner, resolve=lambda *_: {}),
            "fast": GraphQLField(GraphQLNonNull(GraphQLString), resolve=_fast_error),
        },
    )
    document = parse("{ slow { bad } fast }")
    result = execute(GraphQLSchema(query), document, executor_class=getattr(lookahead, executor))
    answer = asyncio.run(result)  # type: ignore[arg-type]
    assert answer.data is None
    assert [(e.message, e.path) for e in answer.errors or ()] == [
        ("slow", ["slow", "bad"]),
        ("fast", ["fast"]),
    ]


@pytest.mark.parametrize("case", range(len(LOOKAHEAD_DOCUMENTS)), ids=[d[0] for d in LOOKAHEAD_DOCUMENTS])
def test_lookahead_answers_as_graphql_core(
    graph: tuple[Settings, ox.Store], monkeypatch: pytest.MonkeyPatch, case: int
) -> None:
    """The look-ahead executor returns exactly what graphql-core's returns (data, error messages and
    paths) for the same document and variables, with no more store queries, and does complete levels
    itself (it is not silently handing everything back)."""
    name, query, variables = LOOKAHEAD_DOCUMENTS[case]
    query = query or LOOKAHEAD_DOCUMENTS[case - 1][1]
    UNEXPECTED.clear()
    ahead, core, ahead_queries, core_queries, levels = _execute_both(graph, query, variables, monkeypatch)
    # Its own faults (a coroutine refused by asyncio...) would be hidden by the hand-back to graphql-core.
    assert not UNEXPECTED, UNEXPECTED
    assert json.dumps(ahead.data) == json.dumps(core.data)  # the same values, keys in the same order
    errors = [(e.message, e.path) for e in ahead.errors or ()]
    assert errors == [(e.message, e.path) for e in core.errors or ()]
    if name in ERROR_PATHS:  # (null propagates up from the non-null fields: data is null)
        paths = {(e.path[0], e.path[-1]) for e in ahead.errors}
        assert paths == ERROR_PATHS[name], paths
    else:
        assert not ahead.errors and ahead.data is not None and levels >= 2
    if name in ONE_ROOT:  # (several root lists run their pages in threads: batches then vary with timing)
        assert ahead_queries <= core_queries, (ahead_queries, core_queries)


@pytest.mark.parametrize("executor", ["SettledExecutor", "LookaheadExecutor"])
def test_list_item_errors_do_not_depend_on_timing(executor: str) -> None:
    """The items of a list are all let finish before the first failure propagates, as sibling fields
    are: the error of a slow item at a nullable position is listed even when a fast item's non-null
    error nulls the whole list first (graphql-core cancels the slow item and drops its error)."""
    from graphql import (
        GraphQLField,
        GraphQLList,
        GraphQLObjectType,
        GraphQLSchema,
        GraphQLString,
        execute,
        parse,
    )

    from api.graphql import lookahead

    async def item(*_: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {}

    slow = GraphQLObjectType("Slow", {"bad": GraphQLField(GraphQLString, resolve=_slow_error)})
    entry = GraphQLObjectType(
        "Entry",
        {
            "slow": GraphQLField(slow, resolve=lambda *_: {}),
            "fast": GraphQLField(GraphQLString, resolve=_fast_error),
            "must": GraphQLField(GraphQLNonNull(GraphQLString), resolve=_fast_error),
        },
    )
    query = GraphQLObjectType(
        "Query",
        {"entries": GraphQLField(GraphQLList(GraphQLNonNull(entry)), resolve=lambda *_: [item(), item()])},
    )
    schema_ = GraphQLSchema(query)
    # Item 1 fails slowly at a nullable position; item 0 fails fast at a non-null one, nulling the list.
    document = parse("{ entries { slow { bad } } }")
    plain = asyncio.run(execute(schema_, document))  # type: ignore[arg-type]
    assert [(e.message, e.path) for e in plain.errors or ()] == [
        ("slow", ["entries", 0, "slow", "bad"]),
        ("slow", ["entries", 1, "slow", "bad"]),
    ]
    document = parse("{ entries { ... on Entry { slow { bad } } must } }")
    result = execute(schema_, document, executor_class=getattr(lookahead, executor))
    answer = asyncio.run(result)  # type: ignore[arg-type]
    assert answer.data == {"entries": None}
    assert sorted((e.message, tuple(e.path)) for e in answer.errors or ()) == [
        ("fast", ("entries", 0, "must")),
        ("slow", ("entries", 0, "slow", "bad")),
        ("slow", ("entries", 1, "slow", "bad")),
    ]
    # graphql-core's own executor cancels the slow items: their errors are lost.
    core = asyncio.run(execute(schema_, document))  # type: ignore[arg-type]
    assert [e.message for e in core.errors or ()] == ["fast"]


def test_lookahead_selections_shared_across_requests_follow_the_variables(
    graph: tuple[Settings, ox.Store],
) -> None:
    """The look-ahead's analysis of a selection is kept across requests of one cached document
    (``lookahead._SHARED``), keyed by the request's variables too: the same document run again with
    ``@include``/``@skip`` turned the other way answers with the other fields, as graphql-core does."""
    from api.graphql import lookahead
    from api.graphql.context import Context
    from api.graphql.router import _execute, _parsed

    settings, store = graph
    query = """query($with: Boolean!, $n: Int) { occupations(first: $n, domain: "I") { nodes { code
        label @include(if: $with) skills(first: 2) { edges { node { code label @skip(if: $with) } } }
        domain @include(if: $with) { code } } } }"""
    document, errors = _parsed(query, True)
    assert not errors
    answers = []
    for ahead, flag in itertools.product((True, False), (True, False, True)):
        runner = QueryRunner(store, prefixes_for(settings.base_iri))
        context = Context(runner=runner, settings=settings, build_key=("shared-test", ahead, flag))
        result = asyncio.run(_execute(document, {"with": flag, "n": 3}, None, context, ahead=ahead))
        assert not result.errors, result.errors
        answers.append(json.dumps(result.data))
    assert answers[:3] == answers[3:] and answers[0] == answers[2] != answers[1]
    first = json.loads(answers[0])["occupations"]["nodes"]
    other = json.loads(answers[1])["occupations"]["nodes"]
    assert all("label" in n and "domain" in n for n in first) and all("label" not in n for n in other)
    skills = [e["node"] for n in first for e in n["skills"]["edges"]]
    assert skills and not any("label" in s for s in skills)
    assert all("label" in e["node"] for n in other for e in n["skills"]["edges"])
    assert any(key[0] == "fields" for key in lookahead._SHARED)


def test_lookahead_analysis_shared_by_requests_with_other_values(
    graph: tuple[Settings, ox.Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-ahead's analysis of a cached document is keyed by the variables its directives read
    only: the same document for other codes adds nothing to ``lookahead._SHARED`` but its arguments
    (kept by all the variables: another page size or cursor is another page), and every request
    answers as graphql-core does; a directive's variable turned the other way is another analysis."""
    from api.graphql import limits, lookahead

    query = """query($code: String!, $n: Int, $after: String, $with: Boolean!) { occupation(code: $code) {
        code label @include(if: $with) skills(first: $n, after: $after) { totalCount
          pageInfo { hasNextPage endCursor } edges { cursor core node { code kind } } }
        certifications(first: $n) { totalCount nodes { code blocks(first: $n) { nodes { code } } } } } }"""
    runs = [
        {"code": "I1407", "n": 2, "after": None, "with": True},
        {"code": "I1321", "n": 2, "after": None, "with": True},  # another code: analysis shared
        {"code": "I1321", "n": 3, "after": "b2Zmc2V0OjA=", "with": True},  # other arguments
        {"code": "I1407", "n": 2, "after": None, "with": False},  # the directive turned: other fields
    ]
    analyses: list[int] = []
    answers: list[Any] = []
    for variables in runs:
        ahead, core, _, _, _ = _execute_both(graph, query, variables, monkeypatch)
        assert not ahead.errors and json.dumps(ahead.data) == json.dumps(core.data)
        analyses.append(sum(1 for key in lookahead._SHARED if key[0] != "args"))
        answers.append(ahead.data["occupation"])
    assert analyses[0] == analyses[1] == analyses[2] < analyses[3]
    assert answers[0]["code"] != answers[1]["code"] and "label" in answers[0]
    assert [e["cursor"] for e in answers[2]["skills"]["edges"]][:1] == ["b2Zmc2V0OjE="]
    assert len(answers[2]["skills"]["edges"]) == 3 and len(answers[1]["skills"]["edges"]) == 2
    assert "label" not in answers[3]
    # The limits are kept the same way: by the values of the variables a `first` reads.
    from api.graphql.router import _parsed
    from api.graphql.schema import schema

    document, _ = _parsed(query, True)
    costs = [limits.measure(schema._schema, document, v, None).cost for v in runs]
    assert costs[0] == costs[1] == costs[3] < costs[2]
    assert limits.measure(schema._schema, document, runs[1], None) is limits.measure(
        schema._schema, document, runs[0], None
    )


class ValuesBoundStore:
    """The embedded store seen as another back-end does: parameters bound by a ``VALUES`` block
    (:func:`kg.remote_store.bind`), not by pyoxigraph's ``substitutions``."""

    def __init__(self, store: ox.Store) -> None:
        self.store = store

    def query(self, text: str, substitutions: Any = None, **kwargs: Any) -> Any:
        from kg.remote_store import bind

        return self.store.query(bind(text, substitutions), **kwargs)


def test_filtered_page_with_fields_on_a_values_bound_back_end(graph: tuple[Settings, ox.Store]) -> None:
    """Regression (CI, remote back-end): a filtered page read with its fields on a back-end that
    binds parameters by a ``VALUES`` block holds the page of the filtered selection — the VALUES
    block, first in the outer group, used to join after the page's LIMIT and cut the page from the
    unfiltered selection (3 of 9 certifications of a certifier were lost)."""
    settings, store = graph
    props = ["https://w3id.org/passerelles/ontology#code", "http://www.w3.org/2004/02/skos/core#prefLabel"]
    certifier = _one(store, "SELECT ?c { ?s a pas:Certification ; pas:certifier/pas:code ?c } LIMIT 1")
    params = {"certifier": ox.Literal(certifier)}  # a text filter: a substitution
    embedded = QueryRunner(store, prefixes_for(settings.base_iri))
    remote = QueryRunner(ValuesBoundStore(store), prefixes_for(settings.base_iri))  # type: ignore[arg-type]
    for offset in (0, 2):
        alone = asyncio.run(embedded.page("list-certifications", params, "code", False, 3, offset))
        expected = [r["s"].value for r in alone]
        assert expected or offset
        found: dict[tuple[str, str], list[Any]] = {}
        rows = asyncio.run(
            remote.page("list-certifications", params, "code", False, 3, offset, props=props, found=found)
        )
        assert list(dict.fromkeys(r["s"].value for r in rows)) == expected


def test_page_reads_its_fields_as_lookups_would(graph: tuple[Settings, ox.Store]) -> None:
    """A page read with its fields (``QueryRunner.page`` with ``props``: one query) holds the same
    resources in the same order as the page alone, and for each of them exactly the values a
    look-up of each (resource, property) pair finds (every pair present, empty when none)."""
    settings, store = graph
    props = [
        "https://w3id.org/passerelles/ontology#code",
        "http://www.w3.org/2004/02/skos/core#prefLabel",
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
        "https://w3id.org/passerelles/ontology#europeanLevel",
        "https://w3id.org/passerelles/ontology#hasBlock",
    ]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("list-occupations", {}, "code"),
        ("list-occupations", {}, "label"),
        ("list-occupations", {"domain": ox.Literal("I")}, "code"),  # (a substitution: a bound variable)
        ("list-certifications", {}, "code"),
        ("list-certifications", {"level": ox.Literal(5)}, "label"),
        ("list-territories", {}, "code"),
    ]
    # Each property read by its own OPTIONAL (single-valued fields), or all in one UNION, or mixed.
    for (name, params, key), single in itertools.product(cases, ([], props[:2], props)):
        for offset in (0, 2):
            runner = QueryRunner(store, prefixes_for(settings.base_iri))
            alone = asyncio.run(runner.page(name, params, key, False, 4, offset))
            found: dict[tuple[str, str], list[Any]] = {}
            counted: list[int] = []  # the total read by the same query (totalCount asked)
            joined = asyncio.run(
                runner.page(
                    name,
                    params,
                    key,
                    False,
                    4,
                    offset,
                    props=props,
                    found=found,
                    alone=single,
                    counted=counted,
                )
            )
            order = list(dict.fromkeys(row["s"].value for row in alone))
            assert order or offset, (name, key)  # (a small list may have no third item)
            assert list(dict.fromkeys(row["s"].value for row in joined)) == order, (name, key)
            assert counted == ([asyncio.run(runner.count_rows(name, params))] if order else []), (name, key)
            if not order:
                continue
            looked = runner.lookup_sync(order, props)
            assert set(found) == {(s, p) for s in order for p in props}
            assert {k: sorted(map(str, v)) for k, v in found.items() if v} == {
                k: sorted(map(str, v)) for k, v in looked.items()
            }, (name, key, offset)
            assert any(found[(s, props[1])] for s in order) and any(found[(s, props[2])] for s in order)


def test_joined_level_reads_what_the_loaders_read(graph: tuple[Settings, ox.Store]) -> None:
    """One joined query (``QueryRunner.joined_sync``: a level's properties and the next hop of its
    links, the look-ahead's levels) gives, for every key the look-ahead primes from it, exactly what
    the loaders' own queries give: ``lookup_sync`` for (resource, property) pairs, ``inverse.rq`` for
    the resources pointing to a node. Parents share targets (each value is then read once), hops
    read their targets by scans and by look-ups; no IRI of a target is written in the text."""
    from api.graphql.queries import Hop

    settings, store = graph
    pas, rdf = "https://w3id.org/passerelles/ontology#", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    skos = "http://www.w3.org/2004/02/skos/core#"
    prefixes = prefixes_for(settings.base_iri)
    rows = QueryRunner(store, prefixes).run_sync("SELECT ?s { ?s a pas:Occupation }")
    occupations = sorted(row["s"].value for row in rows)
    names = ("code", "hasSkill", "professionalDomain", "romeV3Parent", "definitionSentence")
    props = [skos + "prefLabel", *(pas + name for name in names)]
    hops = [
        Hop(True, pas + "hasSkill", (rdf + "type", pas + "code", skos + "prefLabel")),
        Hop(True, pas + "professionalDomain", (rdf + "type", pas + "code", skos + "prefLabel")),
        Hop(True, pas + "definitionSentence", (rdf + "value",)),
        Hop(False, pas + "relatedOccupationV3", first=pas + "romeV3Parent", of=pas + "Certification"),
        Hop(False, pas + "appellationOf", of=pas + "Appellation"),
    ]
    for degrees in ({}, {hop.link: 1000 for hop in hops}):  # targets scanned, then looked up
        runner = QueryRunner(store, prefixes)
        runner.hop_degrees.update(degrees)
        texts: list[str] = []

        def logged(
            text: str, substitutions: Any, original: Any = runner._solutions, texts: Any = texts
        ) -> Any:
            texts.append(text)
            return original(text, substitutions)

        runner._solutions = logged  # type: ignore[method-assign]
        found, behind = runner.joined_sync(occupations, props, hops)
        scanned = f"?_r <{pas}hasSkill> ?s . ?s ?p ?o FILTER" in texts[0]
        assert len(texts) == 1 and scanned == (not degrees)
        level = runner.lookup_sync(occupations, props)

        def same(got: list[Any], want: list[Any]) -> bool:
            return sorted(map(str, got)) == sorted(map(str, want))  # (each value once: lengths too)

        assert all(same(found.get((s, p), []), level.get((s, p), [])) for s in occupations for p in props)
        shared = 0
        for hop in hops:
            via = hop.link if hop.forward else hop.first
            reached = (
                [v.value for s in occupations for v in level.get((s, via), []) if isinstance(v, ox.NamedNode)]
                if via
                else occupations
            )
            nodes = sorted(set(reached))
            shared += len(reached) - len(nodes)
            assert nodes, hop
            if hop.forward:
                want = runner.lookup_sync(nodes, hop.props)
                pairs = [(t, p) for t in nodes for p in hop.props]
                assert all(same(found.get(pair, []), want.get(pair, [])) for pair in pairs)
                assert any(want.values())
                assert not any(t in texts[0] for t in nodes if t not in occupations)  # reached by a join
                continue
            answer = runner.select_sync(
                "inverse",
                values={
                    "o": [ox.NamedNode(n) for n in nodes],
                    "p": [ox.NamedNode(hop.link)],
                    "class": [ox.NamedNode(hop.of)],
                },
            )
            want_back: dict[tuple[str, str, str], set[str]] = {}
            for row in answer:
                want_back.setdefault((row["o"].value, hop.link, hop.of), set()).add(row["s"].value)
            assert want_back
            for node in nodes:
                key = (node, hop.link, hop.of)
                assert behind.get(key, []) == sorted(want_back.get(key, ())), key
        assert shared > 0  # some targets are reached from several parents
