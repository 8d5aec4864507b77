"""Nothing lost, black box: a mapping that drops records without a skip rule does not lose them
silently — ``kg build`` quarantines them, the report reconciles every source (read = loaded +
quarantined + skipped), and every quarantined record or entity is queryable in its source's
quarantine graph with the rule it broke. A file that breaks half-way loads nothing.

(That ``reconcile`` fails the build when the counts disagree is tested in ``test_build.py``.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.store import REPORT_FILE, StoreLayout, open_store
from tests.conftest import ROOT
from tests.test_faults import Served, _build, _leftovers, copy_fixture

FIXTURE = ROOT / "tests" / "fixtures" / "build"
PREFIXES = """PREFIX pas: <https://w3id.org/passerelles/ontology#>
PREFIX sh: <http://www.w3.org/ns/shacl#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""
QUARANTINE = "https://w3id.org/passerelles/graph/quarantine/mini-occupations/t1"


def _select(store: ox.Store, query: str) -> list[dict[str, str]]:
    result = store.query(PREFIXES + query)
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    return [{n: s[n].value for n in names if s[n] is not None} for s in result]


def _report(store_root: Path) -> dict[str, dict[str, int]]:
    current = StoreLayout(store_root).current()
    assert current is not None
    saved = json.loads((current / REPORT_FILE).read_text(encoding="utf-8"))
    return {s["name"]: s for s in saved["sources"]}


@pytest.fixture(scope="module")
def dropping_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The build fixture twice: as is, and with a mapping that silently filters out I1407."""
    folder = tmp_path_factory.mktemp("lost")
    plain, dropping = folder / "plain", folder / "dropping"
    copy_fixture(plain)
    copy_fixture(dropping)
    mapping = dropping / "mappings" / "mini-occupations.rq"
    text = mapping.read_text(encoding="utf-8")
    assert text.rstrip().endswith("}")
    mapping.write_text(text.rstrip()[:-1] + '  FILTER(?code != "I1407")\n}\n', encoding="utf-8")
    for case in (plain, dropping):
        done = _build(case / "sources.toml", case / "store")
        assert done.returncode == 0, done.stdout + done.stderr
    return plain / "store", dropping / "store"


def test_dropped_record_is_quarantined_not_lost(dropping_build: tuple[Path, Path]) -> None:
    plain, dropping = (_report(s)["mini-occupations"] for s in dropping_build)
    for report in (*_report(dropping_build[0]).values(), *_report(dropping_build[1]).values()):
        assert (
            report["rows_read"] == report["rows_loaded"] + report["rows_quarantined"] + report["rows_skipped"]
        )
    assert dropping["rows_read"] == plain["rows_read"]
    assert dropping["rows_loaded"] == plain["rows_loaded"] - 1
    assert dropping["rows_quarantined"] == plain["rows_quarantined"] + 1
    store = open_store(dropping_build[1])
    records = _select(
        store,
        f"""SELECT ?row ?json ?why WHERE {{ GRAPH <{QUARANTINE}> {{
            ?r a pas:QuarantinedRecord ; pas:sourceRow ?row ; pas:recordJson ?json ; rdfs:comment ?why .
            FILTER(LANG(?why) = "en") }} }}""",
    )
    dropped = [r for r in records if json.loads(r["json"]).get("code") == "I1407"]
    assert len(dropped) == 1 and dropped[0]["row"] == "3", records  # line 3 of occupations.csv
    assert "No entity produced" in dropped[0]["why"]
    assert not _select(store, 'SELECT ?e WHERE { ?e pas:code "I1407" }')  # not published


def test_quarantined_entities_carry_the_rule_they_broke(dropping_build: tuple[Path, Path]) -> None:
    store = open_store(dropping_build[0])
    rows = _select(
        store,
        f"""SELECT ?entity ?shape ?component ?message WHERE {{ GRAPH <{QUARANTINE}> {{
            <{QUARANTINE}> pas:quarantinedEntity ?entity .
            ?result a sh:ValidationResult ; sh:focusNode ?entity ; sh:sourceShape ?shape ;
                    sh:sourceConstraintComponent ?component ; sh:resultMessage ?message .
            FILTER(LANG(?message) = "en") }} }}""",
    )
    assert rows, "no quarantined entity with its validation result"
    report = _report(dropping_build[0])["mini-occupations"]
    assert {r["entity"] for r in rows} and report["quarantined_entities"] == len({r["entity"] for r in rows})
    assert all(r["message"] and r["component"].startswith("http://www.w3.org/ns/shacl#") for r in rows)


def test_file_broken_half_way_loads_nothing(dropping_build: tuple[Path, Path], tmp_path: Path) -> None:
    """Rows 1–2999 are fine, row 3000 is malformed: no part of the file reaches the served graph."""
    folder = tmp_path / "case"
    copy_fixture(folder)
    store = tmp_path / "store"
    shutil.copytree(dropping_build[0], store, symlinks=True)  # serving the plain fixture's build
    before = Served.read(store)
    lines = ["code;label;parent"] + [f"B{1000 + i:04d};Métier {i};B1000" for i in range(2998)]
    lines.append('C1000;"guillemet jamais fermé;C1000')
    (folder / "data" / "occupations.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _build(folder / "sources.toml", store)
    assert result.returncode == 1
    last = (result.stdout + result.stderr).strip().splitlines()[-1]
    assert last.startswith("error:") and "occupations.csv, line 3000" in last, result.stdout
    assert Served.read(store) == before
    assert not _select(open_store(store), 'SELECT ?e WHERE { ?e pas:code "B1000" }')
    assert not _leftovers(store)
