"""Building blocks of the GraphQL types: the Relay ``Node`` interface (global IDs are the resources'
IRIs), connections with cursors, and resolvers generated from :mod:`api.graphql.fieldmap`.

A type module declares its class with ``code: str = data("Occupation", "code")``: the resolver reads
the field's property path through the request's DataLoaders and converts the RDF values to the
GraphQL type the field map implies (so the map, the schema and the shapes cannot drift apart).

>>> to_python(ox.Literal("true", datatype=ox.NamedNode(XSD + "boolean")), "xsd:boolean")
True
>>> encode_cursor(0), decode_cursor(encode_cursor(41))
('b2Zmc2V0OjA=', 41)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import enum
import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import pyoxigraph as ox
import strawberry
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment

from api.graphql.context import Context
from api.graphql.errors import ApiError
from api.graphql.fieldmap import FIELDS, P, expand

XSD = "http://www.w3.org/2001/XMLSchema#"
PAS = expand("pas:")
RDF_TYPE = expand("rdf:type")
MAX_PAGE = 100
DEFAULT_PAGE = 20

T = TypeVar("T")
REGISTRY: dict[str, type] = {}


def snake(name: str) -> str:
    """``TrainingCourse`` → ``training_course`` (the module holding the type).

    >>> snake("OccupationV3")
    'occupation_v3'
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def lazy(name: str) -> Any:
    """An annotation referring to type ``name`` in its own module, resolved when the schema is built."""
    return Annotated[name, strawberry.lazy(f"api.graphql.types.{snake(name)}")]


def register(cls: type[T]) -> type[T]:
    """Record a GraphQL type so that resolvers can build it from an IRI."""
    REGISTRY[cls.__name__] = cls
    return cls


def make(type_name: str, iri: str) -> Any:
    """An instance of the registered type ``type_name`` for ``iri``."""
    return REGISTRY[type_name](id=strawberry.ID(iri))


@strawberry.interface(description="A resource of the graph; its `id` is its IRI (a Relay global ID).")
class Node:
    id: strawberry.ID


# --- RDF values → Python -----------------------------------------------------------------------------


def to_python(term: Any, datatype: str | None) -> Any:
    """Convert one RDF term to the Python value of a field of ``datatype``."""
    if isinstance(term, ox.NamedNode):
        value = term.value
        return value[len(PAS) :] if value.startswith(PAS) else value
    text = term.value
    try:
        if datatype == "xsd:boolean":
            return text in ("true", "1")
        if datatype == "xsd:integer":
            return int(text)
        if datatype == "xsd:decimal":
            return float(text)
        if datatype == "xsd:date":
            return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return text


def pick_language(terms: Sequence[Any], lang: str = "fr") -> Any:
    """The term in ``lang`` if any, else the first (sorted, so the choice is stable)."""
    for term in terms:
        if isinstance(term, ox.Literal) and term.language == lang:
            return term
    return sorted(terms, key=str)[0] if terms else None


def _sentence_order(iri: str) -> tuple[int, str]:
    tail = iri.rsplit("-", 1)[-1]
    return (int(tail) if tail.isdigit() else 0, iri)


async def follow(ctx: Context, iri: str, spec: P, also: Sequence[str] = ()) -> list[Any]:
    """The values at the end of ``spec``'s path from ``iri`` (one batched load per step).

    ``also``: properties of the target resources to read with their types (the check that they
    are of the target class), so that a page's fields cost no store query of their own: for a
    list of at most ``MAX_PAGE`` resources (a longer one is paged first, then prefetched)."""
    return (await follow_many(ctx, [iri], spec, also))[0]


