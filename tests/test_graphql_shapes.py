"""The GraphQL types agree with the SHACL shapes and the reviewed SDL snapshot.

For every type of :data:`api.graphql.fieldmap.FIELDS`: each field's property is a property of the
NodeShapes targeting the type's class (or, for a ``derived`` field, an ontology property); list vs
single and nullability agree with ``sh:maxCount``/``sh:minCount`` (a language-tagged text is single: one
value per language, the French one is served); datatypes agree; and the GraphQL
schema exposes the field with that shape. The SDL must equal ``api/graphql/schema.graphql``
(regenerate with ``strawberry export-schema api.graphql.schema:schema --output api/graphql/schema.graphql``
and review the diff).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SH

from api.graphql.fieldmap import FIELDS, P, expand
from api.graphql.schema import schema
from tests.conftest import ROOT

DATATYPES = {
    "xsd:string": "String",
    "rdf:langString": "String",
    "iri": "String",
    "xsd:boolean": "Boolean",
    "xsd:integer": "Int",
    "xsd:decimal": "Float",
    "xsd:date": "Date",
}


@dataclass
class PropertyFacts:
    """What the shapes of one class say about one property path."""

    min_count: int = 0
    max_count: int | None = None
    datatypes: set[str] = field(default_factory=set)
    unique_lang: bool = False
    iri: bool = False  # sh:class, sh:nodeKind sh:IRI, or sh:in of IRIs


def _load(folder: str) -> Graph:
    graph = Graph()
    for path in sorted((ROOT / folder).glob("*.ttl")):
        graph.parse(path)
    return graph


SHAPES = _load("shapes")
ONTOLOGY = _load("ontology")


def _superclasses(cls: URIRef) -> set[URIRef]:
    return {c for c in ONTOLOGY.transitive_objects(cls, RDFS.subClassOf) if isinstance(c, URIRef)}


def facts_for(class_iri: str) -> dict[str, PropertyFacts]:
    """Property facts of the NodeShapes targeting the class or a superclass (their constraints apply to
    every instance) or a subclass (its maxCount bounds the values, which only its instances have; its
    minCount does not make the field required on the superclass type)."""
    cls = URIRef(class_iri)
    applying = _superclasses(cls) | {cls}
    out: dict[str, PropertyFacts] = defaultdict(PropertyFacts)
    shapes = set(SHAPES.subjects(SH.targetClass, None)) | set(SHAPES.subjects(SH.targetSubjectsOf, None))
    for shape in shapes:
        targets = set(SHAPES.objects(shape, SH.targetClass))
        # A shape targeting the subjects of a property applies to whoever has that property.
        subjects_of = {str(p) for p in SHAPES.objects(shape, SH.targetSubjectsOf)}
        own = bool(targets & applying)
        narrower = any(cls in _superclasses(t) for t in targets if isinstance(t, URIRef))
        if not own and not narrower and not subjects_of:
            continue
        for prop in SHAPES.objects(shape, SH.property):
            path = SHAPES.value(prop, SH.path)
            if not isinstance(path, URIRef):
                continue
            if subjects_of and not own and not narrower and str(path) not in subjects_of:
                continue
            facts = out[str(path)]
            severity = SHAPES.value(prop, SH.severity)
            min_count = SHAPES.value(prop, SH.minCount)
            if own and min_count is not None and severity in (None, SH.Violation):
                facts.min_count = max(facts.min_count, int(min_count))
            # A maxCount, even as a warning, says the data is meant to be single.
            max_count = SHAPES.value(prop, SH.maxCount)
            if max_count is not None:
                facts.max_count = (
                    int(max_count) if facts.max_count is None else min(facts.max_count, int(max_count))
                )
            datatype = SHAPES.value(prop, SH.datatype)
            if datatype is not None:
                facts.datatypes.add(str(datatype))
            if SHAPES.value(prop, SH.uniqueLang) == Literal(True):
                facts.unique_lang = True
            if SHAPES.value(prop, SH["class"]) is not None or SHAPES.value(prop, SH.nodeKind) == SH.IRI:
                facts.iri = True
            members = SHAPES.value(prop, SH["in"])
            if members is not None and any(isinstance(m, URIRef) for m in SHAPES.items(members)):
                facts.iri = True
    return out


def _declared_property(iri: str) -> bool:
    kinds = {OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty, RDF.Property}
    if set(ONTOLOGY.objects(URIRef(iri), RDF.type)) & kinds:
        return True
    return not iri.startswith(expand("pas:"))  # SKOS, Dublin Core, schema.org, RDF terms


CASES = [(t, f, spec) for t, tm in FIELDS.items() for f, spec in tm.fields.items()]


@pytest.mark.parametrize(("type_name", "field_name", "spec"), CASES, ids=[f"{t}.{f}" for t, f, _ in CASES])
def test_field_follows_shape(type_name: str, field_name: str, spec: P) -> None:
    facts = facts_for(FIELDS[type_name].class_iri)
    prop, inverse = spec.steps[0]
    if spec.derived:
        for step, _ in spec.steps:
            assert _declared_property(step), f"{type_name}.{field_name}: {step} is not an ontology property"
        return
    assert len(spec.steps) == 1 and not inverse, f"{type_name}.{field_name}: a path must be marked derived"
    assert prop in facts, f"{type_name}.{field_name}: {spec.path} is not a property of the {type_name} shapes"
    f = facts[prop]
    # A language-tagged text is single in GraphQL: the resolver picks the French value.
    single_ok = f.max_count == 1 or spec.datatype == "rdf:langString"
    if spec.many:
        assert f.max_count != 1, f"{type_name}.{field_name} is a list but the shape allows one value"
    else:
        assert single_ok, f"{type_name}.{field_name} is single but the shape allows several values"
    assert spec.required == (f.min_count >= 1), (
        f"{type_name}.{field_name}: required={spec.required} but the shape's sh:minCount is {f.min_count}"
    )
    if spec.target is not None or spec.datatype == "iri":
        assert f.iri or not f.datatypes, (
            f"{type_name}.{field_name} links to a resource, the shape says literal"
        )
    elif f.datatypes:
        assert expand(spec.datatype or "") in f.datatypes, (
            f"{type_name}.{field_name}: {spec.datatype} but the shape says {sorted(f.datatypes)}"
        )


@pytest.mark.parametrize(("type_name", "field_name", "spec"), CASES, ids=[f"{t}.{f}" for t, f, _ in CASES])
def test_graphql_field_matches_map(type_name: str, field_name: str, spec: P) -> None:
    gql_type = schema._schema.get_type(type_name)
    assert isinstance(gql_type, GraphQLObjectType)
    gql_field = gql_type.fields[field_name]
    kind = gql_field.type
    named = get_named_type(kind).name
    if spec.target is not None and spec.many:
        assert named.endswith("Connection") and isinstance(kind, GraphQLNonNull)
        return
    if spec.target is not None:
        assert named == spec.target
    else:
        assert named == DATATYPES[spec.datatype or ""]
    if spec.many:
        assert isinstance(kind, GraphQLNonNull) and isinstance(kind.of_type, GraphQLList)
    else:
        assert isinstance(kind, GraphQLNonNull) == spec.required, f"{type_name}.{field_name} nullability"


def test_every_class_type_has_a_shape() -> None:
    shaped = {str(c) for c in SHAPES.objects(None, SH.targetClass)}
    for type_name, tm in FIELDS.items():
        assert tm.class_iri in shaped, f"{type_name}: no NodeShape targets {tm.cls}"


def test_sdl_snapshot_is_current() -> None:
    snapshot = (ROOT / "api" / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    assert schema.as_str().strip() == snapshot.strip(), (
        "the GraphQL schema changed: run `strawberry export-schema api.graphql.schema:schema "
        "--output api/graphql/schema.graphql` and review the diff"
    )


def test_documented_examples_are_valid() -> None:
    from graphql import parse, validate

    text = (ROOT / "docs" / "guides" / "graphql.md").read_text(encoding="utf-8")
    blocks = text.split("```graphql")[1:]
    assert len(blocks) >= 5
    for block in blocks:
        query = block.split("```")[0]
        errors = validate(schema._schema, parse(query))
        assert not errors, (query, errors)
