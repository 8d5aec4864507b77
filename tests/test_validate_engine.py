"""The fast SHACL engine must report exactly what pySHACL (the reference) reports.

Each fixture in ``tests/fixtures/shacl/*.ttl`` is one Turtle document: the shapes graph,
then a line ``#@data``, then the data graph (which reuses the ``@prefix`` lines of the
shapes part). One fixture per SHACL feature the build relies on.
"""

from __future__ import annotations

import pathlib

import pyoxigraph as ox
import pytest

from kg.validate_engine import (
    ValidationResult,
    validate_ntriples,
    validate_pyshacl,
)

FIXTURE_DIR = pathlib.Path(__file__).parent / "fixtures" / "shacl"
FIXTURES = sorted(FIXTURE_DIR.glob("*.ttl"))
DATA_MARKER = "#@data"

# Fixtures where pySHACL, not the fast engine, is wrong (see the fixture's comment).
PYSHACL_WRONG = {
    "datatype_illtyped_boolean": "rdflib rewrites the ill-typed sh:value to false",
}


def load_fixture(path: pathlib.Path) -> tuple[str, str]:
    """Split a fixture into (data as N-Triples, shapes as Turtle)."""
    shapes_ttl, data_ttl = path.read_text(encoding="utf-8").split(DATA_MARKER, 1)
    prefixes = "".join(line + "\n" for line in shapes_ttl.splitlines() if line.startswith("@prefix"))
    data = ox.parse(prefixes + data_ttl, format=ox.RdfFormat.TURTLE)
    return ox.serialize(data, format=ox.RdfFormat.N_TRIPLES).decode(), shapes_ttl


def _as_set(results: list[ValidationResult]) -> set[tuple]:
    return {r.key() for r in results}


def _messages(results: list[ValidationResult]) -> dict[tuple, dict[str, str]]:
    return {r.key(): r.messages for r in results}


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 15


@pytest.mark.parametrize("engine", ["fast", "shacl"])
@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_engine_matches_pyshacl(fixture: pathlib.Path, engine: str) -> None:
    if fixture.stem in PYSHACL_WRONG:
        pytest.xfail(PYSHACL_WRONG[fixture.stem])
    data_nt, shapes_ttl = load_fixture(fixture)
    expected = validate_pyshacl(data_nt, shapes_ttl)
    got = validate_ntriples(data_nt, shapes_ttl, engine)
    assert _as_set(got) == _as_set(expected)
    assert _messages(got) == _messages(expected)
    assert len(got) == len(expected)


def test_fixtures_are_not_trivial() -> None:
    """Every fixture must make the reference report something (no vacuous agreement)."""
    for path in FIXTURES:
        data_nt, shapes_ttl = load_fixture(path)
        assert validate_pyshacl(data_nt, shapes_ttl), path.stem


def test_messages_keep_language_tags() -> None:
    data_nt, shapes_ttl = load_fixture(FIXTURE_DIR / "sparql_nir.ttl")
    [result] = validate_ntriples(data_nt, shapes_ttl)  # via the pyoxigraph SPARQL path
    assert result.messages == {"fr": "Clé NIR invalide", "en": "Invalid NIR key"}
    assert result.component == "SPARQLConstraintComponent"
    assert result.value == '"255081416802539"'


def test_blank_node_shapes_get_stable_names() -> None:
    data_nt, shapes_ttl = load_fixture(FIXTURE_DIR / "min_max_count.ttl")
    first = validate_ntriples(data_nt, shapes_ttl)
    again = validate_ntriples(data_nt, shapes_ttl)
    assert [r.shape for r in first] == [r.shape for r in again]
    assert all(r.shape.startswith("<http://example.org/S/shape/label-") for r in first)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        validate_ntriples("", "", engine="nope")
