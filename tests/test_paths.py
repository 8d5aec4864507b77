"""Guidance paths (kg.paths, queries/reports/path-*.rq, ``kg paths``) on a hand-built graph.

The fixture (tests/fixtures/paths/graph.ttl) says in its header which path is best, which body
has no disability referent, which certification is open to VAE and which blocs a person coming
from I1309 needs; the expectations below follow from it.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyoxigraph as ox
import pytest
from typer.testing import CliRunner

from kg.cli import app
from kg.paths import GuidanceError, great_circle_km, guidance, resolve_commune
from kg.paths_report import RENDERERS
from kg.store import StoreLayout
from tests.conftest import ROOT, TEST_BASE

FIXTURE = ROOT / "tests" / "fixtures" / "paths" / "graph.ttl"
JAN_2026 = date(2026, 1, 1)


@pytest.fixture(scope="module")
def store() -> ox.Store:
    graph = ox.Store()
    graph.load(path=FIXTURE, format=ox.RdfFormat.TURTLE)
    return graph


def _sessions(answer: object) -> list[str]:
    return [p.session.rsplit("/", 1)[1] for p in answer.paths]  # type: ignore[attr-defined]


def test_best_path_covers_every_missing_skill(store: ox.Store) -> None:
    answer = guidance(store, TEST_BASE, "I1321", near="76351", radius_km=100, starts_after=JAN_2026)
    assert [s.code for s in answer.missing] == ["1", "2", "3", "4"]  # core skills only
    assert _sessions(answer) == ["S1", "S2", "S3"]  # S4 too far, S5 too early, S6 replaced certification
    best = answer.paths[0]
    assert (best.certification_code, best.partial, best.covered) == ("RNCP100", False, ["1", "2", "3", "4"])
    assert best.explanation_en.startswith("covers 4 of 4 missing skills (whole certification RNCP100); 72 km")
    assert "référent handicap" in best.explanation_fr


def test_from_occupation_needs_two_blocs_and_prefers_them(store: ox.Store) -> None:
    answer = guidance(
        store, TEST_BASE, "I1321", near="76351", radius_km=100, from_="I1309", starts_after=JAN_2026
    )
    assert [s.code for s in answer.missing] == ["3", "4"]
    assert answer.mobility
    first = answer.paths[0]
    assert first.partial and [b.code for b in first.blocs] == ["RNCP100BC02", "RNCP100BC03"]
    assert first.covered == ["3", "4"]
    assert _sessions(answer)[-1] == "S1"  # the whole certification comes after bloc-level paths


def test_owned_skill_codes_count_like_a_current_occupation(store: ox.Store) -> None:
    answer = guidance(store, TEST_BASE, "I1321", skills=["1", "2", "3"], starts_after=JAN_2026)
    assert [s.code for s in answer.missing] == ["4"]
    assert answer.near is None and "S4" in _sessions(answer)  # no commune: no distance filter


def test_accessibility_keeps_bodies_with_a_referent(store: ox.Store) -> None:
    answer = guidance(
        store, TEST_BASE, "I1321", near="76351", radius_km=100, starts_after=JAN_2026, accessibility=True
    )
    assert _sessions(answer) == ["S1", "S3"]  # S2's body has no disability referent
    assert all(p.referent and p.referent["email"] == "handicap@organisme.example" for p in answer.paths)


def test_vae_alternative(store: ox.Store) -> None:
    answer = guidance(store, TEST_BASE, "I1321", near="76351", from_="I1309", vae=True, starts_after=JAN_2026)
    assert answer.vae is not None and answer.vae.eligible
    assert [c["code"] for c in answer.vae.certifications] == ["RNCP100"]  # not the replaced RNCP50
    assert [r["label"] for r in answer.vae.relays] == [
        "Point relais VAE de Rouen"
    ]  # the person's département


@pytest.mark.parametrize("code", ["I1304", "509441"])
def test_v3_code_and_appellation_lead_to_the_v4_fiche(store: ox.Store, code: str) -> None:
    answer = guidance(store, TEST_BASE, code, starts_after=JAN_2026)
    assert [t["code"] for t in answer.targets] == ["I1321"]


@pytest.mark.parametrize("radius", [10.0, 50.0, 100.0, 400.0])
def test_every_step_exists_and_distances_are_within_the_radius(store: ox.Store, radius: float) -> None:
    answer = guidance(store, TEST_BASE, "I1321", near="76351", radius_km=radius, starts_after=JAN_2026)
    _, lat, lon, _ = resolve_commune(store, "76351", TEST_BASE)
    for path in answer.paths:
        for iri in [path.certification, path.course, path.session, path.place, *(b.iri for b in path.blocs)]:
            assert any(True for _ in store.quads_for_pattern(ox.NamedNode(iri), None, None)), iri
        assert path.distance_km is not None and path.distance_km <= radius
        assert path.start >= "2026-01-01"
    assert great_circle_km(lat, lon, lat, lon) == 0.0


def test_bad_requests_are_refused(store: ox.Store) -> None:
    for kwargs in (
        {"to": "X"},
        {"to": "I1321", "near": "Rouen"},
        {"to": "I1321", "radius_km": -1},
        {"to": "Z9999"},
        {"to": "I1321", "skills": ["1 OR 1=1"]},
        {"to": "I1321", "first": 0},
    ):
        with pytest.raises(GuidanceError):
            guidance(store, TEST_BASE, **kwargs)  # type: ignore[arg-type]


def test_cli_in_every_format(tmp_path: Path) -> None:
    layout = StoreLayout(tmp_path / "store")
    with layout.new_build() as target:
        target.store.load(path=FIXTURE, format=ox.RdfFormat.TURTLE)
    runner = CliRunner()
    env = {"PASSERELLES_BASE_IRI": TEST_BASE}
    base = [
        "paths",
        "--to",
        "I1321",
        "--near",
        "76351",
        "--radius",
        "100",
        "--starts-after",
        "2026-01-01",
        "--from",
        "I1309",
        "--vae",
        "--store",
        str(tmp_path / "store"),
    ]
    result = runner.invoke(app, [*base, "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    assert [p["session"].rsplit("/", 1)[1] for p in json.loads(result.stdout)["paths"]] == ["S2", "S3", "S1"]
    for fmt in RENDERERS:
        out = runner.invoke(app, [*base, "--format", fmt], env=env)
        assert out.exit_code == 0 and "RNCP100" in out.stdout
    bad = runner.invoke(
        app, ["paths", "--to", "I1321", "--near", "Paris", "--store", str(tmp_path / "store")], env=env
    )
    assert bad.exit_code == 1 and "near" in bad.output
