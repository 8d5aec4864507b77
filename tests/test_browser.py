"""The query page and a resource page in a real headless Chromium (Debian ``chromium``, driven by
Playwright; no browser download). Skips with the reason when chromium or playwright is absent;
CI installs chromium (.ci/run). Screenshots go to the test's tmp dir (path printed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from kg.config import Settings
from tests.conftest import on_test_backend
from tests.portal_support import make_store, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings: Settings = on_test_backend(make_store(tmp_path_factory.mktemp("browser") / "store"))
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_query_page_runs_an_example(site: str, browser: object, tmp_path: Path) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site) else external.append(r.url))
    page.goto(site + "/query")
    page.wait_for_function("document.querySelectorAll('#examples option').length > 1")
    page.select_option("#examples", "skills-of-occupation")
    assert "pas:hasSkill" in page.input_value("#query")
    page.fill("#query", page.input_value("#query").replace('"I1407"', '"I1321"'))
    page.click("#run")
    page.wait_for_selector("#result-table tbody tr")
    cells = page.locator("#result-table tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == "100038"
    # the hostile label from the data is shown as text, not run
    assert "<script>" in cells[1] and page.evaluate("window.hacked === undefined")
    assert "1 rows" in page.inner_text("#status")
    shot = tmp_path / "query-page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 1000
    assert not errors and not external  # offline: nothing fetched outside the app


def test_query_page_shows_errors(site: str, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(site + "/query")
    page.fill("#query", "SELECT WHERE {")
    page.click("#run")
    page.wait_for_selector("#status.error")
    assert "400" in page.inner_text("#status") and "malformed" in page.inner_text("#status")


def test_resource_page_renders_and_links(site: str, browser: object, tmp_path: Path) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    response = page.goto(site + "/id/rome/I1321")
    assert response is not None and response.ok and page.url.endswith("/doc/rome/I1321")
    assert page.inner_text("h1") == "Installation et maintenance télécom"
    assert page.locator("#provenance").inner_text().count("France Travail") == 1
    page.screenshot(path=str(tmp_path / "resource-page.png"), full_page=True)
    page.click("#properties a[href='/id/skill/100038']")
    page.wait_for_url("**/doc/skill/100038")
    assert "<script>" in page.inner_text("h1") and page.evaluate("window.hacked === undefined")
    page.click("#incoming a[href='/id/rome/I1321']")
    page.wait_for_url("**/doc/rome/I1321")
