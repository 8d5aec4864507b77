"""Each shape accepts a good record and rejects each kind of bad one.

Fixtures live in ``tests/golden/shapes/<Class>/``: ``good-*.ttl`` must raise no violation;
``bad-*.ttl`` start with one or more ``#+ expect: <path> <Component>`` lines (``pas:code
PatternConstraintComponent``; ``-`` for no path) and must raise exactly those violations
(as a set, on any focus node). Validation uses pySHACL, the reference validator, against all
of ``shapes/``; the fixture must contain whatever its record links to.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import Graph, URIRef
from rdflib.namespace import RDF, SH

from kg.namespaces import PREFIXES
from tests.conftest import ROOT

FIXTURES = sorted((ROOT / "tests" / "golden" / "shapes").glob("*/*.ttl"))


@cache
def shapes_graph() -> Graph:
    graph = Graph()
    for path in sorted((ROOT / "shapes").glob("*.ttl")):
        graph.parse(path, format="turtle")
    return graph


def _curie(node: object) -> str:
    if node is None:
        return "-"
    text = str(node)
    for prefix, iri in PREFIXES.items():
        if text.startswith(iri):
            return f"{prefix}:{text[len(iri):]}"
    return f"<{text}>"


def violations(data: Graph) -> set[tuple[str, str]]:
    _, report, _ = validate(data, shacl_graph=shapes_graph(), advanced=True, allow_warnings=True)
    assert isinstance(report, Graph)
    found = set()
    for result in report.subjects(RDF.type, SH.ValidationResult):
        if report.value(result, SH.resultSeverity) != SH.Violation:
            continue
        component = report.value(result, SH.sourceConstraintComponent)
        path = report.value(result, SH.resultPath)
        local = str(component).rsplit("#", 1)[-1] if isinstance(component, URIRef) else str(component)
        found.add((_curie(path) if isinstance(path, URIRef) or path is None else "complex-path", local))
    return found


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
def test_shape_fixture(fixture: Path) -> None:
    text = fixture.read_text(encoding="utf-8")
    expected = {
        (m[1], m[2]) for m in re.finditer(r"^#\+\s*expect:\s*(\S+)\s+(\S+)", text, re.MULTILINE)
    }
    data = Graph().parse(data=text, format="turtle")
    found = violations(data)
    if fixture.name.startswith("good-"):
        assert not found, f"a good record raised violations: {sorted(found)}"
    else:
        assert expected, f"{fixture.name}: a bad-* fixture needs '#+ expect:' lines"
        assert found == expected, f"expected {sorted(expected)}, got {sorted(found)}"


def test_every_node_shape_has_fixtures() -> None:
    """Every class with a shape has at least one good and one bad fixture."""
    targets = {
        str(c).rsplit("#", 1)[-1] for c in shapes_graph().objects(None, SH.targetClass)
    }
    folders = {p.parent.name for p in FIXTURES}
    missing = sorted(t for t in targets if t not in folders)
    assert not missing, f"classes with a shape but no fixture folder: {missing}"
    for folder in folders:
        names = [p.name for p in FIXTURES if p.parent.name == folder]
        assert any(n.startswith("good-") for n in names), f"{folder}: no good-* fixture"
        assert any(n.startswith("bad-") for n in names), f"{folder}: no bad-* fixture"
