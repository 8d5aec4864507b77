"""Named, parameterised SPARQL queries (``queries/**/*.rq``), parsed once and run with bound values.

A query file starts with header comments::

    #+ summary: Skills a trade's offers ask for, with their best covering bloc.
    #+ user: certifiers
    #+ params: trade iri — a pas:TargetTrade or a ROME 4.0 fiche
    #+ params: threshold decimal = 0.5 — the coverage score from which a skill is covered

Each ``params`` line is ``NAME TYPE [= DEFAULT] [— documentation]``; TYPE is one of
:data:`PARAM_TYPES`. Values reach the query only as pyoxigraph ``substitutions`` after strict
validation by type (never by string formatting), so a parameter must be projected by the
query's SELECT (and by every sub-SELECT that uses it): pyoxigraph refuses the substitution
otherwise. A parameter without a default is required.

>>> q = NamedQuery.parse("demo", '''#+ summary: Labels of a thing.
... #+ params: thing iri — the resource
... #+ params: lang string = fr — a language tag
... SELECT ?thing ?lang ?label WHERE { ?thing rdfs:label ?label FILTER (LANG(?label) = ?lang) }''')
>>> [(p.name, p.type, p.default) for p in q.params]
[('thing', 'iri', None), ('lang', 'string', 'fr')]
>>> sorted(str(v) for v in q.bind({"thing": "https://w3id.org/passerelles/id/rome/I1321"}).values())
['"fr"', '<https://w3id.org/passerelles/id/rome/I1321>']
>>> q.bind({"thing": "not an iri"})
Traceback (most recent call last):
...
kg.queries.ParameterError: demo: parameter thing: 'not an iri' is not an absolute http(s) IRI
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox

from kg.config import PROJECT_ROOT
from kg.namespaces import prefixes_for, sparql_prologue

QUERIES_DIR = PROJECT_ROOT / "queries"
PARAM_TYPES = ("iri", "string", "date", "decimal", "integer", "boolean")
_PARAM = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)\s+(?P<type>\w+)(?:\s*=\s*(?P<default>[^\s—]+))?\s*(?:—\s*(?P<doc>.*))?$"
)
_XSD = "http://www.w3.org/2001/XMLSchema#"
_IRI = re.compile(r"^https?://[^\s<>\"{}|\\^`]+$")
_PREFIXED = re.compile(r"^([a-z][\w-]*):([A-Za-z_][\w-]*)$")


class ParameterError(ValueError):
    """A parameter value that its declared type refuses (the API answers 400 with this text)."""


@dataclass(frozen=True)
class Param:
    """One declared parameter of a named query."""

    name: str
    type: str
    default: str | None
    doc: str

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class NamedQuery:
    """A query of ``queries/``: its name, header documentation, parameters and text."""

    name: str
    summary: str
    users: tuple[str, ...]
    params: tuple[Param, ...]
    text: str

    @classmethod
    def parse(cls, name: str, text: str) -> NamedQuery:
        """Read the ``#+`` header of ``text`` (ValueError naming the query and line if malformed)."""
        summary, users, params = "", [], []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.startswith("#+"):
                continue
            key, _, value = line[2:].partition(":")
            key, value = key.strip(), value.strip()
            if key == "summary":
                summary = value
            elif key == "user":
                users += [u.strip() for u in value.split(",") if u.strip()]
            elif key == "params":
                match = _PARAM.match(value)
                if not match or match["type"] not in PARAM_TYPES:
                    raise ValueError(
                        f"{name}, line {number}: params must read 'NAME TYPE [= DEFAULT] [— doc]' "
                        f"with TYPE one of {', '.join(PARAM_TYPES)}"
                    )
                params.append(
                    Param(match["name"], match["type"], match["default"], (match["doc"] or "").strip())
                )
        return cls(name, summary, tuple(users), tuple(params), text)

    def bind(
        self, values: Mapping[str, object], base_iri: str = "https://w3id.org/passerelles/"
    ) -> dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple]:
        """Substitutions for ``values`` (defaults filled in); ParameterError on a bad or missing value."""
        known = {p.name for p in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        out: dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple] = {}
        for param in self.params:
            raw = values.get(param.name)
            if raw is None or raw == "":
                if param.default is None:
                    raise ParameterError(f"{self.name}: parameter {param.name} is required ({param.doc})")
                raw = param.default
            out[ox.Variable(param.name)] = _term(self.name, param, raw, base_iri)
        return out

    def run(
        self, store: ox.Store, values: Mapping[str, object], base_iri: str = "https://w3id.org/passerelles/"
    ) -> Iterator[dict[str, ox.NamedNode | ox.Literal | ox.BlankNode]]:
        """Rows of the query on ``store`` (default graph) as {variable: term}, unbound ones left out."""
        solutions = store.query(
            sparql_prologue(base_iri) + self.text, substitutions=self.bind(values, base_iri)
        )
        assert isinstance(solutions, ox.QuerySolutions), f"{self.name} is not a SELECT query"
        names = [v.value for v in solutions.variables]
        for solution in solutions:
            yield {n: solution[n] for n in names if solution[n] is not None}


def _term(query: str, param: Param, raw: object, base_iri: str) -> ox.NamedNode | ox.Literal:
    text = str(raw).strip()
    fail = f"{query}: parameter {param.name}: {text!r}"
    if param.type == "iri":
        prefixed = _PREFIXED.match(text)
        if prefixed and prefixed[1] in prefixes_for(base_iri):
            return ox.NamedNode(prefixes_for(base_iri)[prefixed[1]] + prefixed[2])
        if not _IRI.match(text):
            raise ParameterError(f"{fail} is not an absolute http(s) IRI")
        return ox.NamedNode(text)
    if param.type == "date":
        try:
            return ox.Literal(date.fromisoformat(text).isoformat(), datatype=ox.NamedNode(_XSD + "date"))
        except ValueError:
            raise ParameterError(f"{fail} is not a date (YYYY-MM-DD)") from None
    if param.type == "decimal":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ParameterError(f"{fail} is not a decimal number") from None
        if not number.is_finite():
            raise ParameterError(f"{fail} is not a finite decimal number")
        return ox.Literal(str(number), datatype=ox.NamedNode(_XSD + "decimal"))
    if param.type == "integer":
        if not re.fullmatch(r"[+-]?\d{1,18}", text):
            raise ParameterError(f"{fail} is not an integer")
        return ox.Literal(str(int(text)), datatype=ox.NamedNode(_XSD + "integer"))
    if param.type == "boolean":
        if text not in ("true", "false"):
            raise ParameterError(f"{fail} is not true or false")
        return ox.Literal(text, datatype=ox.NamedNode(_XSD + "boolean"))
    if len(text) > 1000:
        raise ParameterError(f"{query}: parameter {param.name} is longer than 1000 characters")
    return ox.Literal(text)


@lru_cache(maxsize=256)
def named_query(relative: str) -> NamedQuery:
    """The query ``queries/<relative>.rq`` (parsed once per process).

    >>> named_query("reports/skill-gaps").params[0].name
    'trade'
    """
    path: Path = QUERIES_DIR / f"{relative}.rq"
    return NamedQuery.parse(relative, path.read_text(encoding="utf-8"))
