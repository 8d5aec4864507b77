"""Named, parameterised SPARQL queries (``queries/**/*.rq``): one parser and one binder for the
CLI reports (``kg gaps``, ``kg paths``), the API and the portal's stored queries.

A query documents itself in grlc-style ``#+`` header lines::

    #+ summary: Skills a trade's offers ask for, with their best covering bloc.
    #+ description: one line of explanation (repeatable)
    #+ user: certifiers
    #+ params:
    #+   - trade (iri): a pas:TargetTrade or a ROME 4.0 fiche
    #+   - threshold (decimal, default 0.5): the coverage score from which a skill is covered

Each parameter names a variable of the query and has a type (:data:`PARAM_TYPES`) that validates
the value strictly before it is bound through pyoxigraph ``substitutions`` — never string
formatting.

Two more forms serve the GraphQL API's batched look-ups (:meth:`NamedQuery.prepare`):

- ``- kind (iri, optional): ...``: an optional parameter; the query lines ending with
  ``# if ?kind`` stay only when it is given (a free variable would match anything).
- ``- s (iris): ...``: a list of IRIs (each checked as an IRI), written as RDF terms into the
  query's ``VALUES ?s {}`` slot, or into a line ending with ``# union over ?s``: one copy of the
  group per IRI (``$s`` replaced by it), joined by UNION. A single value of a strictly validated
  type (``iri``, a code type, a number, a date, a boolean: not ``string``) goes into a
  ``VALUES ?name {}`` slot too when the query has one, written as its RDF term: oxigraph's planner
  then sees the constant (e.g. a class or a level to start from), where a substituted value is
  bound only at evaluation and the plan may start from the wrong side. Free text (``string``)
  is always a substitution.

pyoxigraph binds only variables the SELECT projects (and every sub-SELECT using them must project
them too): :meth:`NamedQuery.parse` checks it when the query is read. A parameter without a
default is required (unless ``optional``); an ``iri`` default may be a prefixed name
(``pas:AnyTerritory``).

>>> q = NamedQuery.parse("demo", '''#+ summary: Labels of a thing.
... #+ params:
... #+   - thing (iri): the resource
... #+   - lang (string, default fr): a language tag
... SELECT ?thing ?lang ?label WHERE { ?thing rdfs:label ?label FILTER (LANG(?label) = ?lang) }''')
>>> [(p.name, p.type, p.default) for p in q.params]
[('thing', 'iri', None), ('lang', 'string', 'fr')]
>>> q.bind({"thing": "https://w3id.org/passerelles/id/rome/I1321"})["thing"]
('iri', 'https://w3id.org/passerelles/id/rome/I1321', '')
>>> q.bind({"thing": "I1321' } DROP ALL #"})
Traceback (most recent call last):
...
kg.queries.ParameterError: parameter 'thing' must be an absolute http(s) IRI, got "I1321' } DROP ALL #"
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import pyoxigraph as ox

from kg.config import PROJECT_ROOT
from kg.namespaces import PREFIXES, prefixes_for, sparql_prologue

QUERIES_DIR = PROJECT_ROOT / "queries"
XSD = "http://www.w3.org/2001/XMLSchema#"
CODE_TYPES: dict[str, tuple[str, str]] = {
    "rome": (r"[A-N]\d{4}", "a ROME 4.0 fiche code (A1234)"),
    "rncp": (r"RNCP\d{1,6}", "an RNCP code (RNCP12345)"),
    "skill": (r"\d{1,7}", "a ROME skill code (digits)"),
    "commune": (r"\d[0-9AB]\d{3}", "an INSEE commune code (76540, 2A004)"),
    "formacode": (r"\d{5}", "a Formacode (5 digits)"),
    "domain": (r"[A-N](\d{2})?", "a ROME domain code (I or I14)"),
}
PARAM_TYPES = (*CODE_TYPES, "string", "integer", "decimal", "date", "boolean", "iri", "iris")
_PARAM = re.compile(
    r"-\s*(\w+)\s*\(\s*([\w-]+)\s*(?:,\s*(?:default\s+([^)]*?)|(optional)))?\s*\)\s*:\s*(.*)"
)
_IF = re.compile(r"#\s*if\s+\?(\w+)\s*$")
_SLOT = re.compile(r"VALUES\s+\?(\w+)\s*\{\s*\}")
_UNION = re.compile(r"#\s*union over \?(\w+)\s*$")
_IRI = re.compile(r"https?://[^\s<>\"{}|\\^`]+")
_PREFIXED = re.compile(r"([a-z][\w-]*):([A-Za-z_][\w-]*)")

Term = tuple[str, str, str]  # ("iri", iri, "") or ("literal", text, datatype): picklable


class ParameterError(ValueError):
    """A parameter value its declared type refuses (the API answers 400 with this text)."""


@dataclass(frozen=True)
class Param:
    """A declared parameter: variable name, type, default (None: required), description."""

    name: str
    type: str
    default: str | None
    description: str

    def term(self, value: object, base_iri: str = "https://w3id.org/passerelles/") -> Term:
        """The validated value as a picklable term (see :func:`to_ox`). A pyoxigraph term is
        validated by its text (the API builds typed terms; the declared type decides).

        >>> Param("s", "iris", None, "").term(ox.NamedNode("https://x/1"))
        ('iri', 'https://x/1', '')
        >>> Param("s", "iris", None, "").term(ox.NamedNode("urn:x:1"))
        Traceback (most recent call last):
        ...
        kg.queries.ParameterError: parameter 's' must be an absolute http(s) IRI, got 'urn:x:1'
        """
        # A NamedNode's syntax is checked by pyoxigraph already: only the http(s) form is left to
        # check (the DataLoaders pass hundreds per request; the general path below re-parses each
        # twice). Such a text never matches _PREFIXED ("http:" is followed by "/"): nothing else differs.
        if isinstance(value, ox.NamedNode) and self.type in ("iri", "iris") and _IRI.fullmatch(value.value):
            return ("iri", value.value, "")
        value = value.value if isinstance(value, ox.NamedNode | ox.Literal) else str(value).strip()
        fail = f"parameter {self.name!r} must be"
        if self.type in CODE_TYPES:
            pattern, what = CODE_TYPES[self.type]
            if not re.fullmatch(pattern, value):
                raise ParameterError(f"{fail} {what}, got {value!r}")
            return ("literal", value, "")
        if self.type == "integer":
            if not re.fullmatch(r"[+-]?\d{1,12}", value):
                raise ParameterError(f"{fail} an integer, got {value!r}")
            return ("literal", str(int(value)), XSD + "integer")
        if self.type == "decimal":
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise ParameterError(f"{fail} a decimal number, got {value!r}") from None
            if not number.is_finite() or len(value) > 40:
                raise ParameterError(f"{fail} a finite decimal number, got {value!r}")
            return ("literal", str(number), XSD + "decimal")
        if self.type == "date":
            try:
                return ("literal", date.fromisoformat(value).isoformat(), XSD + "date")
            except ValueError:
                raise ParameterError(f"{fail} a date (YYYY-MM-DD), got {value!r}") from None
        if self.type == "boolean":
            if value not in ("true", "false"):
                raise ParameterError(f"{fail} true or false, got {value!r}")
            return ("literal", value, XSD + "boolean")
        if self.type in ("iri", "iris"):
            prefixed = _PREFIXED.fullmatch(value)
            prefixes = prefixes_for(base_iri) if prefixed else {}
            if prefixed and prefixed[1] in prefixes:
                return ("iri", prefixes[prefixed[1]] + prefixed[2], "")
            if not _IRI.fullmatch(value):
                raise ParameterError(f"{fail} an absolute http(s) IRI, got {value!r}")
            try:
                ox.NamedNode(value)
            except ValueError:
                raise ParameterError(f"{fail} an absolute http(s) IRI, got {value!r}") from None
            return ("iri", value, "")
        if len(value) > 200 or any(ord(c) < 32 for c in value):
            raise ParameterError(f"{fail} a single-line text of at most 200 characters")
        return ("literal", value, "")


def to_ox(term: Term) -> ox.NamedNode | ox.Literal:
    """The pyoxigraph term of a picklable ``(kind, value, datatype)`` triple."""
    kind, value, datatype = term
    if kind == "iri":
        return ox.NamedNode(value)
    return ox.Literal(value, datatype=ox.NamedNode(datatype)) if datatype else ox.Literal(value)


@dataclass(frozen=True)
class NamedQuery:
    """A query of ``queries/``: its name, documentation, parameters and SPARQL text."""

    name: str
    summary: str
    description: list[str]
    params: list[Param]
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()  # parameters that may be left out (``# if`` lines)

    @classmethod
    def parse(cls, name: str, text: str) -> NamedQuery:
        """Read the ``#+`` header (ValueError naming the query if malformed or unbindable)."""
        summary, description, params, headers = "", [], [], {}
        optionals: set[str] = set()
        in_params = False
        for line in text.splitlines():
            if not line.startswith("#+"):
                if line.strip() and not line.startswith("#"):
                    break
                continue
            body = line[2:].strip()
            item = _PARAM.fullmatch(body)
            if in_params and item:
                pname, ptype, default, optional, desc = item.groups()
                if ptype not in PARAM_TYPES:
                    raise ValueError(
                        f"{name}: unknown parameter type {ptype!r} (known: {', '.join(PARAM_TYPES)})"
                    )
                if ptype != "iris":  # a list is written into the text, never substituted
                    _check_bindable(name, text, pname)
                params.append(Param(pname, ptype, default, desc.strip()))
                if optional:
                    optionals.add(pname)
                continue
            key, _, value = body.partition(":")
            key, value = key.strip(), value.strip()
            in_params = key == "params"
            if key == "summary":
                summary = value
            elif key == "description":
                description.append(value)
            elif key != "params":
                headers[key] = value
        return cls(name, summary, description, params, text, headers, frozenset(optionals))

    def bind(
        self, values: Mapping[str, object], base_iri: str = "https://w3id.org/passerelles/"
    ) -> dict[str, Term]:
        """Validated picklable terms for ``values``, defaults filled in (ParameterError naming it).
        An optional parameter without a value is left out; ``iris`` lists are bound by
        :meth:`prepare`."""
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise ParameterError(f"unknown parameter(s) {', '.join(sorted(unknown))} for query {self.name!r}")
        out = {}
        for param in self.params:
            if param.type == "iris":
                continue
            value = values.get(param.name)
            if value is None or value == "":
                value = param.default
            if value is None:
                if param.name in self.optional:
                    continue
                raise ParameterError(f"parameter {param.name!r} is required ({param.description})")
            out[param.name] = param.term(value, base_iri)
        return out

    def prepare(
        self, values: Mapping[str, object], base_iri: str = "https://w3id.org/passerelles/"
    ) -> tuple[str, dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple]]:
        """The query text and its substitutions for ``values``: ``# if`` lines kept for the given
        parameters, ``iris`` lists (and validated single values with a slot) written as RDF terms into their
        ``VALUES`` slots or ``# union over`` lines, every other value a substitution.

        >>> q = NamedQuery.parse("t", '''#+ params:
        ... #+   - s (iris): resources
        ... #+   - p (iris): properties
        ... #+   - k (iri, optional): a class
        ... SELECT ?s ?o ?k WHERE {
        ...   VALUES ?s {}
        ...   { ?s $p ?o } # union over ?p
        ...   ?s a ?k . # if ?k
        ... }''')
        >>> text, subs = q.prepare({"s": ["http://x/1"], "p": ["http://x/a", "http://x/b"]})
        >>> print(text)
        SELECT ?s ?o ?k WHERE {
          VALUES ?s { <http://x/1> }
          { ?s <http://x/a> ?o } UNION { ?s <http://x/b> ?o }
        }
        >>> subs
        {}
        >>> q2 = NamedQuery.parse("t", '''#+ params:
        ... #+   - level (integer, optional): a level
        ... SELECT ?s ?level WHERE {
        ...   VALUES ?level {} # if ?level
        ...   ?s <http://x/level> ?level .
        ... }''')
        >>> print(q2.prepare({"level": "5"})[0].splitlines()[1])
          VALUES ?level { "5"^^<http://www.w3.org/2001/XMLSchema#integer> } # if ?level
        >>> q.prepare({"s": ["http://x/> } DROP ALL"], "p": []})
        Traceback (most recent call last):
        ...
        kg.queries.ParameterError: parameter 's' must be an absolute http(s) IRI, got 'http://x/> } DROP ALL'
        """
        types = {p.name: p.type for p in self.params}
        bound = self.bind({k: v for k, v in values.items() if types.get(k) != "iris"}, base_iri)
        lists: dict[str, list[str]] = {}
        for param in self.params:
            if param.type == "iris":
                given = values.get(param.name)
                if given is None:
                    raise ParameterError(f"parameter {param.name!r} is required ({param.description})")
                items: list[object] = [given] if isinstance(given, str | ox.NamedNode) else list(given)  # type: ignore[call-overload]
                lists[param.name] = [f"<{param.term(i, base_iri)[1]}>" for i in items]
        slots = set(_SLOT.findall(self.text))
        substitutions: dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple] = {}
        for key, term in bound.items():
            if key in slots and types[key] != "string":
                # The N-Triples form of a strictly validated value (an IRI, a code, a number, a
                # date): free text never enters the query's text, it stays a substitution.
                lists[key] = [str(to_ox(term))]
            else:
                substitutions[ox.Variable(key)] = to_ox(term)
        return self._render(set(bound) | set(lists), lists), substitutions

    def _render(self, given: set[str], lists: Mapping[str, list[str]]) -> str:
        lines = []
        for line in self.text.splitlines():
            if line.startswith("#+"):
                continue
            match = _IF.search(line)
            if match and match.group(1) not in given:
                continue
            union = _UNION.search(line)
            if union:
                # One branch per IRI written in place of $name: oxigraph plans a constant predicate
                # as an index look-up, where a VALUES of predicates made it scan (seconds).
                name = union.group(1)
                group = line[: union.start()].strip()
                indent = line[: len(line) - len(line.lstrip())]
                branches = [group.replace(f"${name}", term) for term in lists.get(name, [])]
                line = indent + (" UNION ".join(branches) if branches else "FILTER (false)")
            lines.append(line)

        def fill(match: re.Match[str]) -> str:
            terms = lists.get(match.group(1))
            if terms is None:
                raise ParameterError(f"query {self.name}: no value given for ?{match.group(1)}")
            return f"VALUES ?{match.group(1)} {{ {' '.join(terms)} }}"

        return _SLOT.sub(fill, "\n".join(lines).strip())

    def substitutions(
        self, values: Mapping[str, object], base_iri: str = "https://w3id.org/passerelles/"
    ) -> dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple]:
        """pyoxigraph ``substitutions`` for ``values`` (validated as :meth:`bind` does)."""
        return {ox.Variable(k): to_ox(t) for k, t in self.bind(values, base_iri).items()}

    def run(
        self, store: ox.Store, values: Mapping[str, object], base_iri: str = "https://w3id.org/passerelles/"
    ) -> Iterator[dict[str, ox.NamedNode | ox.Literal | ox.BlankNode]]:
        """Rows of the query on ``store`` (default graph) as {variable: term}, unbound ones left out."""
        solutions = store.query(
            sparql_prologue(base_iri) + self.text, substitutions=self.substitutions(values, base_iri)
        )
        assert isinstance(solutions, ox.QuerySolutions), f"{self.name} is not a SELECT query"
        names = [v.value for v in solutions.variables]
        for solution in solutions:
            yield {n: solution[n] for n in names if solution[n] is not None}


def _check_bindable(name: str, text: str, variable: str) -> None:
    """pyoxigraph substitutions bind projected variables only: check it now, on an empty store,
    rather than on the first request."""
    try:
        ox.Store().query(
            text,
            prefixes=PREFIXES | {"id": "urn:id:", "graph": "urn:graph:"},
            substitutions={ox.Variable(variable): ox.Literal("x")},
        )
    except (SyntaxError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"{name}: parameter {variable!r} cannot be bound (it must be projected): {exc}"
        ) from None


@lru_cache(maxsize=256)
def named_query(relative: str) -> NamedQuery:
    """The query ``queries/<relative>.rq`` (parsed once per process).

    >>> named_query("reports/skill-gaps").params[0].name
    'trade'
    """
    path = QUERIES_DIR / f"{relative}.rq"
    return NamedQuery.parse(relative.rsplit("/", 1)[-1], path.read_text(encoding="utf-8"))
