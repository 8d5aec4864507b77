"""The look-ahead executor: a whole subtree of a GraphQL answer read level by level, in batches.

graphql-core completes an answer field by field: for each field of each object it builds a
resolve-info record, calls the resolver, tests the value for awaitability and completes it by its
type. For a deep answer (an occupation with 100 skills and 20 certifications with their blocs: about
560 fields) that machinery, with our resolvers and the awaits of nested lists, cost more CPU than
the store's work (issue #6). :class:`LookaheadExecutor` is graphql-core's executor with one change:
when it is about to complete an object whose whole selection (fragments, aliases, ``@skip`` /
``@include`` resolved, as graphql-core collects them) consists of fields it knows, it completes that
object itself, for all the objects of one level at once:

- the direct properties the selection reads on the level's resources are loaded in one batch
  (the request's DataLoaders: :attr:`Context.values`), then every scalar field of every resource is
  a plain read of the loaded values, converted by the same function as the field's resolver;
- links (``domain``, ``certifications``, ``blocks``...) are followed for all the level's resources
  at once (:func:`api.graphql.base.follow_many`, one batched load per step), paged like their
  resolvers page them, and the resources found form the next level;
- connections, edges and page information are completed from the same objects the resolvers build.

The fields it knows: those generated from the field map (:func:`api.graphql.base.data`), the
resolvers marked :func:`api.graphql.base.ahead` (``kind``, ``totalCount``, ``nodes``,
``Occupation.skills``), plain attributes (``id``, a connection's ``pageInfo``...) and ``__typename``.
Any other field in a selection (search hits, guidance paths, a territory's children...) leaves that
object to graphql-core, which then tries again for each object below it. The answer is the same
either way: when the look-ahead meets anything it would have to report as an error (a malformed
cursor, a page too large, a null in a non-null field), it gives the object back to graphql-core,
which runs its resolvers and reports the error where it belongs, with its path.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Coroutine, Iterable, Sequence
from enum import Enum
from typing import Any

import pyoxigraph as ox
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    ListValueNode,
    ObjectValueNode,
    Undefined,
    VariableNode,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import Executor, collect_iterator_awaitables
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path

from api.graphql.base import (
    RDF_TYPE,
    REGISTRY,
    convert_values,
    converter,
    follow_many,
    light_page,
    light_single,
    page_window,
)
from api.graphql.context import Context
from api.graphql.eager import settle
from api.graphql.enums import most_specific
from api.graphql.fieldmap import FIELDS, P, expand
from api.graphql.queries import Hop

OWL_THING = expand("owl:Thing")
SKILL_LINKS = [expand(p) for p in ("pas:hasSkill", "pas:hasCoreSkill", "pas:hasEmergingSkillItem")]


class Unsupported(Exception):
    """The look-ahead leaves this object to graphql-core."""


# One field of a selection, as the look-ahead completes it: (response key, how, what, GraphQL type,
# the field's nodes, the GraphQL field). ``how``: "attr" (what = the Python attribute), "data" (what =
# the field-map entry), "kind" (what = the enum), "total", "nodes", "occupation-skills", "typename".
Entry = tuple[str, str, Any, GraphQLOutputType, FieldDetailsList, Any]

_HANDLERS: dict[tuple[str, str], tuple[str, Any]] = {}


def handler(type_: GraphQLObjectType, name: str) -> tuple[str, Any] | None:
    """How the look-ahead completes field ``name`` of ``type_``, or None when it cannot.

    >>> from api.graphql.schema import schema
    >>> types = schema._schema.type_map
    >>> handler(types["Occupation"], "label")[0], handler(types["Skill"], "kind")[0]
    ('data', 'kind')
    >>> handler(types["Query"], "search") is None
    True
    """
    key = (type_.name, name)
    if key in _HANDLERS:
        return _HANDLERS[key]
    found: tuple[str, Any] | None = None
    if name == "__typename":
        found = ("typename", None)
    elif name in type_.fields:
        definition = (type_.fields[name].extensions or {}).get("strawberry-definition")
        base = getattr(definition, "base_resolver", None)
        if definition is not None and base is None:
            found = ("attr", definition.python_name)
        elif base is not None:
            function = getattr(base, "wrapped_func", None)
            spec = getattr(function, "__data__", None)
            marked = getattr(function, "__ahead__", None)
            if spec is not None:
                found = ("data", spec)
            elif marked is not None:
                found = marked
    if found is not None:
        _HANDLERS[key] = found
    return found


def _named(type_: GraphQLOutputType) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


# The look-ahead's analysis of a selection (its fields, whether it completes the subtree, the hops
# it joins), kept across requests: a cached document is executed again and again, and collecting
# its selections cost ~0.5 ms per deep request. The key is the selection's AST nodes (by identity:
# the app keeps parsed documents, ``router._parsed``) with the request's variables (``@skip`` /
# ``@include`` depend on them; arguments are read per request); each entry holds the nodes, so that
# their ids are not reused while it is kept. A selection under ``@defer`` or with fragment
# variables is not shared.
_SHARED: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
SHARED_KEPT = 4096


def _shared_key(what: str, type_: GraphQLObjectType, details: FieldDetailsList, variables: str) -> Any:
    if any(d.defer_usage is not None or d.fragment_variable_values is not None for d in details):
        return None
    return (what, type_.name, tuple(id(d.node) for d in details), variables)


def _share(key: Any, details: Any, value: Any) -> None:
    if key is None:
        return
    _SHARED[key] = (details, value)
    if len(_SHARED) > SHARED_KEPT:
        _SHARED.popitem(last=False)


def _shared(key: Any) -> tuple[bool, Any]:
    hit = _SHARED.get(key) if key is not None else None
    if hit is None:
        return False, None
    _SHARED.move_to_end(key)
    return True, hit[1]


# The variables read by directives in an operation and its fragments, by operation (by identity: the
# app keeps parsed documents; each entry holds its operation so that its id is not reused).
_DIRECTIVE_VARIABLES: OrderedDict[int, tuple[Any, tuple[str, ...]]] = OrderedDict()


def _directive_variables(operation: Any, fragments: dict[str, Any]) -> tuple[str, ...]:
    """The sorted names of the variables any directive argument of ``operation`` or of ``fragments``
    (graphql-core's fragment details, or definitions) reads.

    >>> from graphql import parse
    >>> doc = parse("query($a: Boolean!, $b: Int, $c: Boolean!) { x(n: $b) @include(if: $c) "
    ...             "{ ...F } } fragment F on T { y @skip(if: $a) }")
    >>> _directive_variables(doc.definitions[0], {"F": doc.definitions[1]})
    ('a', 'c')
    """
    kept = _DIRECTIVE_VARIABLES.get(id(operation))
    if kept is not None and kept[0] is operation:
        return kept[1]
    names: set[str] = set()

    def value(node: Any) -> None:
        if isinstance(node, VariableNode):
            names.add(node.name.value)
        elif isinstance(node, ListValueNode):
            for item in node.values:
                value(item)
        elif isinstance(node, ObjectValueNode):
            for pair in node.fields:
                value(pair.value)

    def walk(node: Any) -> None:
        for directive in getattr(node, "directives", None) or ():
            for argument in directive.arguments or ():
                value(argument.value)
        selections = getattr(node, "selection_set", None)
        for selection in selections.selections if selections is not None else ():
            walk(selection)

    walk(operation)
    for fragment in fragments.values():
        walk(getattr(fragment, "definition", fragment))
    found = tuple(sorted(names))
    _DIRECTIVE_VARIABLES[id(operation)] = (operation, found)
    if len(_DIRECTIVE_VARIABLES) > SHARED_KEPT:
        _DIRECTIVE_VARIABLES.popitem(last=False)
    return found


async def _settled(container: Any, keys: list[Any]) -> Any:
    """``container`` (an object's fields by name, or a list's items) with the awaitables at ``keys``
    replaced by their values, every one let finish; then the first failure in ``keys`` order is
    raised (siblings settle: :class:`SettledExecutor`).

    >>> async def one():
    ...     return 1
    >>> asyncio.run(_settled(["a", one()], [1]))
    ['a', 1]
    """
    done = await asyncio.gather(*(container[key] for key in keys), return_exceptions=True)
    for key, value in zip(keys, done, strict=True):
        if isinstance(value, BaseException):
            raise value
        container[key] = value
    return container


class SettledExecutor(Executor):
    """graphql-core's executor, except that the sibling fields of an object, and the items of a list,
    are all let finish before the first failure among them (in field or item order) propagates.

    graphql-core awaits sibling fields with ``gather_with_cancel``: the first to raise (a non-null
    field's error propagating up) cancels the others, and once a position is nulled the errors of the
    positions below it are dropped. Which errors an answer lists then depends on which store query
    (run in a thread) returns first: ``{ occupation { skills(after: "bad") } certifications { nodes {
    blocks(first: 101) } } }`` listed both errors, or only the one of ``certifications``, at random
    under load. Settled, the answer is the same however the threads are scheduled: every error a
    sibling reports at a nullable position is listed, then the first failure propagates.
    """

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        results: dict[str, Any] = {}
        awaitable: list[str] = []
        try:
            for response_name, details in grouped_field_set.items():
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if self.is_awaitable(result):
                        awaitable.append(response_name)
        except Exception:
            if awaitable:  # (as graphql-core: the ones started are settled, not left unheeded)
                self.settle_in_background([results[name] for name in awaitable])
            raise
        if not awaitable:
            return results

        return _settled(results, awaitable)

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        """A list's items, settled like sibling fields: graphql-core awaits the items of a list with
        ``gather_with_cancel`` (the first item to fail cancels the others, whose errors at nullable
        positions are then lost, depending on timing); here every item is let finish, then the first
        failure in item order propagates. A ``@stream`` list is left to graphql-core."""
        if self.get_stream_usage(field_details_list, path):
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        completed: list[Any] = []
        awaitable: list[int] = []
        iterator = iter(items)
        try:
            for index, item in enumerate(iterator):
                item_path = path.add_key(index, None)
                if self.is_awaitable(item):
                    completed.append(
                        self.complete_awaitable_list_item_value(
                            item, item_type, field_details_list, info, item_path, position_context
                        )
                    )
                    awaitable.append(index)
                elif self.complete_list_item_value(
                    item, completed, item_type, field_details_list, info, item_path, position_context
                ):
                    awaitable.append(index)
        except Exception:  # (as graphql-core: what was started is settled in the background)
            started = [completed[index] for index in awaitable]
            started.extend(collect_iterator_awaitables(iterator, self.is_awaitable))
            if started:
                self.settle_in_background(started)
            raise
        if not awaitable:
            return completed

        return _settled(completed, awaitable)


class LookaheadExecutor(SettledExecutor):
    """graphql-core's executor (siblings settled: :class:`SettledExecutor`), completing known
    selections ahead (see the module's text)."""

    # A selection's analyses in this request, by type and the details' identity (the details kept
    # alive beside each answer, so that their id is not reused): see _recall.
    _entries: dict[tuple[str, int], tuple[FieldDetailsList, list[Entry] | None]]
    _supported: dict[tuple[str, int], tuple[FieldDetailsList, bool]]
    _plans: dict[tuple[str, int], tuple[FieldDetailsList, list[Hop]]]

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if (
            isinstance(named, GraphQLObjectType)
            and result is not None
            and not isinstance(result, Exception)
            and isinstance(self.context_value, Context)
            and self._can(named, field_details_list)
        ):
            return self._ahead(return_type, field_details_list, info, path, result, position_context)
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    async def _ahead(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        try:
            return (await self._complete(return_type, field_details_list, [result]))[0]
        except Exception:
            done = super().complete_value(
                return_type, field_details_list, info, path, result, position_context
            )
            return await done if self.is_awaitable(done) else done

    # --- The selection --------------------------------------------------------------------------------

    def _fields(self, type_: GraphQLObjectType, details: FieldDetailsList) -> list[Entry] | None:
        """The fields selected on ``type_`` by ``details`` (as graphql-core collects them), or None
        when one of them is not one the look-ahead completes."""
        key, shared_key, found, value = self._recall("_entries", "fields", type_, details)
        if found:
            return value
        collected = self.collect_subfields(type_, details)
        entries: list[Entry] | None = []
        if collected.new_defer_usages:
            entries = None
        for response_key, group in collected.grouped_field_set.items():
            if entries is None:
                break
            name = group[0].node.name.value
            how = handler(type_, name)
            if how is None or any(d.fragment_variable_values is not None for d in group):
                entries = None
                break
            field = type_.fields.get(name)
            field_type = field.type if field is not None else None
            entries.append((response_key, how[0], how[1], field_type, group, field))  # type: ignore[arg-type]
        self._keep("_entries", key, shared_key, details, entries)
        return entries

    def _recall(
        self, local: str, what: str, type_: GraphQLObjectType, details: FieldDetailsList
    ) -> tuple[tuple[str, int], Any, bool, Any]:
        """A selection's analysis ``what`` as this request already has it (in its dict named ``local``),
        else as another request of the document with the same directive variables made it
        (:func:`_shared`; then kept in ``local`` too): (the local key, the shared key to keep a new
        answer under, whether it was found, the answer)."""
        kept = self.__dict__.setdefault(local, {})
        key = (type_.name, id(details))
        hit = kept.get(key)
        if hit is not None:
            return key, None, True, hit[1]
        shared_key = _shared_key(what, type_, details, self._variables())
        found, value = _shared(shared_key)
        if found:
            kept[key] = (details, value)
        return key, shared_key, found, value

    def _keep(
        self, local: str, key: tuple[str, int], shared_key: Any, details: FieldDetailsList, value: Any
    ) -> None:
        """Keep a new analysis for this request and for the document's next requests (:meth:`_recall`)."""
        self.__dict__[local][key] = (details, value)  # the details kept alive: their id is the key
        _share(shared_key, details, value)

    def _variables(self) -> str:
        """The values of the request's variables that a directive reads (``@skip``/``@include``,
        ``@defer``/``@stream``'s ``if``...), as a key: only they change how a selection is collected,
        so requests of one document differing by other variables (``$code``) share its analysis."""
        if not hasattr(self, "_variables_key"):
            names = _directive_variables(self.operation, self.fragments)
            coerced = self.variable_values.coerced
            self._variables_key = repr([(name, coerced.get(name, Undefined)) for name in names])
        return self._variables_key

    def _can(self, type_: GraphQLObjectType, details: FieldDetailsList) -> bool:
        """Whether the whole subtree of this selection is one the look-ahead completes."""
        key, shared_key, found, value = self._recall("_supported", "can", type_, details)
        if found:
            return bool(value)
        entries = self._fields(type_, details)
        ok = entries is not None
        for _, how, _, field_type, group, _ in entries or ():
            if not ok:
                break
            if how == "typename":
                continue
            named = _named(field_type)
            if isinstance(named, GraphQLObjectType):
                ok = self._can(named, group)
            elif not isinstance(named, GraphQLScalarType | GraphQLEnumType):
                ok = False  # interfaces and unions: graphql-core resolves their runtime type
        self._keep("_supported", key, shared_key, details, ok)
        return ok

    # --- Completion -----------------------------------------------------------------------------------

    async def _complete(
        self, type_: GraphQLOutputType, details: FieldDetailsList, values: list[Any]
    ) -> list[Any]:
        """The completed values (JSON-ready) of ``values``, all of GraphQL type ``type_``."""
        if isinstance(type_, GraphQLNonNull):
            if None in values:  # (C-level; no value of a leaf or object equals None)
                raise Unsupported("null in a non-null field")
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            lists = [None if v is None else list(v) for v in values]
            flat = [item for items in lists if items is not None for item in items]
            done = await self._complete(type_.of_type, details, flat)
            out: list[Any] = []
            at = 0
            for items in lists:
                if items is None:
                    out.append(None)
                else:
                    out.append(done[at : at + len(items)])
                    at += len(items)
            return out
        if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
            return [None if v is None else _leaf(type_, v) for v in values]
        if not isinstance(type_, GraphQLObjectType):
            raise Unsupported(f"{type_}")
        present = [v for v in values if v is not None]
        done = await self._objects(type_, details, present) if present else []
        it = iter(done)
        return [None if v is None else next(it) for v in values]

    async def _objects(
        self, type_: GraphQLObjectType, details: FieldDetailsList, objects: list[Any]
    ) -> list[Any]:
        """The completed objects of one level (all of ``type_``, selected by ``details``)."""
        entries = self._fields(type_, details)
        if entries is None:
            raise Unsupported(type_.name)
        ctx: Context = self.context_value
        resource = type_.name in REGISTRY and type_.name in FIELDS
        iris = [str(o.id) for o in objects] if resource else []
        if resource:
            props = {RDF_TYPE for e in entries if e[1] == "kind"}
            props |= {e[2].steps[0][0] for e in entries if e[1] == "data" and not e[2].steps[0][1]}
            if any(e[1] == "occupation-skills" for e in entries):
                props |= set(SKILL_LINKS)
            hops = self._hops(type_, details, entries)
            if hops:
                await self._read_level(iris, sorted(props), hops)
            elif props:
                await ctx.values.load_many([(i, p) for i in iris for p in sorted(props)])
        columns: list[Any] = []
        pending: list[Coroutine[Any, Any, list[Any]]] = []
        slots: list[int] = []
        for entry in entries:
            column = self._column(type_, entry, objects, iris)
            if isinstance(column, list):
                columns.append(column)
            else:
                slots.append(len(columns))
                columns.append(None)
                pending.append(column)
        if pending:  # sibling links together: their loads join one batch per level
            # Every branch is let finish before a failure is raised (none left running unheeded);
            # a branch whose values are primed completes in this task, without a task of its own.
            done = await settle(pending)
            for slot, result in zip(slots, done, strict=True):
                if isinstance(result, BaseException):
                    raise result
                columns[slot] = result
        keys = [e[0] for e in entries]
        return (
            [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
            if keys
            else [{} for _ in objects]
        )

    def _hops(self, type_: GraphQLObjectType, details: FieldDetailsList, entries: list[Entry]) -> list[Hop]:
        """The next hop of the level's links, read with the level (:meth:`QueryRunner.joined`): for a
        link to resources, their types and the direct properties the selection reads on them (what
        :func:`~api.graphql.base.follow_many` and the next level would load); for a two-step path,
        the second step's values (a definition's sentences' texts) or, when it is inverse, the
        resources pointing back (a fiche's certifications through its v3 code). Other paths are
        followed by the loaders, as before."""
        key, shared_key, found, value = self._recall("_plans", "hops", type_, details)
        if found:
            return value
        forward: dict[str, set[str]] = {}
        inverse: dict[tuple[str | None, str, str], None] = {}
        for _, how, what, field_type, group, _ in entries:
            if how == "occupation-skills":
                forward.setdefault(SKILL_LINKS[0], set()).update(
                    [RDF_TYPE, *self._page_props(field_type, group)]
                )
                continue
            if how != "data":
                continue
            spec: P = what
            (first, back), rest = spec.steps[0], spec.steps[1:]
            of = FIELDS[spec.target].class_iri if spec.target else OWL_THING  # as follow_many checks
            if not rest and back:
                inverse[(None, first, of)] = None
            elif not rest and spec.target is not None:
                also = (
                    self._page_props(field_type, group)
                    if spec.many
                    else self._node_props(_named(field_type), group)
                )
                forward.setdefault(first, set()).update([RDF_TYPE, *also])
            elif len(rest) == 1 and not back:
                ((second, second_back),) = rest
                if second_back:
                    inverse[(first, second, of)] = None
                else:
                    forward.setdefault(first, set()).add(second)
        plan = [Hop(True, link, tuple(sorted(props))) for link, props in sorted(forward.items())]
        plan += [Hop(False, link, first=first, of=of) for first, link, of in inverse]
        self._keep("_plans", key, shared_key, details, plan)
        return plan

    async def _read_level(self, iris: list[str], props: list[str], hops: list[Hop]) -> None:
        """The level's properties and the next hop of its links, by one store query, primed into the
        request's loaders (every pair a load would ask present, empty when the store has no value),
        so that following the links and completing the next level asks the store nothing more."""
        ctx: Context = self.context_value
        known, behind = ctx.values.done, ctx.inverse.done
        subjects = list(dict.fromkeys(iris))
        keys = [(i, p) for i in subjects for p in props]
        missing = [p for p in props if any((i, p) not in known for i in subjects)]
        if not missing:
            hops = [
                hop
                for hop in hops
                if not all(k in known or k in behind for k in self._hop_keys(hop, subjects))
            ]
            if not hops:
                return
        found, behind_found = await ctx.runner.joined(subjects, missing, hops)
        _fill(known, keys, found)
        for hop in hops:
            hop_keys = self._hop_keys(hop, subjects)
            if hop.forward:
                _fill(known, hop_keys, found)
                if hop_keys:
                    ctx.runner.note_hop(hop.link, hop_keys[0][0])
            else:
                _fill(behind, hop_keys, behind_found)

    def _hop_keys(self, hop: Hop, subjects: list[str]) -> list[Any]:
        """The loader keys a hop answers: (target, property) pairs of a forward hop, (node, link,
        class) of an inverse one; the targets and nodes from the level's values, already known."""
        known = self.context_value.values.done
        if not hop.forward and hop.first is None:
            return [(s, hop.link, hop.of) for s in subjects]
        via = hop.link if hop.forward else hop.first
        nodes = dict.fromkeys(
            v.value for s in subjects for v in known.get((s, via), ()) if isinstance(v, ox.NamedNode)
        )
        if hop.forward:
            return [(n, p) for n in nodes for p in hop.props]
        return [(n, hop.link, hop.of) for n in nodes]

    def _column(
        self, parent: GraphQLObjectType, entry: Entry, objects: list[Any], iris: list[str]
    ) -> list[Any] | Coroutine[Any, Any, list[Any]]:
        """One field of every object of a level: its values, or a coroutine of them."""
        _, how, what, type_, group, field = entry
        if how == "typename":
            return [parent.name] * len(objects)
        if how == "attr":
            values = [getattr(o, what) for o in objects]
            named = _named(type_)
            if isinstance(named, GraphQLScalarType | GraphQLEnumType):
                return _leaves(type_, values)
            return self._complete(type_, group, values)
        if how == "kind":
            known = self.context_value.known
            found = [most_specific(what, {t.value for t in known[(i, RDF_TYPE)]}) for i in iris]
            return _leaves(type_, found)
        if how == "nodes":
            return self._complete(type_, group, [[e.node for e in o.edges] for o in objects])
        if how == "total":
            return self._totals(type_, objects)
        if how == "occupation-skills":
            return self._skills(type_, group, field, iris)
        if how == "data":
            return self._data(what, type_, group, field, iris)
        raise Unsupported(how)

    async def _totals(self, type_: GraphQLOutputType, objects: list[Any]) -> list[Any]:
        totals = [o._total if isinstance(o._total, int) else await o._total() for o in objects]
        return _leaves(type_, totals)

    def _args(self, field: Any, group: FieldDetailsList) -> dict[str, Any]:
        """The field's coerced arguments (read-only: kept across requests of a cached document with
        the same variables, by the field's node, as the selections are)."""
        node = group[0].node
        if not hasattr(self, "_all_variables"):
            self._all_variables = repr(sorted(self.variable_values.coerced.items()))
        key = ("args", id(node), self._all_variables)
        found, value = _shared(key)
        if found:
            return value
        value = get_argument_values(field, node, self.variable_values)
        _share(key, node, value)  # the node kept alive: its id is in the key
        return value

    def _data(
        self, spec: P, type_: GraphQLOutputType, group: FieldDetailsList, field: Any, iris: list[str]
    ) -> list[Any] | Coroutine[Any, Any, list[Any]]:
        ctx: Context = self.context_value
        if spec.target is None and len(spec.steps) == 1 and not spec.steps[0][1]:
            known, prop, convert = ctx.known, spec.steps[0][0], converter(spec)
            return _leaves(type_, [convert(known[(i, prop)]) for i in iris])
        return self._link(spec, type_, group, field, iris)

    async def _link(
        self, spec: P, type_: GraphQLOutputType, group: FieldDetailsList, field: Any, iris: list[str]
    ) -> list[Any]:
        ctx: Context = self.context_value
        if spec.target is None:
            found = await follow_many(ctx, iris, spec)
            return _leaves(type_, [convert_values(spec, values) for values in found])
        if not spec.many:
            found = await follow_many(ctx, iris, spec, also=sorted(self._node_props(_named(type_), group)))
            return await self._complete(type_, group, [light_single(values) for values in found])
        args = self._args(field, group)
        offset, size = page_window(args.get("first"), args.get("after"))
        found = await follow_many(ctx, iris, spec, also=self._page_props(type_, group))
        return await self._complete(type_, group, [light_page(values, offset, size) for values in found])

    async def _skills(
        self, type_: GraphQLOutputType, group: FieldDetailsList, field: Any, iris: list[str]
    ) -> list[Any]:
        from api.graphql.types.occupation import skill_pages

        args = self._args(field, group)
        offset, size = page_window(args.get("first"), args.get("after"))
        also = self._page_props(type_, group)
        pages = await skill_pages(
            self.context_value, iris, offset, size, args.get("kind"), args.get("core"), also, light=True
        )
        return await self._complete(type_, group, pages)

    def _page_props(self, type_: GraphQLOutputType, group: FieldDetailsList) -> list[str]:
        """The direct properties the selection reads on the nodes of a connection (``edges { node }``
        and ``nodes``): read with the nodes' types, in the same batch."""
        props: set[str] = set()
        connection = _named(type_)
        for entry in self._fields(connection, group) or ():
            if entry[1] == "nodes":
                props |= self._node_props(_named(entry[3]), entry[4])
            elif entry[1] == "attr" and entry[2] == "edges":
                edge = _named(entry[3])
                for sub in self._fields(edge, entry[4]) or ():
                    if sub[1] == "attr" and sub[2] == "node":
                        props |= self._node_props(_named(sub[3]), sub[4])
        return sorted(props)

    def _node_props(self, type_: GraphQLObjectType, group: FieldDetailsList) -> set[str]:
        props: set[str] = set()
        for entry in self._fields(type_, group) or ():
            if entry[1] == "kind":
                props.add(RDF_TYPE)
            elif entry[1] == "data" and not entry[2].steps[0][1]:
                props.add(entry[2].steps[0][0])
        return props


def _fill(done: dict[Any, Any], keys: Iterable[Any], found: dict[Any, Any]) -> None:
    """Prime a loader's answers (``done``) with every key of ``keys`` not known yet: its value in
    ``found``, or an empty list (the store has none). :meth:`BatchLoader.prime` without building the
    mapping first (a level's hop primes a few hundred keys).

    >>> done = {"a": [1]}
    >>> _fill(done, ["a", "b", "c"], {"a": [2], "b": [3]})
    >>> done
    {'a': [1], 'b': [3], 'c': []}
    """
    for key in keys:
        if key not in done:
            value = found.get(key)
            done[key] = [] if value is None else value


_SAME = {"String": str, "ID": str, "Boolean": bool}


# An enum's name for each of its members, as the enum type gives it (a pure mapping: strawberry's
# look-up ran once per skill of a deep answer).
_ENUM_NAMES: dict[tuple[int, Any], Any] = {}


def _leaf(type_: GraphQLScalarType | GraphQLEnumType, value: Any) -> Any:
    if _SAME.get(type_.name) is type(value):  # what coerce_output_value returns for them, unchanged
        return value
    enum = isinstance(type_, GraphQLEnumType) and isinstance(value, Enum)
    if enum:
        known = _ENUM_NAMES.get((id(type_), value))
        if known is not None:
            return known
    coerced = type_.coerce_output_value(value)
    if coerced is Undefined or coerced is None:
        raise Unsupported(f"{type_.name} cannot represent {value!r}")
    if enum:
        _ENUM_NAMES[(id(type_), value)] = coerced  # (the schema's types live as long as the process)
    return coerced


def _leaves(type_: GraphQLOutputType, values: Sequence[Any]) -> list[Any]:
    """Leaf values completed as graphql-core completes them (nulls checked, lists item by item)."""
    if isinstance(type_, GraphQLNonNull):
        if None in values:  # (C-level; no value of a leaf or object equals None)
            raise Unsupported("null in a non-null field")
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        return [None if v is None else _leaves(type_.of_type, list(v)) for v in values]
    assert isinstance(type_, GraphQLScalarType | GraphQLEnumType)
    same = _SAME.get(type_.name)
    if same is not None:  # (_leaf's first test, inline: most leaves are strings)
        return [v if v is None or type(v) is same else _leaf(type_, v) for v in values]
    return [None if v is None else _leaf(type_, v) for v in values]
