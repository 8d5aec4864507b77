"""The named SPARQL queries of the GraphQL API (``queries/api/*.rq``) and the runner that executes them.

Every store access of the API goes through :meth:`QueryRunner.select`: user text reaches SPARQL only
as pyoxigraph ``substitutions`` (bound by a triple pattern or compared in a FILTER), never by formatting
it into the query. IRIs (classes from the API's enums, resource IDs validated by ``ox.NamedNode`` and
the graph's ``id/`` prefix, batches of IRIs read from the store) go into ``VALUES`` slots written from
pyoxigraph terms: oxigraph's planner sees them (a substituted class makes it scan the wrong index
first: 8 s instead of 0.2 s for the labels of the occupations on the real graph).

A query file starts with header comments::

    #+ summary: what the query returns
    #+ params: ?code (substitution) ; VALUES ?s (batch of resources)

Optional parts are lines ending with ``# if ?name``: they stay in the query only when the parameter
``name`` is given (a free variable would otherwise match anything, or nothing). A line ending with
``# union over ?name`` is a group repeated for each IRI of ``name`` (``$name`` replaced by it), the
copies joined by UNION.

>>> q = NamedQuery.parse("t", '#+ summary: s\\n#+ params: ?a\\nSELECT ?s ?a WHERE {\\n'
...                      '  VALUES ?s {}\\n  ?s ?p ?a . # if ?a\\n}')
>>> q.summary
's'
>>> print(q.text(given={"a"}, values={"s": [ox.NamedNode("http://x/1")]}))
SELECT ?s ?a WHERE {
  VALUES ?s { <http://x/1> }
  ?s ?p ?a . # if ?a
}
>>> print(q.text(given=set(), values={"s": []}))
SELECT ?s ?a WHERE {
  VALUES ?s {  }
}
>>> body = "SELECT * {\\n  { ?s $p ?o BIND ($p AS ?p) } # union over ?p\\n}"
>>> u = NamedQuery.parse("u", "#+ summary: s\\n#+ params: p\\n" + body)
>>> print(u.text(set(), {"p": [ox.NamedNode("http://x/a"), ox.NamedNode("http://x/b")]}))
SELECT * {
  { ?s <http://x/a> ?o BIND (<http://x/a> AS ?p) } UNION { ?s <http://x/b> ?o BIND (<http://x/b> AS ?p) }
}
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from kg.config import PROJECT_ROOT

QUERY_DIR = PROJECT_ROOT / "queries" / "api"
_IF = re.compile(r"#\s*if\s+\?(\w+)\s*$")
_VALUES = re.compile(r"VALUES\s+\?(\w+)\s*\{\s*\}")
_UNION = re.compile(r"#\s*union over \?(\w+)\s*$")
Term = ox.NamedNode | ox.Literal | ox.BlankNode
Row = dict[str, Term]


@dataclass(frozen=True)
class NamedQuery:
    """One ``.rq`` file: its name, header and body."""

    name: str
    summary: str
    params: str
    body: str

    @classmethod
    def parse(cls, name: str, source: str) -> NamedQuery:
        """Read the ``#+`` header and keep the body."""
        header: dict[str, str] = {}
        for line in source.splitlines():
            if line.startswith("#+"):
                key, _, value = line[2:].partition(":")
                header[key.strip()] = value.strip()
        body = "\n".join(line for line in source.splitlines() if not line.startswith("#+"))
        if "summary" not in header or "params" not in header:
            raise ValueError(f"queries/api/{name}.rq needs '#+ summary:' and '#+ params:' headers")
        return cls(name, header["summary"], header["params"], body.strip())

    def split(
        self, params: Mapping[str, Term | None] | None, values: Mapping[str, Sequence[Term]] | None
    ) -> tuple[
        set[str],
        dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple],
        dict[str, Sequence[Term]],
    ]:
        """Sort the given parameters: an IRI with a ``VALUES ?name {}`` slot in the query goes there (the
        planner then knows it, e.g. a class to start from); any other value (user text) is a substitution.

        >>> q = NamedQuery.parse("t", "#+ summary: s\\n#+ params: p\\nSELECT ?c { VALUES ?k {} ?s ?k ?c }")
        >>> params = {"k": ox.NamedNode("http://p"), "c": ox.Literal("x"), "z": None}
        >>> given, subs, vals = q.split(params, None)
        >>> sorted(given), [v.value for v in subs.values()], vals["k"]
        (['c', 'k'], ['x'], [<NamedNode value=http://p>])
        """
        slots = set(_VALUES.findall(self.body))
        given: set[str] = set()
        substitutions: dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple] = {}
        all_values: dict[str, Sequence[Term]] = dict(values or {})
        for key, value in (params or {}).items():
            if value is None:
                continue
            given.add(key)
            if isinstance(value, ox.NamedNode) and key in slots:
                all_values[key] = [value]
            else:
                substitutions[ox.Variable(key)] = value
        return given, substitutions, all_values

    def text(self, given: set[str], values: Mapping[str, Sequence[Term]] | None = None) -> str:
        """The query text with optional lines kept for the ``given`` parameters and VALUES filled."""
        values = values or {}
        lines = []
        for line in self.body.splitlines():
            match = _IF.search(line)
            if match and match.group(1) not in given:
                continue
            union = _UNION.search(line)
            if union:
                # One branch per value, the value written in place of $name: oxigraph plans a constant
                # predicate as an index look-up, where a VALUES of predicates made it scan (seconds).
                name = union.group(1)
                group = line[: union.start()].strip()
                indent = line[: len(line) - len(line.lstrip())]
                branches = [group.replace(f"${name}", str(term)) for term in values.get(name, [])]
                line = indent + (" UNION ".join(branches) if branches else "FILTER (false)")
            lines.append(line)
        text = "\n".join(lines)

        def fill(match: re.Match[str]) -> str:
            terms = values.get(match.group(1))
            if terms is None:
                raise KeyError(f"query {self.name}: no VALUES given for ?{match.group(1)}")
            return f"VALUES ?{match.group(1)} {{ {' '.join(str(t) for t in terms)} }}"

        return _VALUES.sub(fill, text)


