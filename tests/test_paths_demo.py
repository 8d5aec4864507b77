"""Guidance paths on the demo graph (``kg build`` with no option): the adviser's examples of the
documentation give real paths, and the three interfaces — ``kg paths --format json``, the step
queries published at ``/queries/path-…`` and GraphQL ``paths`` — give the same ranked paths.

What the demo holds for I1321 (offshore wind maintenance technician): 7 core skills; the blocs of
the wind BTS (RNCP36968) cover 4 of them, those of the hydrogen MC (RNCP36334) 2; the BTS has a
session at the Institut des Énergies Marines' Le Havre site (body with a disability referent), the
MC two at the Campus Hydrogène of Le Havre (no referent); the TP RNCP35178 is replaced
(RNCP41534) and its Cherbourg sessions are not proposed. A person coming from I1304 already has
3 of the 7.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from kg.build import build
from kg.cli import DEMO_MANIFEST, app
from kg.config import Settings
from kg.manifest import load_manifest
from kg.paths import DEFAULT_THRESHOLD, box, great_circle_km, guidance, resolve_commune
from kg.store import open_store
from tests.conftest import TEST_BASE

ID = TEST_BASE + "id/"
START = "2026-01-01"
JSON = "application/sparql-results+json"
# The README's adviser examples (docs/guides/guidance-paths.md).
NEAR_LE_HAVRE = ["--to", "I1321", "--near", "76351", "--radius", "50", "--starts-after", START]
FROM_I1304 = [*NEAR_LE_HAVRE, "--from", "I1304", "--vae"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    built = dataclasses.replace(
        Settings(), store=tmp_path_factory.mktemp("paths-demo") / "store", base_iri=TEST_BASE
    )
    build(load_manifest(DEMO_MANIFEST), built)
    return built


@pytest.fixture(scope="module")
def store(settings: Settings) -> ox.Store:
    return open_store(settings.store)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def cli_json(settings: Settings, *args: str) -> dict[str, Any]:
    env = {"PASSERELLES_BASE_IRI": TEST_BASE}
    result = CliRunner().invoke(
        app, ["paths", *args, "--format", "json", "--store", str(settings.store)], env=env
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def tail(iri: str) -> str:
    return iri.rsplit("/", 1)[1]


# --- the adviser's examples ----------------------------------------------------------------------


def test_wind_technician_near_le_havre(settings: Settings) -> None:
    answer = cli_json(settings, *NEAR_LE_HAVRE)
    assert [s["code"] for s in answer["missing"]] == [
        "106696", "124739", "300448", "300527", "300565", "402099", "484379"
    ]  # fmt: skip
    paths = [(tail(p["session"]), p["certification_code"], p["covered"]) for p in answer["paths"]]
    assert paths == [
        ("LHEO-DEMO-S30", "RNCP36968", ["124739", "300527", "300565", "484379"]),
        ("LHEO-DEMO-S11", "RNCP36334", ["300565", "402099"]),
        ("LHEO-DEMO-S12", "RNCP36334", ["300565", "402099"]),
    ]
    best = answer["paths"][0]
    assert best["explanation_en"] == (
        "covers 4 of 7 missing skills (whole certification RNCP36968); 2 km (Le Havre); "
        "starts 6 September 2027; 3150 h; body has a disability referent"
    )
    assert best["explanation_fr"].startswith("couvre 4 des 7 compétences manquantes")
    assert best["body_label"] == "Institut des Énergies Marines du Cotentin"
    assert best["referent"]["email"] == "accessibilite@energies-marines-cotentin.example"


def test_accessibility_excludes_the_body_without_a_referent(settings: Settings) -> None:
    answer = cli_json(settings, *NEAR_LE_HAVRE, "--accessibility")
    assert [tail(p["session"]) for p in answer["paths"]] == ["LHEO-DEMO-S30"]  # not the Campus Hydrogène


def test_from_i1304_with_vae(settings: Settings) -> None:
    answer = cli_json(settings, *FROM_I1304)
    assert [s["code"] for s in answer["missing"]] == ["106696", "300527", "300565", "484379"]
    assert answer["mobility"] and answer["same_v3"]
    best = answer["paths"][0]
    assert (best["certification_code"], best["covered"]) == ("RNCP36968", ["300527", "300565", "484379"])
    assert [b["code"] for b in best["blocs"]] == ["RNCP36968BC02", "RNCP36968BC05"]
    assert answer["vae"]["eligible"]
    assert [c["code"] for c in answer["vae"]["certifications"]] == ["RNCP36968"]  # not the replaced TP
    assert [r["label"] for r in answer["vae"]["relays"]] == ["Point Relais Conseil VAE de Rouen"]


def test_the_replaced_certification_is_not_proposed(store: ox.Store) -> None:
    answer = guidance(store, TEST_BASE, "I1321", near="50129", radius_km=30, starts_after=date(2026, 1, 1))
    # Cherbourg: the wind BTS and the hydrogen MC's Cherbourg action, not the wind TP's sessions.
    assert {p.certification_code for p in answer.paths} == {"RNCP36968", "RNCP36334"}
    assert "LHEO-DEMO-S07" not in {tail(p.session) for p in answer.paths}  # a session of RNCP35178


# --- the three interfaces agree ------------------------------------------------------------------


def _rows(client: TestClient, name: str, **params: object) -> list[dict[str, str]]:
    response = client.get(f"/queries/{name}", params=params, headers={"accept": JSON})
    assert response.status_code == 200, response.text
    return [{k: v["value"] for k, v in b.items()} for b in response.json()["results"]["bindings"]]


def _from_step_queries(client: TestClient, commune: str, radius: float) -> list[tuple[str, str, list[str]]]:
    """The ranked paths assembled from the published step queries alone (the ranking rules of
    kg.paths, written out again): (session, certification, covered skill codes)."""
    fiche = {"fiche": f"{ID}rome/I1321", "v3": f"{ID}rome-v3/I1321", "appellation": f"{ID}appellation/I1321"}
    occupation = _rows(client, "path-target-occupations", **fiche)[0]["occupation"]
    mine = {"fiche": f"{ID}rome/I1304", "v3": f"{ID}rome-v3/I1304", "appellation": f"{ID}appellation/I1304"}
    origins = {r["occupation"] for r in _rows(client, "path-target-occupations", **mine)}
    origin = f"{ID}rome/I1304" if f"{ID}rome/I1304" in origins else sorted(origins)[0]
    needed = [r for r in _rows(client, "path-skills", occupation=occupation) if r["core"] == "true"]
    owned = {r["skill"] for r in _rows(client, "path-skills", occupation=origin)}
    missing = {r["skill"]: r["code"] for r in needed if r["skill"] not in owned}
    covers: dict[str, set[str]] = {}
    for r in _rows(client, "path-covering-blocs", occupation=occupation, threshold=DEFAULT_THRESHOLD):
        if r["skill"] in missing:
            covers.setdefault(r["certification"], set()).add(missing[r["skill"]])
    coords = client.get(
        "/sparql",
        params={
            "query": f"SELECT ?lat ?lon WHERE {{ <{ID}commune/{commune}> "
            "<https://schema.org/latitude> ?lat ; <https://schema.org/longitude> ?lon }"
        },
        headers={"accept": JSON},
    ).json()["results"]["bindings"][0]
    lat, lon = float(coords["lat"]["value"]), float(coords["lon"]["value"])
    south, north, west, east = box(lat, lon, radius)
    found = {}
    for r in _rows(
        client, "path-sessions-near", occupation=occupation, threshold=DEFAULT_THRESHOLD,
        startsAfter=START, south=south, north=north, west=west, east=east,
    ):  # fmt: skip
        distance = round(great_circle_km(lat, lon, float(r["lat"]), float(r["lon"])), 1)
        if distance <= radius and r["certification"] in covers and "bloc" not in r:
            key = (r["session"], r["certification"])
            found[key] = (-len(covers[r["certification"]]), distance, r["start"][:10], r["session"])
    ranked = sorted(found, key=lambda k: found[k])
    return [(s, c, sorted(covers[c])) for s, c in ranked]


def test_cli_stored_queries_and_graphql_agree(settings: Settings, client: TestClient) -> None:
    cli = cli_json(settings, *FROM_I1304)
    from_cli = [(p["session"], p["certification"], p["covered"]) for p in cli["paths"]]
    from_queries = _from_step_queries(client, "76351", 50.0)
    response = client.post(
        "/graphql",
        json={
            "query": """query ($to: String!, $from: String, $near: ID) {
              paths(to: $to, from: $from, near: $near, radiusKm: 50, startsAfter: "2026-01-01", vae: true) {
                missing { code }
                paths { rank session { id code } certification { id code } covered { code }
                        blocks { code block { id } covers { code } } explanation(lang: EN) }
                vae { eligible certifications { code } relays { label } } } }""",
            "variables": {"to": "I1321", "from": "I1304", "near": "76351"},
        },
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    gql = body["data"]["paths"]
    from_graphql = [(p["session"]["id"], p["certification"]["id"], [s["code"] for s in p["covered"]])
                    for p in gql["paths"]]  # fmt: skip
    assert from_cli == from_queries == from_graphql
    assert len(from_cli) == 3  # a real answer, not three empty ones
    assert [p["rank"] for p in gql["paths"]] == [1, 2, 3]
    assert [s["code"] for s in gql["missing"]] == [s["code"] for s in cli["missing"]]
    assert [p["explanation"] for p in gql["paths"]] == [p["explanation_en"] for p in cli["paths"]]
    assert [[b["code"] for b in p["blocks"]] for p in gql["paths"]] == [
        [b["code"] for b in p["blocs"]] for p in cli["paths"]
    ]
    assert [c["code"] for c in gql["vae"]["certifications"]] == [
        c["code"] for c in cli["vae"]["certifications"]
    ]


def test_graphql_typed_steps_and_errors(client: TestClient) -> None:
    query = """{ paths(to: "509441", near: "76351", startsAfter: "2026-01-01", accessibility: true) {
        targets { code } near { code }
        paths { course { code label } place { code } commune { code } body { code label }
                disabilityReferent { email referent { id } } distanceKm startDate
                certification { code label level } } } }"""
    data = client.post("/graphql", json={"query": query}).json()
    assert "errors" not in data, data
    answer = data["data"]["paths"]
    assert answer["targets"] == [{"code": "I1321"}]  # an appellation code leads to its fiche
    (path,) = answer["paths"]
    assert path["course"]["code"] == "LHEO-DEMO-A18" and path["commune"] == {"code": "76351"}
    assert path["body"]["code"] == "79134820400011" and path["disabilityReferent"]["referent"]["id"]
    assert path["certification"]["code"] == "RNCP36968" and path["distanceKm"] == 1.9
    for args, code in (
        ('to: "Z9999"', "BAD_USER_INPUT"),
        ('to: "I1321", near: "99999"', "BAD_USER_INPUT"),
        ('to: "I1321", skills: ["1 OR 1=1"]', "BAD_USER_INPUT"),
        ('to: "I1321", first: 101', "LIMIT_EXCEEDED"),
    ):
        errors = client.post("/graphql", json={"query": f"{{ paths({args}) {{ to }} }}"}).json()["errors"]
        assert errors[0]["extensions"]["code"] == code, (args, errors)


def test_cli_text_and_html_show_the_paths(settings: Settings, tmp_path: Path) -> None:
    env = {"PASSERELLES_BASE_IRI": TEST_BASE}
    for fmt, needle in (("text", "1. BTS maintenance des systèmes"), ("html", "<ol><li><strong>1. BTS")):
        out = CliRunner().invoke(
            app, ["paths", *FROM_I1304, "--format", fmt, "--store", str(settings.store)], env=env
        )
        assert out.exit_code == 0 and needle in out.stdout, out.output


@pytest.mark.parametrize("radius", [30.0, 120.0])
@pytest.mark.parametrize("fiche", ["I1321", "F1703", "H2710", "N1303", "I1407"])
def test_every_step_of_a_demo_path_exists_within_the_radius(
    store: ox.Store, fiche: str, radius: float
) -> None:
    for commune in ("76351", "50129", "14118", "27229"):
        answer = guidance(
            store, TEST_BASE, fiche, near=commune, radius_km=radius, starts_after=date(2026, 1, 1)
        )
        _, lat, lon, _ = resolve_commune(store, commune, TEST_BASE)
        for path in answer.paths:
            steps = [path.certification, path.course, path.session, path.place, *(b.iri for b in path.blocs)]
            for iri in steps + ([path.body] if path.body else []):
                assert any(True for _ in store.quads_for_pattern(ox.NamedNode(iri), None, None)), iri
            assert path.distance_km is not None and path.distance_km <= radius
            assert abs(great_circle_km(lat, lon, *_coordinates(store, path.place)) - path.distance_km) < 0.1
            assert path.start >= "2026-01-01" and set(path.covered) <= {s.code for s in answer.missing}


def _coordinates(store: ox.Store, place: str) -> tuple[float, float]:
    """A place's coordinates, or its commune's (read here without the stored queries)."""
    solutions = store.query(
        "SELECT ?p ?lat ?lon WHERE {"
        " { ?p <https://schema.org/latitude> ?lat ; <https://schema.org/longitude> ?lon }"
        " UNION { ?p <https://w3id.org/passerelles/ontology#commune> ?c . FILTER NOT EXISTS"
        " { ?p <https://schema.org/latitude> ?x } ?c <https://schema.org/latitude> ?lat ;"
        " <https://schema.org/longitude> ?lon } }",
        substitutions={ox.Variable("p"): ox.NamedNode(place)},
    )
    assert isinstance(solutions, ox.QuerySolutions)
    for row in solutions:
        return float(row["lat"].value), float(row["lon"].value)
    raise AssertionError(f"{place} has no coordinates")
