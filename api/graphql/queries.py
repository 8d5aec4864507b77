"""The runner of the GraphQL API's named SPARQL queries (``queries/api/*.rq``).

The queries are read, validated and bound by :mod:`kg.queries` (the one parser of named queries:
grlc-style ``#+ params:`` headers with types; ``iris`` lists for the batches of the DataLoaders,
``optional`` parameters for the ``# if ?name`` lines of the list filters). Every store access of the
API goes through :meth:`QueryRunner.select`: user text reaches SPARQL only as pyoxigraph
``substitutions``, IRIs (classes from the API's enums, resource IDs checked against the graph's
``id/`` prefix, batches of IRIs read from the store) as RDF terms in ``VALUES`` slots, each checked
as an IRI first.

>>> runner = QueryRunner(ox.Store(), {})
>>> runner.select_sync("values", values={"s": [ox.NamedNode("http://x/1")], "p": []})
[]
>>> runner.count
1
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import itertools
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from api.graphql.errors import ApiError
from kg.config import PROJECT_ROOT
from kg.queries import NamedQuery, Param, ParameterError
from kg.store import FollowingStore

QUERY_DIR = PROJECT_ROOT / "queries" / "api"
Term = ox.NamedNode | ox.Literal | ox.BlankNode
Row = dict[str, Term]
Substitutions = dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple]


def load_queries(folder: Path = QUERY_DIR) -> dict[str, NamedQuery]:
    """All named queries of ``folder`` by file stem.

    >>> sorted(p.type for p in load_queries()["values"].params)
    ['iris', 'iris']
    """
    return {
        p.stem: NamedQuery.parse(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.rq"))
    }


# --- Paged lists -----------------------------------------------------------------------------------
#
# A list query (``list-*.rq``) holds only the *selection*: which resources (``?s``) the filters keep,
# each filter starting from its constant in a ``VALUES`` slot. The runner adds the order keys and
# the page, and counts without them. How it joins depends on the size of what it pages through:
#
# - a *large* selection (the header ``large: always``, or ``large unless: a, b`` while none of
#   ``a``, ``b`` is given — e.g. all 29,000 certifications) reads its codes and labels by one scan
#   of ``pas:code`` / ``skos:prefLabel`` joined by hash (a sub-SELECT: oxigraph does not push
#   bindings into it), where a look-up per resource costs about 20 µs each (all certifications
#   by code: 0.25 s against 0.75 s); its lines ending ``# if large`` are kept (e.g. the class as a
#   sub-SELECT: 17,810 know-how items are counted in 40 ms, against 180 ms by look-ups);
# - a small one (a ROME code's 40 certifications) looks each key up (1 ms, where a scan and its
#   hash table would cost 0.2 s); its lines ending ``# if small`` are kept.
#
# Label orderings sort on the lower-cased label (French first when a resource has several), with
# the resources without a label last: oxigraph compares long strings by reading them from the
# store at every comparison, while the strings LCASE makes are compared in memory (4 s against
# 1.5 s for the 33,671 skills), and the order no longer puts every capital before every small letter.

_SELECT_HEAD = re.compile(r"\A\s*SELECT\s[^{]*?\bWHERE\s*\{", re.S)
_SIZE_LINE = re.compile(r"#\s*if (large|small)\s*$")
CODE_LOOKUP = "?s pas:code ?_code ."
CODE_SCAN = "{ SELECT ?s ?_code WHERE { ?s pas:code ?_code } }"
LABEL_LOOKUP = "OPTIONAL { ?s skos:prefLabel ?_label }"
LABEL_SCAN = "OPTIONAL { SELECT ?s ?_label WHERE { ?s skos:prefLabel ?_label } }"
LABEL_KEY = 'SUBSTR(MIN(CONCAT(IF(LANGMATCHES(LANG(?_label), "fr"), "0", "1"), LCASE(STR(?_label)))), 2)'
ORDER_KEYS = ("code", "label", "date")
LABEL_ORDERS_KEPT = 8  # whole label orderings of large selections kept per runner (see QueryRunner.page)
SCAN_TRIPLES_PER_PROPERTY = 13  # see QueryRunner.lookup_sync
INLINE_ROWS = 500  # see QueryRunner.joined


def sized(text: str, large: bool) -> str:
    r"""``text`` without the lines meant for the other size (``# if large`` / ``# if small``).

    >>> sized("a\nb # if large\nc # if small", True)
    'a\nb # if large'
    """
    keep = "large" if large else "small"
    lines = []
    for line in text.splitlines():
        match = _SIZE_LINE.search(line)
        if match is None or match.group(1) == keep:
            lines.append(line)
    return "\n".join(lines)


def selection_body(query: NamedQuery, text: str) -> str:
    """The group pattern of a list query's rendered ``text`` (between ``WHERE {`` and the last ``}``).

    >>> q = load_queries()["list-class"]
    >>> selection_body(q, q.prepare({"class": "http://x/Certifier"})[0]).split()
    ['VALUES', '?class', '{', '<http://x/Certifier>', '}', '?s', 'a', '?class', '.']
    """
    head = _SELECT_HEAD.match(text)
    end = text.rstrip().rfind("}")
    if head is None or end < head.end():
        raise ValueError(f"{query.name}: a list query is one SELECT ... WHERE {{ ... }} with no modifiers")
    return text[head.end() : end]


def with_keys(body: str, keys: Sequence[str]) -> str:
    """``body`` with the order keys where its ``# keys`` line stands (inside a LATERAL fence: joined
    to the few resources the filters found, never before them), else at its end.

    >>> with_keys("  ?s a ?c .\\n  # keys", ["?s pas:code ?_code ."])
    '  ?s a ?c .\\n?s pas:code ?_code .'
    """
    lines = body.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == "# keys"), None)
    if at is None:
        return "\n".join([*lines, *keys])
    return "\n".join([*lines[:at], *keys, *lines[at + 1 :]])


def is_large(query: NamedQuery, given: set[str]) -> bool:
    """Whether the selection of ``query`` with the parameters ``given`` is large (see above).

    >>> q = load_queries()["list-certifications"]
    >>> is_large(q, set()), is_large(q, {"kind"}), is_large(q, {"kind", "rome"})
    (True, True, False)
    >>> is_large(load_queries()["list-occupations"], set())
    False
    """
    if query.headers.get("large", "").startswith("always"):
        return True
    unless = query.headers.get("large unless")
    if unless is None:
        return False
    return not given & {name.strip() for name in unless.split(",")}


def page_text(
    query: NamedQuery,
    text: str,
    given: set[str],
    key: str,
    descending: bool,
    limit: int | None,
    offset: int,
    bound: Sequence[str] = (),
) -> str:
    """The page query around the selection ``text``: one row per resource (``?s``), ordered by
    ``key`` (``code``, ``label``, ``date``; then code, then IRI, so that pages never overlap).
    ``bound``: the substituted variables, projected at every level (pyoxigraph binds only those).
    ``limit`` None: the whole ordered selection (no ``LIMIT``/``OFFSET``).

    >>> q = load_queries()["list-certifications"]
    >>> text = q.prepare({"rome": "D1102"})[0]
    >>> page_text(q, text, {"rome"}, "code", False, 101, 0).splitlines()[-4:]
    ['?s pas:code ?_code .', '  }', '}', 'ORDER BY ASC(?_code) ?s LIMIT 101 OFFSET 0']
    >>> page_text(q, q.prepare({})[0], set(), "code", False, 101, 0).splitlines()[-4:-1]
    ['{ SELECT ?s ?_code WHERE { ?s pas:code ?_code } }', '  }', '}']
    """
    if key not in ORDER_KEYS:
        raise ValueError(f"unknown order key {key!r}")
    large = is_large(query, given)
    body = selection_body(query, sized(text, large)).strip("\n")
    keys = [CODE_SCAN if large else CODE_LOOKUP]
    page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
    direction = "DESC" if descending else "ASC"
    extra = "".join(f" ?{name}" for name in bound)
    if key == "label":
        keys.append(LABEL_SCAN if large else LABEL_LOOKUP)
        head = f"{{ SELECT ?s{extra} (MIN(?_code) AS ?code) ({LABEL_KEY} AS ?label) WHERE {{"
        inner = "\n".join([head, with_keys(body, keys), f"}} GROUP BY ?s{extra} }}"])
        return (
            f"SELECT ?s ?code ?label{extra} WHERE {{\n{inner}\n}}\n"
            f"ORDER BY (!BOUND(?label)) {direction}(?label) ?code ?s{page}"
        )
    if key == "date":
        date = query.headers.get("date")
        if date is None:
            raise ValueError(f"{query.name} has no date to order by")
        keys.append(f"OPTIONAL {{ ?s {date} ?_date }}")
        head, sort = f"SELECT DISTINCT ?s ?_code ?_date{extra}", f"{direction}(?_date) ?_code ?s"
    else:
        head, sort = f"SELECT DISTINCT ?s ?_code{extra}", f"{direction}(?_code) ?s"
    where = "\n".join([f"{head} WHERE {{", with_keys(body, keys), "}"])
    return f"{where}\nORDER BY {sort}{page}"


def with_values(
    page: str,
    props: Sequence[str],
    bound: Sequence[str] = (),
    alone: Sequence[str] = (),
    count: str | None = None,
) -> str:
    """The page query ``page`` (from :func:`page_text`) with the values of ``props`` of each of its
    resources, in the page's order (its ``ORDER BY`` again: the page's keys are the sub-SELECT's
    variables). The properties of ``alone`` (those of single-valued fields: a code, a label) are
    one ``OPTIONAL`` each (``?_a0``, ``?_a1``...): an index look-up per resource, cheap; the others
    one ``UNION`` branch each in one ``OPTIONAL`` (``?_p``, ``?_o``: one row per value), where
    ``OPTIONAL``s would multiply the rows of multi-valued properties (a ``UNION`` of the single
    ones cost 1.5–2 times their ``OPTIONAL``s: 5.8 against 3.9 ms for 100 occupations' codes and
    labels; a ``VALUES ?_p`` would be planned as a scan of each whole property).

    >>> q = load_queries()["list-class"]
    >>> page = page_text(q, q.prepare({"class": "http://x/C"})[0], {"class"}, "code", False, 3, 0)
    >>> text = with_values(page, ["http://x/p", "http://x/q"], alone=["http://x/q"])
    >>> text.splitlines()[0], text.splitlines()[-1]
    ('SELECT ?s ?_p ?_o ?_a0 WHERE { {', '} ORDER BY ASC(?_code) ?s')
    >>> "OPTIONAL { { ?s <http://x/p> ?_o . BIND (<http://x/p> AS ?_p) } }" in text
    True
    >>> "OPTIONAL { ?s <http://x/q> ?_a0 }" in text
    True

    ``count``: a :func:`count_text` joined to every row (``?_n``): the selection's size read by the
    same query (it is computed once: a sub-SELECT with no variable shared but the bound ones).

    >>> count = count_text(q, q.prepare({"class": "http://x/C"})[0], {"class"})
    >>> with_values(page, ["http://x/p"], count=count).splitlines()[0]
    'SELECT ?s ?_p ?_o ?_n WHERE { {'
    """
    at = page.rindex("\nORDER BY ")
    sort = page[at + len("\nORDER BY ") :].split(" LIMIT ")[0]
    single = [p for p in alone if p in props]
    terms = [str(ox.NamedNode(p)) for p in props if p not in single]  # checked as IRIs
    lines = [f"OPTIONAL {{ ?s {ox.NamedNode(p)} ?_a{i} }}" for i, p in enumerate(single)]
    if terms:
        branches = " UNION ".join(f"{{ ?s {t} ?_o . BIND ({t} AS ?_p) }}" for t in terms)
        lines.append(f"OPTIONAL {{ {branches} }}")
    head = "".join(f" ?_a{i}" for i in range(len(single))) + "".join(f" ?{name}" for name in bound)
    if count is not None:
        lines.append(f"{{ {count} }}")
        head += " ?_n"
    body = "\n".join(lines)
    return f"SELECT ?s ?_p ?_o{head} WHERE {{ {{\n{page}\n}}\n{body}\n}} ORDER BY {sort}"


def count_text(query: NamedQuery, text: str, given: set[str], bound: Sequence[str] = ()) -> str:
    """How many resources the selection ``text`` holds (no order keys: the class alone for an
    unfiltered list, e.g. 50 ms for all certifications where counting with their codes took 0.5 s).

    >>> q = load_queries()["list-class"]
    >>> count_text(q, q.prepare({"class": "http://x/C"})[0], {"class"}).split()[:6]
    ['SELECT', '(COUNT(DISTINCT', '?s)', 'AS', '?_n)', 'WHERE']
    """
    body = selection_body(query, sized(text, is_large(query, given)))
    extra = "".join(f" ?{name}" for name in bound)
    group = f" GROUP BY{extra}" if extra else ""
    return f"SELECT (COUNT(DISTINCT ?s) AS ?_n){extra} WHERE {{{body}}}{group}"


@dataclass(frozen=True)
class Hop:
    """One link followed from a level's resources inside the level's own query (:meth:`QueryRunner.joined`).

    ``forward``: the targets of ``link`` (``?_r <link> ?s``) and their properties ``props``, read by a
    scan of each target (``scan``) or a look-up per property. Not ``forward``: the resources of
    class ``of`` pointing to the nodes (``?s <link> ?_m . ?s a <of>``), the nodes being the level's
    resources (``first`` None) or the values of ``first`` on them (``?_r <first> ?_m``): their IRIs
    only, as ``inverse.rq`` reads them (they may be many: their fields are read with their page).
    """

    forward: bool
    link: str
    props: tuple[str, ...] = ()
    scan: bool = True
    first: str | None = None
    of: str = ""


_CHECK = Param("s", "iris", None, "a resource")


@functools.lru_cache(maxsize=16384)  # the same IRIs in every request's texts (a fiche's skills...)
def iri_term(iri: str) -> str:
    """``<iri>`` for a query text, checked as ``iris`` parameters are (an absolute http(s) IRI,
    pyoxigraph's syntax): resource IDs may come from a client (``node(id:)``).

    >>> iri_term("https://x/1")
    '<https://x/1>'
    >>> iri_term("https://x/> } DROP ALL #")
    Traceback (most recent call last):
    ...
    api.graphql.errors.ApiError: parameter 's' must be an absolute http(s) IRI, got 'https://x/> } DROP ALL #'
    """
    try:
        node = ox.NamedNode(iri)
    except ValueError:
        node = None
    try:
        _CHECK.term(node if node is not None else iri)
    except ParameterError as exc:
        raise ApiError.bad_input(str(exc)) from None
    assert node is not None
    return str(node)


def _lookups(props: Sequence[str]) -> str:
    return " UNION ".join(f"{{ ?s {t} ?o . BIND ({t} AS ?p) }}" for t in map(iri_term, props))


def joined_text(
    scan: Sequence[str],
    seek: Sequence[str],
    props: Sequence[str],
    parents: Sequence[str],
    hops: Sequence[Hop],
) -> str:
    """One query for a level's properties and the next hop of its links (:meth:`QueryRunner.joined`),
    one ``UNION`` branch each. The level's resources are read by a scan (``scan``) or by look-ups
    (``seek``) as :meth:`QueryRunner.lookup_sync` chooses; a hop's resources are reached by a join
    from ``parents``, never listed (no IRIs of theirs in the text). Each row is a triple (``?s ?p
    ?o``), or for an inverse hop a resource pointing to a node (``?_m``), ``?p`` and ``?o`` then
    being the hop's link and class: the loaders' keys. ``DISTINCT``: a target reached from several
    parents, or by two branches, is read once (the store's triples form a set: nothing else is
    merged). Every IRI is checked (:func:`iri_term`); no client value is written here.

    >>> hop = Hop(True, "http://x/link", ("http://x/p",))
    >>> text = joined_text([], ["http://x/1"], ["http://x/q"], ["http://x/1"], [hop])
    >>> for line in text.splitlines():
    ...     print(line.replace("http://x/", ""))
    SELECT DISTINCT ?_m ?s ?p ?o WHERE {
      { VALUES ?s { <1> } { ?s <q> ?o . BIND (<q> AS ?p) } }
      UNION { VALUES ?_r { <1> } ?_r <link> ?s . ?s ?p ?o FILTER (?p IN (<p>)) }
    }
    """
    branches = []
    if scan:
        keep = ", ".join(map(iri_term, props))
        listed = " ".join(map(iri_term, scan))
        branches.append(f"{{ VALUES ?s {{ {listed} }} ?s ?p ?o FILTER (?p IN ({keep})) }}")
    if seek:
        branches.append(f"{{ VALUES ?s {{ {' '.join(map(iri_term, seek))} }} {_lookups(props)} }}")
    roots = " ".join(map(iri_term, parents))
    for hop in hops:
        if hop.forward:
            reach = f"VALUES ?_r {{ {roots} }} ?_r {iri_term(hop.link)} ?s ."
            if hop.scan:
                read = f"?s ?p ?o FILTER (?p IN ({', '.join(map(iri_term, hop.props))}))"
            else:
                read = _lookups(hop.props)
            branches.append(f"{{ {reach} {read} }}")
        else:
            nodes = (
                f"VALUES ?_m {{ {roots} }}"
                if hop.first is None
                else f"VALUES ?_r {{ {roots} }} ?_r {iri_term(hop.first)} ?_m ."
            )
            link, of = iri_term(hop.link), iri_term(hop.of)
            branches.append(f"{{ {nodes} ?s {link} ?_m . ?s a {of} BIND ({link} AS ?p) BIND ({of} AS ?o) }}")
    body = "\n  UNION ".join(branches)
    return f"SELECT DISTINCT ?_m ?s ?p ?o WHERE {{\n  {body}\n}}"


@dataclass
class QueryRunner:
    """Runs named queries on a store in a small thread pool, counting them (tests check N+1 with it)."""

    store: ox.Store
    prefixes: dict[str, str]
    queries: dict[str, NamedQuery] = field(default_factory=load_queries)
    executor: ThreadPoolExecutor | None = None
    count: int = 0
    degrees: dict[str, int] = field(default_factory=dict)  # triples of a resource, by kind (lookup_sync)
    hop_degrees: dict[str, int] = field(default_factory=dict)  # of a link's first target met (joined_sync)
    # The most resources an inverse hop found pointing to one node, by (link, class) (joined_sync).
    fan_in: dict[tuple[str, str], int] = field(default_factory=dict)
    # Label orderings of large selections, by (build, list, filters, direction): see page().
    orders: dict[tuple[object, ...], concurrent.futures.Future[list[Term]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(
        self,
        name: str,
        params: Mapping[str, Term | None] | None,
        values: Mapping[str, Sequence[Term]] | None,
    ) -> tuple[str, Substitutions]:
        """The text and substitutions of query ``name`` (a refused value is a BAD_USER_INPUT)."""
        given: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        given.update(values or {})
        try:
            return self.queries[name].prepare(given)
        except ParameterError as exc:
            raise ApiError.bad_input(str(exc)) from None

    def select_sync(
        self,
        name: str,
        params: Mapping[str, Term | None] | None = None,
        values: Mapping[str, Sequence[Term]] | None = None,
        tail: str = "",
    ) -> list[Row]:
        """Run query ``name`` and return its rows as dicts (unbound variables left out).

        ``params`` are single values (``None`` means "not given": the ``# if`` lines go), ``values``
        the ``iris`` lists; ``tail`` is solution modifiers the caller builds from validated
        integers and fixed orders.
        """
        text, substitutions = self.prepare(name, params, values)
        return self.run_sync(text + tail, substitutions)

    def run_sync(self, text: str, substitutions: Substitutions | None = None) -> list[Row]:
        """Run a prepared query text and return its rows as dicts (unbound variables left out)."""
        result = self._solutions(text, substitutions or {})
        names = [v.value for v in result.variables]
        # By position (zip), not by name: a third of the time of reading long results.
        rows: list[Row] = [
            {n: t for n, t in zip(names, solution, strict=True) if t is not None} for solution in result
        ]
        del result  # pyoxigraph results stay on the thread that made them
        return rows

    def _solutions(self, text: str, substitutions: Substitutions) -> ox.QuerySolutions:
        """The solutions of a SELECT, counted (the N+1 tests read :attr:`count`)."""
        with self._lock:
            self.count += 1
        result = self.store.query(text, prefixes=self.prefixes, substitutions=substitutions)
        assert isinstance(result, ox.QuerySolutions)
        return result

    def _scan_or_seek(self, subjects: Sequence[str], props: Sequence[str]) -> tuple[list[str], list[str]]:
        """``subjects`` split into those read by a scan and those looked up per property (the
        choice :meth:`lookup_sync` explains; all looked up on a store that is not embedded)."""
        local = self.local_store()
        if local is None or len(props) < 2:  # (no degree counted when no scan can pay)
            return [], list(subjects)
        scan = [s for s in subjects if _scan_pays(self._degree(local, s), len(props))]
        if not scan:
            return [], list(subjects)
        cheap = set(scan)
        return scan, [s for s in subjects if s not in cheap]

    def lookup_sync(self, subjects: Sequence[str], props: Sequence[str]) -> dict[tuple[str, str], list[Term]]:
        """The objects of the pairs of ``subjects`` × ``props``, by pair: one store query for the
        batch, or two when it mixes resources with few and with many triples.

        ``values.rq`` looks each (resource, property) pair up: about one index seek each.
        ``values-scan.rq`` reads each resource's triples by one scan and keeps the asked properties:
        half the time for a page of skills, blocs or certifications (a few triples each, several
        properties asked), three times more for occupations (about 110 triples each). The choice is
        made by the kind of resource (its IRI up to the last ``/``), from the number of triples of
        the first one met (one count per kind, kept: it changes the speed, never the answer). A
        scan costs about a seek plus 1/13 of a seek per triple, so it wins when a resource has
        fewer than 13 triples per property asked beyond the first. A store that is not embedded
        (a remote one, a proxy) is always asked ``values.rq``.

        The rows are read by position, not as dicts by name: a page of 100 resources' fields
        returns hundreds of rows, and the dicts cost more than the store's work.

        >>> store = ox.Store()
        >>> store.add(ox.Quad(ox.NamedNode("http://x/1"), ox.NamedNode("http://x/p"), ox.Literal("a")))
        >>> found = QueryRunner(store, {}).lookup_sync(["http://x/1", "http://x/2"], ["http://x/p"])
        >>> {k: [t.value for t in v] for k, v in found.items()}
        {('http://x/1', 'http://x/p'): ['a']}
        """
        found: dict[tuple[str, str], list[Term]] = {}
        scan, seek = self._scan_or_seek(subjects, props)
        for name, batch in (("values-scan", scan), ("values", seek)):
            if not batch:
                continue
            text, substitutions = self.prepare(
                name, None, {"s": [ox.NamedNode(s) for s in batch], "p": [ox.NamedNode(p) for p in props]}
            )
            result = self._solutions(text, substitutions)
            for s, p, o in result:
                _collect(found, s, p, o)
            del result  # pyoxigraph results stay on the thread that made them
        return found

    def joined_sync(
        self, subjects: Sequence[str], props: Sequence[str], hops: Sequence[Hop]
    ) -> tuple[dict[tuple[str, str], list[Term]], dict[tuple[str, str, str], list[str]]]:
        """The objects of ``subjects`` × ``props`` (as :meth:`lookup_sync` finds them) and, in the same
        store query (:func:`joined_text`), the next hop of some of their links: one query where a
        level and each of its links made one each (the look-ahead executor's levels:
        ``api.graphql.lookahead``). Returned: the objects by (resource, property), for the level's
        resources and every forward hop's targets (a pair absent: no value, when the property is one
        a branch reading that resource reads); the sorted IRIs of the resources pointing to each
        node of an inverse hop, by (node, link, class) (``inverse.rq``'s answer).

        A hop reads its targets by a scan or by look-ups as :meth:`lookup_sync` chooses, from the
        triples of the first target met through that link (:meth:`note_hop`).

        >>> store = ox.Store()
        >>> x = lambda n: ox.NamedNode(f"http://x/{n}")
        >>> for s, p, o in [(1, "link", 2), (3, "link", 2), (2, "p", "a"), (4, "link", 1)]:
        ...     store.add(ox.Quad(x(s), x(p), x(o) if isinstance(o, int) else ox.Literal(o)))
        >>> store.add(ox.Quad(x(4), ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), x("C")))
        >>> hop = Hop(True, "http://x/link", ("http://x/p",))
        >>> back = Hop(False, "http://x/link", of="http://x/C")
        >>> runner = QueryRunner(store, {})
        >>> found, behind = runner.joined_sync(["http://x/1", "http://x/3"], [], [hop, back])
        >>> {k: [t.value for t in v] for k, v in found.items()}, behind
        ({('http://x/2', 'http://x/p'): ['a']}, {('http://x/1', 'http://x/link', 'http://x/C'): ['http://x/4']})
        """
        local = self.local_store()
        scan, seek = self._scan_or_seek(subjects, props) if props else ([], [])
        hops = [
            dataclasses.replace(
                hop, scan=local is not None and _scan_pays(self.hop_degrees.get(hop.link, 0), len(hop.props))
            )
            if hop.forward
            else hop
            for hop in hops
        ]
        result = self._solutions(joined_text(scan, seek, props, subjects, hops), {})
        found: dict[tuple[str, str], list[Term]] = {}
        behind: dict[tuple[str, str, str], list[str]] = {}
        for node, s, p, o in result:
            if node is None:  # (_collect, inline: a few hundred rows per level)
                key = (s.value, p.value)
                objects = found.get(key)
                if objects is None:
                    found[key] = [o]
                else:
                    objects.append(o)
            else:
                behind.setdefault((node.value, p.value, o.value), []).append(s.value)
        del result  # pyoxigraph results stay on the thread that made them
        fan_in = self.fan_in
        for hop in hops:
            if not hop.forward:
                fan_in.setdefault((hop.link, hop.of), 0)
        for (_, link, of), iris in behind.items():
            if len(iris) > fan_in.get((link, of), 0):
                fan_in[(link, of)] = len(iris)
        return found, {key: sorted(iris) for key, iris in behind.items()}

    async def joined(
        self, subjects: Sequence[str], props: Sequence[str], hops: Sequence[Hop]
    ) -> tuple[dict[tuple[str, str], list[Term]], dict[tuple[str, str, str], list[str]]]:
        """:meth:`joined_sync` in the calling thread, or in the thread pool when it follows an inverse
        link that may lead to many resources (as for ``inverse.rq``: all the offers of a fiche).

        An inverse link is followed in the calling thread when the most resources the earlier
        queries of this runner found pointing to one node through it, times the level's resources,
        is at most :data:`INLINE_ROWS` (a fiche's certifications through its v3 code, its
        appellations; not a page of 100 fiches' offers): the hand-off to a thread, and a thread
        iterating rows while the event loop holds the GIL, cost ~1 ms of CPU per deep request
        (``docs/guides/graphql-joined.md``). A link not met yet goes to the thread pool. It changes where
        the query runs, never its answer."""
        fan_in, unknown = self.fan_in, INLINE_ROWS + 1
        most = INLINE_ROWS // max(len(subjects), 1)
        if all(hop.forward or fan_in.get((hop.link, hop.of), unknown) <= most for hop in hops):
            return self.joined_sync(subjects, props, hops)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.joined_sync, subjects, props, hops)

    def note_hop(self, link: str, target: str) -> None:
        """Keep the number of triples of ``target``, the first resource met through ``link``: the
        next hops of that link scan their targets or look their properties up by it."""
        local = self.local_store()
        if local is not None and link not in self.hop_degrees:
            self.hop_degrees[link] = self._degree(local, target)

    def local_store(self) -> ox.Store | None:
        """The embedded store under :attr:`store`, or None for any other back-end."""
        store: Any = self.store
        if isinstance(store, FollowingStore):
            store = store.store
        return store if isinstance(store, ox.Store) else None

    def _degree(self, store: ox.Store, subject: str) -> int:
        """The number of triples (up to 1,000) of the first resource met of ``subject``'s kind."""
        head, _, tail = subject.rpartition("/")
        kind = head + "#" if "#" in tail else head  # a fiche's sentences are not the fiche
        degree = self.degrees.get(kind)
        if degree is None:
            quads = store.quads_for_pattern(ox.NamedNode(subject), None, None, ox.DefaultGraph())
            degree = self.degrees[kind] = sum(1 for _ in itertools.islice(quads, 1000))
        return degree

    async def select(
        self,
        name: str,
        params: Mapping[str, Term | None] | None = None,
        values: Mapping[str, Sequence[Term]] | None = None,
        tail: str = "",
        inline: bool = False,
    ) -> list[Row]:
        """:meth:`select_sync` in the runner's thread pool (the event loop never blocks on the store).

        ``inline``: run it in the calling thread instead, for the short look-ups of a batch of known
        resources (at most a page of IRIs, properties by index): the hand-off to a thread cost more
        than such a query, and a thread iterating results while the event loop runs Python waits
        for the GIL at every row (a 12 ms query took 100 ms and more inside a request).
        """
        if inline:
            return self.select_sync(name, params, values, tail)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.select_sync, name, params, values, tail)

    def list_texts(
        self, name: str, params: Mapping[str, Term | None] | None
    ) -> tuple[NamedQuery, str, set[str], Substitutions]:
        """The list query ``name``, its selection rendered for ``params``, the parameters given and
        the substitutions (the free-text values)."""
        text, substitutions = self.prepare(name, params, None)
        given = {k for k, v in (params or {}).items() if v is not None}
        return self.queries[name], text, given, substitutions

    async def page(
        self,
        name: str,
        params: Mapping[str, Term | None] | None,
        key: str,
        descending: bool,
        limit: int,
        offset: int,
        build: object = None,
        props: Sequence[str] = (),
        found: dict[tuple[str, str], list[Term]] | None = None,
        alone: Sequence[str] = (),
        counted: list[int] | None = None,
    ) -> list[Row]:
        """One page of list query ``name`` (rows with ``?s``, in order), in the thread pool.

        ``props`` and ``found``: the properties the request reads on the page's resources, read by
        the same store query (:func:`with_values`: joined to the page, a third of the time of a
        separate look-up of 100 occupations' codes and labels) into ``found``, by (resource,
        property), every pair of the page present (an empty list: no value); ``alone``: those of
        single-valued fields (see :func:`with_values`); ``counted``: given, the size of the whole
        selection is read by the same query and appended to it (not when the page is empty). Not for
        a kept label ordering (below), whose pages are read without a query.

        A label ordering of a *large* selection (all 33,671 skills, all certifications...) must read
        and lower-case every label before the first row: 1.3–3 s on the full graph, for every page.
        With ``build`` (the served store build: its data never change) the whole ordering, one row
        per resource, is computed once by the same query without ``LIMIT`` and its resources kept (at most
        :data:`LABEL_ORDERS_KEPT`, the oldest dropped): each page is then a slice of it, in exactly
        the order the paged query gives, and :meth:`known_total` is its length.
        """
        query, text, given, subs = self.list_texts(name, params)
        bound = sorted(v.value for v in subs)
        loop = asyncio.get_running_loop()
        if build is not None and key == "label" and is_large(query, given):
            whole = page_text(query, text, given, key, descending, None, 0, bound)
            future, new = self._order_future(self._order_key(build, name, params, descending))
            if new:
                try:
                    rows = await loop.run_in_executor(self.executor, self.run_sync, whole, subs)
                except BaseException as exc:  # forgotten: the next request tries again
                    with self._lock:
                        self.orders = {k: f for k, f in self.orders.items() if f is not future}
                    future.set_exception(exc)
                    raise
                future.set_result([row["s"] for row in rows])  # the resources only: 33,671 skills, ~5 MB
            kept = await asyncio.wrap_future(future)
            return [{"s": resource} for resource in kept[offset : offset + limit]]
        full = page_text(query, text, given, key, descending, limit, offset, bound)
        # A back-end other than the embedded store binds the parameters by a VALUES block first in
        # the outer WHERE group (kg.remote_store.bind): around the page's sub-SELECT it would join
        # after the page's LIMIT, so the page would be cut from the unfiltered selection. Such a
        # filtered page is read alone, and its fields by look-ups, as before.
        if not props or found is None or (bound and self.local_store() is None):
            return await loop.run_in_executor(self.executor, self.run_sync, full, subs)
        single = [p for p in alone if p in props]
        count = None if counted is None else count_text(query, text, given, bound)
        text = with_values(full, props, bound, single, count)
        rows = await loop.run_in_executor(self.executor, self.run_sync, text, subs)
        if counted is not None and rows and "_n" in rows[0]:
            counted.append(int(rows[0]["_n"].value))
        values: dict[tuple[str, str], dict[Term, None]] = {}
        slots = [(f"_a{i}", p) for i, p in enumerate(single)]
        for row in rows:  # (a value repeated over rows is kept once: two codes, two labels...)
            subject = row["s"].value
            for prop in props:
                values.setdefault((subject, prop), {})
            if "_p" in row:
                values[(subject, row["_p"].value)][row["_o"]] = None
            for name, prop in slots:
                if name in row:
                    values[(subject, prop)][row[name]] = None
        found.update((pair, list(objects)) for pair, objects in values.items())
        return rows

    def known_total(
        self, name: str, params: Mapping[str, Term | None] | None, descending: bool, build: object
    ) -> int | None:
        """The number of resources of a kept label ordering (see :meth:`page`), or None."""
        future = self.orders.get(self._order_key(build, name, params, descending))
        if future is None or not future.done() or future.exception() is not None:
            return None
        return len(future.result())

    @staticmethod
    def _order_key(
        build: object, name: str, params: Mapping[str, Term | None] | None, descending: bool
    ) -> tuple[object, ...]:
        given = tuple(sorted((k, str(v)) for k, v in (params or {}).items() if v is not None))
        return (build, name, given, descending)

    def _order_future(self, key: tuple[object, ...]) -> tuple[concurrent.futures.Future[list[Term]], bool]:
        """The kept (or being computed) ordering of ``key``, and whether the caller must compute it."""
        with self._lock:
            future = self.orders.get(key)
            if future is not None:
                return future, False
            while len(self.orders) >= LABEL_ORDERS_KEPT:
                self.orders.pop(next(iter(self.orders)))
            future = self.orders[key] = concurrent.futures.Future()
            return future, True

    async def count_rows(self, name: str, params: Mapping[str, Term | None] | None = None) -> int:
        """How many resources list query ``name`` selects, counted by the store."""
        query, text, given, subs = self.list_texts(name, params)
        full = count_text(query, text, given, sorted(v.value for v in subs))
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(self.executor, self.run_sync, full, subs)
        return int(rows[0]["_n"].value) if rows and "_n" in rows[0] else 0


def _collect(found: dict[tuple[str, str], list[Term]], s: Term, p: Term, o: Term) -> None:
    """Add ``o`` to the objects of (``s``, ``p``) in ``found`` (the look-ups' and joined queries'
    answer: objects by resource and property, in the store's order).

    >>> found = {}
    >>> for o in ("a", "b"):
    ...     _collect(found, ox.NamedNode("http://x/s"), ox.NamedNode("http://x/p"), ox.Literal(o))
    >>> [o.value for o in found[("http://x/s", "http://x/p")]]
    ['a', 'b']
    """
    key = (s.value, p.value)
    objects = found.get(key)
    if objects is None:
        found[key] = [o]
    else:
        objects.append(o)


def _scan_pays(degree: int, props: int) -> bool:
    """Whether reading a resource of ``degree`` triples by one scan is cheaper than looking its
    ``props`` properties up one by one (a scan costs about a seek plus 1/13 of a seek per triple).

    >>> _scan_pays(5, 3), _scan_pays(110, 3), _scan_pays(5, 1)
    (True, False, False)
    """
    return props > 1 and degree < SCAN_TRIPLES_PER_PROPERTY * (props - 1)