async def follow_many(
    ctx: Context, iris: Sequence[str], spec: P, also: Sequence[str] = ()
) -> list[list[Any]]:
    """:func:`follow` for several resources at once: the values of each, in the order of ``iris``,
    with one batched load per step for all of them (the look-ahead executor reads a whole level so)."""
    current: list[list[str]] = [[iri] for iri in iris]
    steps = spec.steps
    out: list[list[Any]] = [[] for _ in iris]
    for index, (prop, inverse) in enumerate(steps):
        last = index == len(steps) - 1
        found_per: list[list[Any]]
        if inverse:
            target = FIELDS[spec.target].class_iri if spec.target else expand("owl:Thing")
            lists = await ctx.inverse.load_many([(node, prop, target) for nodes in current for node in nodes])
            found_per = [[ox.NamedNode(v) for lst in part for v in lst] for part in _split(lists, current)]
        else:
            if prop == expand("rdf:value"):
                current = [sorted(nodes, key=_sentence_order) for nodes in current]
            found = await ctx.values.load_many([(node, prop) for nodes in current for node in nodes])
            found_per = [[term for terms in part for term in terms] for part in _split(found, current)]
        if last:
            out = found_per
            if spec.target is not None and not inverse:
                # A reference to a resource absent from the graph (a retired Formacode, a v3 code
                # missing from the labels: warnings in the shapes) is left out, not served half-empty.
                target_class = ox.NamedNode(FIELDS[spec.target].class_iri)
                nodes = [[v for v in values if isinstance(v, ox.NamedNode)] for values in found_per]
                per = [[v.value for v in of] for of in nodes]
                keys = [(i, RDF_TYPE) for iris_of in per for i in iris_of]
                for iris_of in per:
                    if len(iris_of) <= MAX_PAGE:
                        keys += [(i, p) for i in iris_of for p in also if p != RDF_TYPE]
                loaded = await ctx.values.load_many(keys)  # the types first, in the order of ``per``
                out = [  # (the terms read, not new ones: a NamedNode built from a text is parsed again)
                    [node for node, ts in zip(of, types, strict=True) if target_class in ts]
                    for of, types in zip(nodes, _split(loaded, per), strict=True)
                ]
        else:
            current = [[v.value for v in values if isinstance(v, ox.NamedNode)] for values in found_per]
    return out


async def load_many(info: Info, type_name: str, iris: Sequence[str], name: str) -> list[list[Any]]:
    """The values of field ``name`` for several resources at once (one batched load)."""
    spec = FIELDS[type_name].fields[name]
    return list(await asyncio.gather(*(follow(info.context, iri, spec) for iri in iris)))


def _split(flat: Sequence[T], groups: Sequence[Sequence[Any]]) -> list[list[T]]:
    """``flat`` cut into consecutive parts as long as each of ``groups`` (what is left over is
    not returned): the answers of one batched load, given back to the groups that asked them.

    >>> _split([1, 2, 3, 4, 5], [["a"], [], ["b", "c"]])
    [[1], [], [2, 3]]
    """
    parts, at = [], 0
    for group in groups:
        parts.append(list(flat[at : at + len(group)]))
        at += len(group)
    return parts


def ahead(how: str, arg: Any = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Mark a resolver whose work the look-ahead executor (:mod:`api.graphql.lookahead`) does for a
    whole level at once: ``how`` names that work (``kind``: the most specific member of enum ``arg``
    among the resource's classes; ``total``, ``nodes``: a connection's; ``occupation-skills``)."""

    def mark(resolver: Callable[..., T]) -> Callable[..., T]:
        resolver.__ahead__ = (how, arg)  # type: ignore[attr-defined]
        return resolver

    return mark


# --- Connections ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # the same few offsets in every answer (one per edge)
def encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The offset a cursor stands for; a malformed cursor is a BAD_USER_INPUT error."""
    try:
        kind, _, number = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        if kind != "offset" or not number.isdigit():
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError.bad_input(f"Malformed cursor {cursor!r}: pass an `endCursor` you received.") from None


def page_window(first: int | None, after: str | None) -> tuple[int, int]:
    """(offset, size) of the requested page; checks the maximum page size.

    >>> page_window(None, None)
    (0, 20)
    >>> page_window(100, encode_cursor(9))
    (10, 100)
    """
    size = DEFAULT_PAGE if first is None else first
    if size < 0:
        raise ApiError.bad_input("`first` must be 0 or more.")
    if size > MAX_PAGE:
        raise ApiError.limit(f"`first` is at most {MAX_PAGE} (asked {size}); page with `after`.")
    offset = decode_cursor(after) + 1 if after else 0
    return offset, size


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="A link to a node in a list, with its cursor.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list (Relay connection): `first`/`after`, `totalCount`.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _total: strawberry.Private[int | Callable[[], Awaitable[int]]]

    @strawberry.field(description="The number of items in the whole list (all pages).")
    @ahead("total")
    async def total_count(self) -> int:
        if isinstance(self._total, int):
            return self._total
        return await self._total()

    @strawberry.field(description="The nodes of this page (shortcut for `edges { node }`).")
    @ahead("nodes")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection_from_list(
    items: Sequence[Any], offset: int, size: int, total: int | None = None, has_more: bool | None = None
) -> Any:
    """A connection over ``items`` (the whole list, or one page when ``total``/``has_more`` say so)."""
    if total is None:
        page = list(items[offset : offset + size])
        total = len(items)
        has_next = offset + size < total
    else:
        page = list(items)
        has_next = bool(has_more)
    edges = [Edge(cursor=encode_cursor(offset + i), node=node) for i, node in enumerate(page)]
    return Connection(edges=edges, page_info=page_info_of(edges, offset, has_next), _total=total)


def page_info_of(edges: Sequence[Any], offset: int, has_next: bool) -> PageInfo:
    """The page information of a page of ``edges`` starting at ``offset``.

    >>> page_info_of([], 0, False).start_cursor is None
    True
    """
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=offset > 0,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )


