"""Request limits checked before execution: depth, cost (complexity) and aliases.

Cost: every field costs 1, times the number of parents it is asked for. A list field (one with a
``first`` argument) multiplies its children by its page size (``first``, its variable's value, or the
default page of 20), so ``occupations(first: 100) { skills(first: 100) { label } }`` costs about
100 + 100×100 + 100×100×... — what the store would really have to read.

>>> from graphql import parse
>>> from api.graphql.schema import schema
>>> doc = parse("{ occupations(first: 100) { edges { node { code } } } }")
>>> measure(schema._schema, doc, {}, None)
Measure(depth=4, cost=301, aliases=0, max_page=100)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.language import DocumentNode

from api.graphql.base import DEFAULT_PAGE, MAX_PAGE


@dataclass(frozen=True)
class Measure:
    depth: int
    cost: int
    aliases: int
    max_page: int = 0


def _page(node: FieldNode, variables: dict[str, Any]) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value != "first":
            continue
        value = arg.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return int(given) if isinstance(given, int) else MAX_PAGE
    return None


# Measures kept by (schema, document, operation, the values of the variables a `first` argument
# reads): the app keeps parsed documents (``router._parsed``) and runs them again and again; the walk
# cost ~0.1 ms per deep request. By identity, each entry holding its schema and document so that
# their ids are not reused while it is kept.
_KEPT: OrderedDict[tuple[Any, ...], tuple[Any, Any, Measure]] = OrderedDict()
KEPT = 4096


def measure(
    schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any], operation: str | None
) -> Measure:
    """Depth, cost and alias count of the operation ``operation`` (or the only one) of ``document``;
    kept for the next request of the same document with the same page sizes.

    >>> from graphql import parse
    >>> from api.graphql.schema import schema
    >>> doc = parse("query($n: Int) { occupations(first: $n) { nodes { code } } }")
    >>> measure(schema._schema, doc, {"n": 5}, None).cost, measure(schema._schema, doc, {"n": 50}, None).cost
    (11, 101)
    """
    pages = _page_variables(document)
    key = (id(schema), id(document), operation, repr([(name, variables.get(name)) for name in pages]))
    kept = _KEPT.get(key)
    if kept is not None and kept[0] is schema and kept[1] is document:
        _KEPT.move_to_end(key)
        return kept[2]
    found = _measure(schema, document, variables, operation)
    _KEPT[key] = (schema, document, found)
    if len(_KEPT) > KEPT:
        _KEPT.popitem(last=False)
    return found


_PAGE_VARIABLES: dict[int, tuple[DocumentNode, tuple[str, ...]]] = {}


def _page_variables(document: DocumentNode) -> tuple[str, ...]:
    """The names of the variables given to a ``first`` argument anywhere in ``document`` (all that
    :func:`_measure` reads of the variables)."""
    kept = _PAGE_VARIABLES.get(id(document))
    if kept is not None and kept[0] is document:
        return kept[1]
    names: set[str] = set()

    def walk(node: Any) -> None:
        for arg in getattr(node, "arguments", None) or ():
            if arg.name.value == "first" and isinstance(arg.value, VariableNode):
                names.add(arg.value.name.value)
        selections = getattr(node, "selection_set", None)
        for selection in selections.selections if selections is not None else ():
            walk(selection)

    for definition in document.definitions:
        walk(definition)
    found = tuple(sorted(names))
    if len(_PAGE_VARIABLES) > KEPT:
        _PAGE_VARIABLES.clear()
    _PAGE_VARIABLES[id(document)] = (document, found)
    return found


def _measure(
    schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any], operation: str | None
) -> Measure:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [op for op in operations if operation is None or (op.name and op.name.value == operation)]
    if not chosen:
        return Measure(0, 0, 0, 0)
    op = chosen[0]
    root = schema.get_root_type(op.operation) if hasattr(schema, "get_root_type") else schema.query_type
    aliases = 0
    max_page = 0

    def walk(
        selections: SelectionSetNode, parent: GraphQLNamedType | None, depth: int, seen: frozenset[str]
    ) -> tuple[int, int]:
        nonlocal aliases, max_page
        max_depth, cost = depth, 0
        for sel in selections.selections:
            if isinstance(sel, FieldNode):
                if sel.alias is not None:
                    aliases += 1
                field_type = None
                has_first = False
                if isinstance(parent, GraphQLObjectType) or hasattr(parent, "fields"):
                    definition = getattr(parent, "fields", {}).get(sel.name.value)
                    if definition is not None:
                        field_type = get_named_type(definition.type)
                        has_first = "first" in definition.args
                cost += 1
                if sel.selection_set is not None:
                    asked = _page(sel, variables) if has_first else None
                    max_page = max(max_page, asked or 0)
                    page = (
                        max(0, min(asked if asked is not None else DEFAULT_PAGE, MAX_PAGE))
                        if has_first
                        else 1
                    )
                    d, c = walk(sel.selection_set, field_type, depth + 1, seen)
                    max_depth = max(max_depth, d)
                    cost += page * c
            elif isinstance(sel, InlineFragmentNode):
                cond = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                d, c = walk(sel.selection_set, cond, depth, seen)
                max_depth, cost = max(max_depth, d), cost + c
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:  # unknown or cyclic: validation reports it
                    continue
                cond = schema.get_type(fragment.type_condition.name.value)
                d, c = walk(fragment.selection_set, cond, depth, seen | {name})
                max_depth, cost = max(max_depth, d), cost + c
        return max_depth, cost

    depth, cost = walk(op.selection_set, root, 1, frozenset())
    return Measure(depth=depth, cost=cost, aliases=aliases, max_page=max_page)
