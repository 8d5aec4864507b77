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
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from api.graphql.errors import ApiError
from kg.config import PROJECT_ROOT
from kg.queries import NamedQuery, ParameterError

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


@dataclass
class QueryRunner:
    """Runs named queries on a store in a small thread pool, counting them (tests check N+1 with it)."""

    store: ox.Store
    prefixes: dict[str, str]
    queries: dict[str, NamedQuery] = field(default_factory=load_queries)
    executor: ThreadPoolExecutor | None = None
    count: int = 0
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
        text += tail
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
        inner, substitutions = self.prepare(name, params, None)
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