# --- Field factory -------------------------------------------------------------------------------------

_SCALARS: dict[str | None, Any] = {
    "xsd:string": str,
    "rdf:langString": str,
    "iri": str,
    "xsd:boolean": bool,
    "xsd:integer": int,
    "xsd:decimal": float,
    "xsd:date": dt.date,
}


def python_type(spec: P) -> Any:
    """The Python (hence GraphQL) type of a field spec."""
    if spec.target is None:
        base: Any = _SCALARS[spec.datatype]
        if spec.many:
            return list[base]
        return base if spec.required else base | None
    node = lazy(spec.target)
    if spec.many:
        return Connection[node]  # type: ignore[valid-type]
    return node if spec.required else node | None


def plain(resolver: Callable[..., T]) -> Callable[..., T]:
    """Mark a field resolver ``(root, info)`` that reads nothing of ``info`` but ``info.context``:
    :func:`install_plain_resolvers` lets graphql-core call it directly.

    Strawberry wraps each resolver call (an ``Info`` object, argument conversion, an extension
    chain): for the hundreds of scalar fields of a deep answer that wrapping cost more than
    reading the values from the store.
    """
    resolver.__plain__ = True  # type: ignore[attr-defined]
    return resolver


def install_plain_resolvers(schema: strawberry.Schema) -> int:
    """Give graphql-core the field resolvers unwrapped; returns how many.

    Those marked :func:`plain` get graphql-core's ``info`` as it is. The others (``Connection``
    fields, lists with ``first``/``after``, look-ups by code...) get strawberry's ``Info`` and their
    arguments renamed to their Python names, without strawberry's per-call wrapper (argument
    conversion, an extension chain, a new closure per call): graphql-core has already coerced
    every scalar, enum (to its Python member) and list argument. A field with an input-object
    argument, a permission class, a field extension or a ``Parent`` parameter keeps strawberry's
    resolver. The request runs on graphql-core (``api.graphql.router``), so strawberry's schema
    extensions do not apply to any field anyway; errors raised by a resolver become GraphQL errors
    the same way.
    """
    from graphql import GraphQLInputObjectType, GraphQLObjectType, get_named_type

    info_class = schema.config.info_class
    names = schema.config.name_converter
    count = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for graphql_field in graphql_type.fields.values():
            definition = (graphql_field.extensions or {}).get("strawberry-definition")
            base = getattr(definition, "base_resolver", None)
            function: Any = getattr(base, "wrapped_func", None)
            if definition is None or base is None or function is None:
                continue
            if getattr(function, "__plain__", False) and not definition.arguments:
                graphql_field.resolve = _direct(function)
                count += 1
                continue
            if (
                definition.extensions
                or definition.permission_classes
                or base.parent_parameter is not None
                or any(
                    isinstance(get_named_type(arg.type), GraphQLInputObjectType)
                    for arg in graphql_field.args.values()
                )
            ):
                continue
            renamed = {names.get_graphql_name(arg): arg.python_name for arg in definition.arguments}
            if set(renamed) != set(graphql_field.args):
                continue  # not the arguments this binding expects: leave it to strawberry
            graphql_field.resolve = _bound(function, definition, base, renamed, info_class)
            count += 1
    return count


