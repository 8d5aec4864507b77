"""The demo build end to end, and golden results for the example queries in queries/examples.

The demo sources are built once into a temporary store; each query's SPARQL JSON results
(rows sorted) must equal ``tests/golden/queries/<name>.json``; ``--update-golden`` rewrites them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from api.sparql import run_query
from kg.build import BuildResult, build
from kg.cli import DEMO_MANIFEST
from kg.config import Settings
from kg.manifest import load_manifest
from kg.namespaces import prefixes_for
from kg.store import open_store
from tests.conftest import ROOT, TEST_BASE

QUERIES = sorted((ROOT / "queries" / "examples").glob("*.rq"))
GOLDEN = ROOT / "tests" / "golden" / "queries"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, BuildResult]:
    settings = dataclasses.replace(
        Settings(), store=tmp_path_factory.mktemp("demo") / "store", base_iri=TEST_BASE
    )
    return settings, build(load_manifest(DEMO_MANIFEST), settings)


def test_demo_build_is_clean(demo: tuple[Settings, BuildResult]) -> None:
    _, result = demo
    assert result.violations == 0
    assert all(s.reconciles and s.rows_read > 0 for s in result.sources)
    assert {s.name for s in result.sources} >= {
        "rome-occupations",
        "rncp-blocs",
        "cog-communes",
        "formacode-v14",
    }


def _rows(body: bytes) -> list[dict[str, str]]:
    bindings = json.loads(body)["results"]["bindings"]
    rows = [{k: v["value"] for k, v in b.items()} for b in bindings]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


@pytest.mark.parametrize("query", QUERIES, ids=[q.stem for q in QUERIES])
def test_example_query(query: Path, demo: tuple[Settings, BuildResult], update_golden: bool) -> None:
    settings, _ = demo
    text = query.read_text(encoding="utf-8")
    # A query over data the demo does not hold yet (e.g. courses) declares the class it needs.
    for line in text.splitlines():
        if line.startswith("#+ requires:"):
            needed = line.partition(":")[2].strip()
            ask_query = f"ASK {{ ?x a {needed} }}"
            _, ask = run_query(open_store(settings.store), ask_query, 1, prefixes_for(TEST_BASE))
            if not json.loads(ask)["boolean"]:
                pytest.skip(f"the demo graph has no {needed} yet: {query.name} returns nothing there")
    _, body = run_query(
        open_store(settings.store), text, 1000, prefixes_for(settings.base_iri)
    )
    rows = _rows(body)
    if "sources-and-licences" in query.stem:  # build-specific figures: check the shape only
        assert rows and all(
            int(r["read"]) == int(r["loaded"]) + int(r["quarantined"]) + int(r["skipped"]) for r in rows
        )
        return
    golden = GOLDEN / f"{query.stem}.json"
    if update_golden:
        golden.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run pytest --update-golden and review it"
    assert rows, "an example query must return rows on the demo graph"
    assert rows == json.loads(golden.read_text(encoding="utf-8"))