def load_queries(folder: Path = QUERY_DIR) -> dict[str, NamedQuery]:
    """All named queries of ``folder`` by file stem.

    >>> "values" in load_queries()
    True
    """
    return {
        p.stem: NamedQuery.parse(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.rq"))
    }


@dataclass
class QueryRunner:
    """Runs named queries on a store in a small thread pool, counting them (tests check N+1 with it)."""

    store: ox.Store
    prefixes: dict[str, str]
    queries: dict[str, NamedQuery] = field(default_factory=load_queries)
    executor: ThreadPoolExecutor | None = None
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def select_sync(
        self,
        name: str,
        params: Mapping[str, Term | None] | None = None,
        values: Mapping[str, Sequence[Term]] | None = None,
        tail: str = "",
    ) -> list[Row]:
        """Run query ``name`` and return its rows as dicts (unbound variables left out).

        ``params`` are substitutions (``None`` values mean "not given": their ``# if`` lines go);
        ``tail`` is solution modifiers the caller builds from validated integers and fixed orders.
        """
        query = self.queries[name]
        given, substitutions, all_values = query.split(params, values)
        text = query.text(given, all_values) + tail
        with self._lock:
            self.count += 1
        result = self.store.query(text, prefixes=self.prefixes, substitutions=substitutions)
        assert isinstance(result, ox.QuerySolutions)
        names = [v.value for v in result.variables]
        rows: list[Row] = []
        for solution in result:
            row: Row = {}
            for n in names:
                term = solution[n]
                if term is not None:
                    row[n] = term
            rows.append(row)
        del result  # pyoxigraph results stay on the thread that made them
        return rows

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

    async def count_rows(self, name: str, params: Mapping[str, Term | None] | None = None) -> int:
        """How many rows query ``name`` returns, counted by the store (a COUNT around the query)."""
        query = self.queries[name]
        given, substitutions, all_values = query.split(params, None)
        inner = query.text(given, all_values)
        keys = " ".join(sorted(f"?{v.value}" for v in substitutions))
        group = f" GROUP BY {keys}" if keys else ""
        text = f"SELECT (COUNT(*) AS ?_n) {keys} WHERE {{ {{ {inner} }} }}{group}"

        def run() -> int:
            with self._lock:
                self.count += 1
            result = self.store.query(text, prefixes=self.prefixes, substitutions=substitutions)
            assert isinstance(result, ox.QuerySolutions)
            total = 0
            for solution in result:
                term = solution["_n"]
                total = int(term.value) if term is not None else 0
            del result
            return total

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, run)


def iris(values: Iterable[str]) -> list[ox.NamedNode]:
    """Terms for IRIs (raises ValueError on a malformed IRI: nothing unparsed reaches a query).

    >>> iris(["http://a/b"])
    [<NamedNode value=http://a/b>]
    >>> iris(["http://a/> } DROP"])
    Traceback (most recent call last):
    ...
    ValueError: ...
    """
    return [ox.NamedNode(v) for v in values]
