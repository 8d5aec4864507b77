"""The four interfaces of the certifier's report give the same gaps on the same graph: ``kg gaps
--format json`` (CLI), the stored query ``/queries/skill-gaps`` (HTTP), the same query text sent
to ``/sparql`` with its parameters written in, and GraphQL ``skillGaps``.

The graph is the hand-built fixture of tests/test_gaps.py (its gaps are known), built into a
store with the links the build derives.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from kg.cli import app as cli
from kg.config import Settings
from kg.queries import named_query, to_ox
from kg.store import StoreLayout
from tests.conftest import TEST_BASE
from tests.test_gaps import load_fixture

TRADE = f"{TEST_BASE}id/trade/t"
Gap = tuple[str, float, float | None]  # skill IRI, demand, best bloc score


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gaps-interfaces") / "store"
    with StoreLayout(path).new_build() as target:
        load_fixture(target.store)
    return path


@pytest.fixture(scope="module")
def client(store_dir: Path) -> Iterator[TestClient]:
    settings = dataclasses.replace(Settings(), store=store_dir, base_iri=TEST_BASE)
    with TestClient(create_app(settings)) as client:
        yield client


def _number(binding: dict[str, str] | None) -> float | None:
    return None if binding is None else float(binding["value"])


def _from_bindings(body: dict[str, object]) -> list[Gap]:
    rows = body["results"]["bindings"]  # type: ignore[index]
    return [
        (r["skill"]["value"], float(r["demand"]["value"]), _number(r.get("score")))
        for r in rows
        if r["gap"]["value"] == "true"
    ]


def inline(text: str, values: dict[str, str]) -> str:
    """The stored query with its parameters written in, as a SPARQL client without pyoxigraph's
    substitutions would send it: ``?p`` becomes the term, ``(term AS ?p)`` in the outer projection;
    a constant leaves the sub-SELECTs' projections and GROUP BY (grouping by it changes nothing)."""
    terms = named_query("reports/skill-gaps").bind(values, TEST_BASE)
    sparql = {
        name: f"<{value}>" if kind == "iri" else f'"{value}"^^<{datatype}>'
        for name, (kind, value, datatype) in terms.items()
    }
    names = "|".join(sparql)

    def projection(match: re.Match[str]) -> str:
        if match.start() > 0:  # a sub-SELECT: the constant needs no projection there
            return re.sub(rf"\s*\?({names})\b", "", match[0])
        return re.sub(rf"\?({names})\b", lambda m: f"({sparql[m[1]]} AS ?{m[1]})", match[0])

    def group(match: re.Match[str]) -> str:
        rest = re.sub(rf"\s*\?({names})\b", "", match[1])
        return f"GROUP BY{rest}" if rest.strip() else ""

    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    body = re.sub(r"SELECT\b.*?\bWHERE\b", projection, body, flags=re.DOTALL)
    body = re.sub(r"GROUP BY((?:\s+\?\w+)+)", group, body)
    return re.sub(rf"(?<!AS )\?({names})\b", lambda m: sparql[m[1]], body)


