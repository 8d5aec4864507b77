"""The HTML gap report (``kg gaps --all --format html``) in a real headless Chromium (Debian
``chromium`` driven by Playwright, as tests/test_browser.py): it renders from a local file with
no request elsewhere, has a demand-vs-coverage bar chart per trade, links each gap to its
evidence, and shows an offer's hostile text as text. The screenshot goes to the test's tmp dir
(path printed). Skips with the reason when chromium or playwright is absent."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
from typer.testing import CliRunner

from kg.cli import app
from kg.store import StoreLayout
from tests.conftest import TEST_BASE

# the module-scoped Chromium fixture of the portal's browser tests (importing it also applies their skips)
from tests.test_browser import browser  # noqa: F401
from tests.test_gaps import load_fixture

# An extracted span of offer 0000001 that is markup: it must stay inert text in the report.
HOSTILE = '<script>window.hacked = 1</script><img src=x onerror="window.hacked = 2">'


def test_html_report_in_chromium(browser: object, tmp_path: Path) -> None:  # noqa: F811 (imported fixture)
    layout = StoreLayout(tmp_path / "store")
    with layout.new_build() as target:
        load_fixture(target.store)
        mention = ox.NamedNode(f"{TEST_BASE}id/mention/hostile")
        pas = "https://w3id.org/passerelles/ontology#"
        for p, o in [
            ("mentionIn", ox.NamedNode(f"{TEST_BASE}id/offer/0000001")),
            ("mentionedSkill", ox.NamedNode(f"{TEST_BASE}id/competence/2")),
            (
                "confidence",
                ox.Literal("0.1", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#decimal")),
            ),
            ("evidenceText", ox.Literal(HOSTILE)),
            (
                "startOffset",
                ox.Literal("90", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")),
            ),
            (
                "endOffset",
                ox.Literal("99", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")),
            ),
        ]:
            target.store.add(ox.Quad(mention, ox.NamedNode(pas + p), o))
    report = tmp_path / "gaps.html"
    result = CliRunner().invoke(
        app,
        ["gaps", "--all", "--format", "html", "--output", str(report), "--store", str(tmp_path / "store")],
        env={"PASSERELLES_BASE_IRI": TEST_BASE},
    )
    assert result.exit_code == 0, result.output

    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())

    # One chart for the one trade: a demand bar and a coverage bar per demanded skill.
    assert page.locator("section svg.chart").count() == 1
    assert page.locator("svg.chart rect.demand").count() == 4
    assert page.locator("svg.chart rect.coverage").count() == 4
    assert page.locator("svg.chart rect.demand.gap").count() == 3  # skills 2, 3, 4
    widths = page.eval_on_selector_all("svg.chart rect.demand", "rs => rs.map(r => r.getBBox().width)")
    assert widths == sorted(widths, reverse=True) and widths[0] > 0  # ranked by demand

    # Each gap links to its evidence; following the link lands on it.
    link = page.locator("table tbody tr").first.locator("a")
    assert link.inner_text() == "Lire un plan"
    link.click()
    assert page.evaluate("location.hash") == "#t-2"
    evidence = page.locator("details#t-2")
    evidence.locator("summary").click()
    items = evidence.locator("li").all_inner_texts()
    assert any("lecture de plans" in i for i in items)
    # the hostile span is shown as text, not run
    assert any("<script>" in i for i in items) and page.evaluate("window.hacked === undefined")

    shot = tmp_path / "gaps-report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 1000
    assert not errors
    assert requests == [report.as_uri()]  # offline: the page fetched nothing but itself