def _direct(function: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def resolve(root: Any, info: Any, **_: Any) -> Any:
        return function(root, info)

    return resolve


def _bound(
    function: Callable[..., Any], definition: Any, base: Any, renamed: dict[str, str], info_class: Any
) -> Callable[..., Any]:
    """A graphql-core resolver calling ``function`` as strawberry would (``self``/``root``, ``info``,
    the arguments by their Python names)."""
    info_name = base.info_parameter.name if base.info_parameter is not None else None
    root_name = base.root_parameter.name if base.root_parameter is not None else None
    with_self = base.self_parameter is not None

    def resolve(root: Any, info: Any, **kwargs: Any) -> Any:
        bound = {renamed[k]: v for k, v in kwargs.items()}
        if info_name is not None:
            bound[info_name] = info_class(_raw_info=info, _field=definition)
        if root_name is not None:
            bound[root_name] = root
        return function(root, **bound) if with_self else function(**bound)

    return resolve


def data(type_name: str, name: str) -> Any:
    """A strawberry field for ``FIELDS[type_name].fields[name]``, with its generated resolver."""
    spec = FIELDS[type_name].fields[name]
    description = spec.description or None

    if spec.target is None:
        direct = len(spec.steps) == 1 and not spec.steps[0][1]

        def scalar(root: Any, info: Info) -> Any:
            # A value already read (prefetched with its page) resolves at once; else a load.
            if direct:
                known = info.context.known.get((str(root.id), spec.steps[0][0]))
                if known is not None:
                    return convert_values(spec, known)
            return load(root, info)

        async def load(root: Any, info: Info) -> Any:
            return convert_values(spec, await follow(info.context, str(root.id), spec))

        scalar.__annotations__["return"] = python_type(spec)
        scalar.__data__ = spec  # type: ignore[attr-defined]  # read by api.graphql.lookahead
        return strawberry.field(resolver=plain(scalar), description=description)

    target = spec.target
    if not spec.many:

        async def single(root: Any, info: Info) -> Any:
            return single_of(target, await follow(info.context, str(root.id), spec))

        single.__annotations__["return"] = python_type(spec)
        single.__data__ = spec  # type: ignore[attr-defined]
        return strawberry.field(resolver=single, description=description)

    async def many(root: Any, info: Info, first: int | None = None, after: str | None = None) -> Any:
        offset, size = page_window(first, after)
        values = await follow(info.context, str(root.id), spec, also=selected_props(info, target))
        page = connection_of(target, values, offset, size)
        await prefetch(info, target, [str(e.node.id) for e in page.edges])
        return page

    many.__annotations__["return"] = python_type(spec)
    many.__data__ = spec  # type: ignore[attr-defined]
    return strawberry.field(resolver=many, description=description)


def convert_values(spec: P, values: list[Any]) -> Any:
    """The value of scalar field ``spec`` from the RDF terms at the end of its path.

    >>> labels = [ox.Literal("skill", language="en"), ox.Literal("compétence", language="fr")]
    >>> convert_values(FIELDS["Skill"].fields["label"], labels)
    'compétence'
    """
    if spec.many:
        return sorted(v for v in (to_python(t, spec.datatype) for t in values) if v is not None)
    if spec.datatype == "rdf:langString" and spec.path.endswith("rdf:value"):
        texts = [t.value for t in values]
        return " ".join(texts) if texts else None
    term = (
        pick_language(values)
        if spec.datatype == "rdf:langString"
        else (sorted(values, key=str)[0] if values else None)
    )
    return to_python(term, spec.datatype) if term is not None else None


@functools.cache
def converter(spec: P) -> Callable[[list[Any]], Any]:
    """:func:`convert_values` for ``spec``, with its usual case made direct: one value of a
    single-valued field is that value converted (no language to pick, nothing to sort). The look-ahead
    converts hundreds of values per answer with it.

    >>> label = FIELDS["Skill"].fields["label"]
    >>> converter(label)([ox.Literal("compétence", language="fr")])
    'compétence'
    >>> converter(label)([ox.Literal("skill", language="en"), ox.Literal("compétence", language="fr")])
    'compétence'
    """
    if spec.many or (spec.datatype == "rdf:langString" and spec.path.endswith("rdf:value")):
        return functools.partial(convert_values, spec)
    datatype = spec.datatype
    text = datatype in ("xsd:string", "rdf:langString")

    def convert(values: list[Any]) -> Any:
        if len(values) == 1:
            term = values[0]
            return term.value if text and type(term) is ox.Literal else to_python(term, datatype)
        return convert_values(spec, values)

    return convert


def single_of(target: str, values: list[Any]) -> Any:
    """The resource a single link leads to (the first IRI in order when the graph holds several)."""
    iris = sorted(v.value for v in values if isinstance(v, ox.NamedNode))
    return make(target, iris[0]) if iris else None


def connection_of(target: str, values: list[Any], offset: int, size: int) -> Any:
    """The page of a link list: its distinct resources in IRI order."""
    iris = sorted({v.value for v in values if isinstance(v, ox.NamedNode)})
    return page_of_list(target, iris, offset, size)


def page_of_list(target: str, iris: Sequence[str], offset: int, size: int) -> Any:
    """The connection of the page ``offset``/``size`` of the resources ``iris`` (in that order):
    only the page's resources are built (a fiche's 60 skills, a page of 20 shown).

    >>> page = page_of_list("Skill", ["http://x/1", "http://x/2", "http://x/3"], 1, 1)
    >>> [str(e.node.id) for e in page.edges], page.page_info.has_next_page, page._total
    (['http://x/2'], True, 3)
    """
    nodes = [make(target, i) for i in iris[offset : offset + size]]
    return connection_from_list(nodes, offset, size, total=len(iris), has_more=offset + size < len(iris))


# --- Plain records for the look-ahead executor ------------------------------------------------------
#
# The look-ahead executor (api.graphql.lookahead) completes the pages and resources it builds itself:
# it reads their attributes (``id``, ``edges``, ``node``, ``cursor``, ``page_info``...) and nothing else,
# and never hands them to graphql-core (when it gives an object back, it is the resolver's, and
# graphql-core runs the resolvers below it again). For them, plain records with the same attribute
# names stand in for the strawberry objects: a strawberry type's instance cost ~2 µs to build (its
# dataclass sets every field), an edge ~1.7 µs; a deep answer builds ~250 of them.


class Ref:
    """A resource the look-ahead completes: only its IRI, ``id``, is read (:func:`make`'s stand-in)."""

    __slots__ = ("id",)

    def __init__(self, iri: str) -> None:
        self.id = iri


class LightEdge:
    """An edge (:class:`Edge`, an occupation's skill edge with its flags)."""

    __slots__ = ("core", "cursor", "emerging", "node")

    def __init__(self, cursor: str, node: Any, core: bool = False, emerging: bool = False) -> None:
        self.cursor, self.node, self.core, self.emerging = cursor, node, core, emerging


class LightPageInfo:
    """:class:`PageInfo`'s stand-in."""

    __slots__ = ("end_cursor", "has_next_page", "has_previous_page", "start_cursor")

    def __init__(self, edges: Sequence[LightEdge], offset: int, has_next: bool) -> None:
        self.has_next_page, self.has_previous_page = has_next, offset > 0
        self.start_cursor = edges[0].cursor if edges else None
        self.end_cursor = edges[-1].cursor if edges else None


class LightConnection:
    """:class:`Connection`'s stand-in (``_total``; ``total_count`` for an occupation's skills)."""

    __slots__ = ("_total", "edges", "page_info", "total_count")

    def __init__(self, edges: list[LightEdge], offset: int, has_next: bool, total: int) -> None:
        self.edges, self.page_info = edges, LightPageInfo(edges, offset, has_next)
        self._total = self.total_count = total


def light_single(values: list[Any]) -> Ref | None:
    """:func:`single_of` for the look-ahead.

    >>> light_single([ox.NamedNode("http://x/2"), ox.NamedNode("http://x/1")]).id
    'http://x/1'
    """
    iris = sorted(v.value for v in values if isinstance(v, ox.NamedNode))
    return Ref(iris[0]) if iris else None


def light_page(values: list[Any], offset: int, size: int) -> LightConnection:
    """:func:`connection_of` for the look-ahead: the page ``offset``/``size`` of the distinct
    resources of ``values`` in IRI order, the same edges, cursors, page information and total.

    >>> values = [ox.NamedNode(f"http://x/{i}") for i in (3, 1, 2, 1)]
    >>> light, page = light_page(values, 1, 1), connection_of("Skill", values, 1, 1)
    >>> [(e.cursor, e.node.id) for e in light.edges] == [(e.cursor, e.node.id) for e in page.edges]
    True
    >>> info = ("has_next_page", "has_previous_page", "start_cursor", "end_cursor")
    >>> [getattr(light.page_info, a) for a in info] == [getattr(page.page_info, a) for a in info]
    True
    >>> light._total == page._total == 3
    True
    """
    iris = sorted({v.value for v in values if isinstance(v, ox.NamedNode)})
    page = iris[offset : offset + size]
    edges = [LightEdge(encode_cursor(offset + i), Ref(iri)) for i, iri in enumerate(page)]
    return LightConnection(edges, offset, offset + size < len(iris), len(iris))


def _selected(selections: Sequence[Any], path: tuple[str, ...]) -> set[str]:
    """Names of the fields selected under ``path`` (e.g. ("edges", "node")), through fragments."""
    out: set[str] = set()
    for sel in selections:
        name = getattr(sel, "name", None)
        if isinstance(sel, InlineFragment | FragmentSpread):
            out |= _selected(sel.selections, path)
        elif not path:
            if name:
                out.add(name)
        elif name == path[0]:
            out |= _selected(sel.selections, path[1:])
    return out


PAGE_PATHS = (("edges", "node"), ("nodes",))


def kind_of(info: Info, iri: str, kinds: type[enum.Enum]) -> Any:
    """The most specific member of ``kinds`` among the resource's classes: at once when its types
    were prefetched, else an awaitable (graphql-core awaits what a resolver returns)."""
    from api.graphql.enums import most_specific

    known = info.context.known.get((iri, RDF_TYPE))
    if known is not None:
        return most_specific(kinds, {t.value for t in known})

    async def load() -> Any:
        types = await info.context.values.load((iri, RDF_TYPE))
        return most_specific(kinds, {t.value for t in types})

    return load()


def selected_props(
    info: Info, type_name: str, paths: Sequence[tuple[str, ...]] = PAGE_PATHS
) -> list[str]:
    """The direct properties the query reads on the nodes of a page of ``type_name``: the scalar
    fields' and the first step of the links' (a nested list then starts from values at hand)."""
    if type_name not in FIELDS:
        return []
    # The same field of every node of a list asks the same: work it out once per request.
    memo = info.context.memo
    key = (id(info._raw_info.field_nodes[0]), type_name, tuple(paths))
    if key in memo:
        return memo[key]
    names: set[str] = set()
    for selected in info.selected_fields:
        for path in paths:
            names |= _selected(selected.selections, path)
    fields = FIELDS[type_name].fields
    props = {
        fields[n].steps[0][0]
        for n in names
        if n in fields
        and not fields[n].steps[0][1]
        and (len(fields[n].steps) == 1 or fields[n].target is None)
    }
    if "kind" in names:
        props.add(RDF_TYPE)
    memo[key] = sorted(props)
    return memo[key]


@functools.cache
def single_props(type_name: str) -> tuple[str, ...]:
    """The properties of the single-valued scalar fields of ``type_name`` (a code, a label, a level).

    >>> [p.rsplit("#", 1)[-1] for p in single_props("SkillBlock")]
    ['prefLabel', 'code']
    """
    return tuple(
        sorted(
            {
                spec.steps[0][0]
                for spec in FIELDS[type_name].fields.values()
                if spec.target is None and not spec.many and len(spec.steps) == 1 and not spec.steps[0][1]
            }
        )
    )


async def prefetch(
    info: Info, type_name: str, iris: Sequence[str], paths: Sequence[tuple[str, ...]] = PAGE_PATHS
) -> None:
    """Read in one batch the direct properties the query selects on the nodes of a page, so that
    their fields resolve at once (a task per field was most of the time of large responses)."""
    props = selected_props(info, type_name, paths) if iris else []
    if props:
        ctx: Context = info.context
        await ctx.values.load_many([(iri, p) for iri in iris for p in props])


def _asks_total(info: Info) -> bool:
    """Whether the request reads ``totalCount`` on the connection ``info`` resolves (through fragments)."""
    memo = info.context.memo
    key = (id(info._raw_info.field_nodes[0]), "totalCount")
    if key not in memo:
        memo[key] = any("totalCount" in _selected(f.selections, ()) for f in info.selected_fields)
    return bool(memo[key])


async def page_of_query(
    info: Info,
    type_name: str,
    query: str,
    params: dict[str, Any],
    order: tuple[str, bool],
    first: int | None,
    after: str | None,
) -> Any:
    """A connection over a list query of ``queries/api``: the store orders and pages the selection
    (``QueryRunner.page``: one row per resource), and counts it only when ``totalCount`` is asked."""
    offset, size = page_window(first, after)
    ctx: Context = info.context
    key, descending = order
    # One row more than the page tells whether a next page exists without counting.
    # The fields the request reads on the page are read with it (one store query, not two).
    found: dict[tuple[str, str], list[Any]] = {}
    props = selected_props(info, type_name)
    # So is the count, when the request asks for `totalCount` (a second query, and a thread hand-off, less).
    counted: list[int] | None = [] if _asks_total(info) else None
    rows = await ctx.runner.page(
        query,
        params,
        key,
        descending,
        size + 1,
        offset,
        ctx.build_key,
        props,
        found,
        single_props(type_name),
        counted,
    )
    ctx.values.prime(found)
    seen = list(dict.fromkeys(row["s"].value for row in rows))
    nodes = [make(type_name, i) for i in seen[:size]]
    await prefetch(info, type_name, seen[:size])

    async def total() -> int:
        if len(seen) <= size and (seen or offset == 0):  # the last page: no need to count
            return offset + len(seen)
        known = ctx.runner.known_total(query, params, descending, ctx.build_key) if key == "label" else None
        if known is None and counted:
            known = counted[0]
        return known if known is not None else await ctx.runner.count_rows(query, params)

    return connection_from_list(nodes, offset, size, total=total, has_more=len(seen) > size)  # type: ignore[arg-type]


@strawberry.enum(description="Orderings of top-level lists.")
class Order(enum.Enum):
    CODE = "CODE"
    CODE_DESC = "CODE_DESC"
    LABEL = "LABEL"
    LABEL_DESC = "LABEL_DESC"
    DATE = "DATE"
    DATE_DESC = "DATE_DESC"


ORDER_BY: dict[Order, tuple[str, bool]] = {
    Order.CODE: ("code", False),
    Order.CODE_DESC: ("code", True),
    Order.LABEL: ("label", False),
    Order.LABEL_DESC: ("label", True),
    Order.DATE: ("date", False),
    Order.DATE_DESC: ("date", True),
}


def order_clause(order: Order, query: str, info: Info) -> tuple[str, bool]:
    """The order key and direction of ``order`` for list ``query`` (DATE only where the list has a
    date: its ``#+ date:`` header names the property)."""
    if order in (Order.DATE, Order.DATE_DESC) and "date" not in info.context.runner.queries[query].headers:
        raise ApiError.bad_input(
            f"This list cannot be ordered by date; use {', '.join(o.name for o in Order)[:40]}."
        )
    return ORDER_BY[order]