def test_cli_http_sparql_and_graphql_give_the_same_gaps(store_dir: Path, client: TestClient) -> None:
    params = {"trade": TRADE, "territory": f"{TEST_BASE}id/region/28"}

    result = CliRunner().invoke(
        cli,
        ["gaps", "--trade", "t", "--territory", "28", "--store", str(store_dir), "--format", "json"],
        env={"PASSERELLES_BASE_IRI": TEST_BASE},
    )
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)["trades"]
    from_cli = [(g["skill"], g["demand"], g["score"]) for g in report["gaps"]]

    json_results = {"accept": "application/sparql-results+json"}
    response = client.get("/queries/skill-gaps", params=params, headers=json_results)
    assert response.status_code == 200, response.text
    from_http = _from_bindings(response.json())

    text = inline(named_query("reports/skill-gaps").text, params)
    response = client.post("/sparql", data={"query": text}, headers=json_results)
    assert response.status_code == 200, response.text
    from_sparql = _from_bindings(response.json())

    response = client.post(
        "/graphql",
        json={
            "query": 'query($t: ID!) { skillGaps(trade: $t, territory: "28", first: 100) '
            "{ offers gaps { skill { id } demand score } } }",
            "variables": {"t": TRADE},
        },
        headers={"accept": "application/graphql-response+json"},
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    from_graphql = [(g["skill"]["id"], g["demand"], g["score"]) for g in body["data"]["skillGaps"]["gaps"]]

    # The fixture's known answer in Normandy (o6 is in Eure-et-Loir): see tests/test_gaps.py.
    assert [(s.rsplit("/", 1)[1], round(d, 4)) for s, d, _ in from_cli] == [
        ("2", 0.45),
        ("4", 0.225),
        ("3", 0.15),
    ]
    for other in (from_http, from_sparql, from_graphql):
        assert [s for s, _, _ in other] == [s for s, _, _ in from_cli]
        for (_, demand, score), (_, demand_cli, score_cli) in zip(other, from_cli, strict=True):
            assert demand == pytest.approx(demand_cli, abs=1e-4)
            assert (score is None and score_cli is None) or score == pytest.approx(score_cli, abs=1e-6)
    assert body["data"]["skillGaps"]["offers"] == report["offers"] == 4


def test_inlined_query_is_the_stored_query(store_dir: Path) -> None:
    """The /sparql text above is the stored query, not a second one: on the store, both give the
    same rows."""
    params = {"trade": TRADE}
    store = ox.Store.read_only(str(StoreLayout(store_dir).current()))
    from kg.namespaces import sparql_prologue

    bound = named_query("reports/skill-gaps").bind(params, TEST_BASE)
    assert {k: to_ox(v) for k, v in bound.items()}  # every parameter has a term
    solutions = store.query(
        sparql_prologue(TEST_BASE) + inline(named_query("reports/skill-gaps").text, params)
    )
    inlined = [(s["skill"].value, s["gap"].value) for s in solutions]  # type: ignore[union-attr]
    stored = [
        (r["skill"].value, r["gap"].value)
        for r in named_query("reports/skill-gaps").run(store, params, TEST_BASE)
    ]
    assert inlined == stored and len(stored) == 4


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ('trade: "unknown-trade"', "BAD_USER_INPUT"),
        ('trade: "Not A Slug"', "BAD_USER_INPUT"),
        ('occupations: ["F17"]', "BAD_USER_INPUT"),
        ('trade: "t", occupations: ["F1703"]', "BAD_USER_INPUT"),
        ('trade: "t", territory: "planet:earth"', "BAD_USER_INPUT"),
        ('trade: "t", minShare: 2', "BAD_USER_INPUT"),
        ('trade: "t", first: 101', "LIMIT_EXCEEDED"),
        ('trade: "t", first: 0', "LIMIT_EXCEEDED"),
    ],
)
def test_graphql_refuses_bad_arguments_with_a_code(client: TestClient, arguments: str, code: str) -> None:
    response = client.post(
        "/graphql",
        json={"query": f"{{ skillGaps({arguments}) {{ offers }} }}"},
        headers={"accept": "application/graphql-response+json"},
    )
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == code, errors


def test_graphql_fiche_scope_evidence_and_target_trades(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        json={
            "query": '{ fiche: skillGaps(occupations: ["F1703"]) { offers gaps { code } }'
            ' trade: skillGaps(trade: "t", first: 1) { label gaps { code label'
            " evidence { offerCode source text } bloc { id } }"
            " uncoveredCore { code occupation { code } } emerging { code share } }"
            " targetTrades { nodes { code occupations { nodes { code } } appellations { nodes { code } }"
            " offers { totalCount } certifications { nodes { code } } } } }"
        },
        headers={"accept": "application/graphql-response+json"},
    )
    body = response.json()
    assert "errors" not in body, body
    data = body["data"]
    assert data["fiche"]["offers"] == 4 and "4" not in [g["code"] for g in data["fiche"]["gaps"]]
    [gap] = data["trade"]["gaps"]
    assert gap["code"] == "2" and gap["bloc"]["id"].endswith("/RNCP2BC02")
    assert [(e["offerCode"], e["source"], e["text"]) for e in gap["evidence"]] == [
        ("0000001", "extracted", "lecture de plans"),
        ("0000003", "recruiter-required", None),
    ]
    assert data["trade"]["uncoveredCore"] == [{"code": "3", "occupation": {"code": "F1703"}}]
    assert data["trade"]["emerging"] == [{"code": "beton-de-chanvre", "share": 0.4}]
    [trade] = data["targetTrades"]["nodes"]
    assert trade["appellations"]["nodes"] == [{"code": "11111"}]
    assert trade["offers"]["totalCount"] == 5
    assert trade["certifications"]["nodes"] == [{"code": "RNCP2"}]  # RNCP1 stands for its successor
