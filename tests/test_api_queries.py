"""The GraphQL API's named queries (queries/api) are read and bound by kg.queries, the one parser
of named queries: every slot, optional line and UNION line names a declared parameter."""

from __future__ import annotations

import re

import pyoxigraph as ox
import pytest

from api.graphql.queries import load_queries
from kg.queries import NamedQuery, ParameterError

QUERIES = load_queries()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_placeholder_is_a_declared_parameter(name: str) -> None:
    query = QUERIES[name]
    declared = {p.name: p.type for p in query.params}
    assert query.summary
    used = set(re.findall(r"VALUES\s+\?(\w+)\s*\{\s*\}", query.text))
    used |= set(re.findall(r"#\s*if\s+\?(\w+)\s*$", query.text, re.MULTILINE))
    used |= set(re.findall(r"#\s*union over \?(\w+)\s*$", query.text, re.MULTILINE))
    assert used <= set(declared), f"{name}: undeclared {used - set(declared)}"
    for param in query.params:
        if param.name in query.optional:
            assert re.search(rf"#\s*if\s+\?{param.name}\s*$", query.text, re.MULTILINE), param.name


def test_lists_and_optional_lines() -> None:
    text, subs = QUERIES["list-skills"].prepare(
        {"kind": ox.NamedNode("https://w3id.org/passerelles/ontology#Knowledge")}
    )
    assert "VALUES ?kind { <https://w3id.org/passerelles/ontology#Knowledge> }" in text
    assert "?category" not in text.split("WHERE", 1)[1]  # the optional line went
    assert subs == {}
    text, subs = QUERIES["list-skills"].prepare({"category": "x' } DROP ALL #"})
    assert subs == {ox.Variable("category"): ox.Literal("x' } DROP ALL #")}
    assert "DROP" not in text


def test_refused_values() -> None:
    values = QUERIES["values"]
    with pytest.raises(ParameterError):
        values.prepare({"s": ["http://x/> } ; DROP ALL ; <http://y"], "p": []})
    with pytest.raises(ParameterError):
        values.prepare({"s": ["not an iri"], "p": []})
    with pytest.raises(ParameterError):
        values.prepare({"s": []})  # p missing
    with pytest.raises(ParameterError):
        QUERIES["list-certifications"].prepare({"level": "3 } #"})


def test_union_lines_and_empty_lists() -> None:
    text, _ = QUERIES["values"].prepare({"s": ["http://x/1"], "p": []})
    assert "FILTER (false)" in text
    assert list(ox.Store().query(text)) == []


def test_stored_report_headers_unchanged() -> None:
    q = NamedQuery.parse("t", "#+ params:\n#+   - code (rome, default I1407): a code\nSELECT ?code {}")
    assert q.optional == frozenset() and q.bind({}) == {"code": ("literal", "I1407", "")}
