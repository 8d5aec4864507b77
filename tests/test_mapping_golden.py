"""Golden tests for every mapping: input rows → expected triples, compared as graphs.

Each case is a folder ``tests/golden/mappings/<case>/`` holding ``case.toml``
(``mapping = "rome-occupations.rq"``, ``input = "input.csv"``, optional ``[options]``) and
``expected.ttl``. ``pytest --update-golden`` rewrites ``expected.ttl`` from the current code
(review the diff before committing).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.compare import graph_diff, isomorphic, to_isomorphic

from kg.mapping import map_file
from kg.namespaces import prefixes_for
from tests.conftest import ROOT, TEST_BASE

CASES = sorted(p for p in (ROOT / "tests" / "golden" / "mappings").glob("*") if (p / "case.toml").is_file())


def _graph_of(triples: list[str]) -> Graph:
    graph = Graph()
    for prefix, iri in prefixes_for(TEST_BASE).items():
        graph.bind(prefix, iri)
    graph.parse(data="\n".join(t + " ." for t in triples), format="nt")
    return graph


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_mapping_golden(case: Path, update_golden: bool) -> None:
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    triples = [
        str(t)
        for t in map_file(
            ROOT / "mappings" / spec["mapping"], case / spec["input"], TEST_BASE, spec.get("options")
        )
    ]
    actual = _graph_of(triples)
    expected_path = case / "expected.ttl"
    if update_golden:
        expected_path.write_text(actual.serialize(format="turtle"), encoding="utf-8")
    if not expected_path.exists():
        pytest.fail(
            f"{expected_path} is missing: write it by hand or run pytest --update-golden and review it"
        )
    expected = Graph().parse(expected_path, format="turtle")
    if not isomorphic(actual, expected):
        _, only_actual, only_expected = graph_diff(to_isomorphic(actual), to_isomorphic(expected))
        pytest.fail(
            "mapping output differs from expected.ttl\n"
            f"only in output:\n{only_actual.serialize(format='nt')}\n"
            f"only in expected:\n{only_expected.serialize(format='nt')}"
        )
