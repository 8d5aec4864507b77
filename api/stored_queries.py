"""Stored queries: each ``queries/reports/{name}.rq`` published at ``/queries/{name}``.

A stored query documents itself in grlc-style ``#+`` header lines::

    #+ summary: Skills of a ROME 4.0 occupation
    #+ description: one line of explanation (repeatable)
    #+ params:
    #+   - code (rome, default I1407): the ROME code of the occupation

Each parameter names a variable of the query (``?code``) and has a type that validates the
value strictly before it is bound, through pyoxigraph ``substitutions`` (never string
formatting): ``string``, ``integer``, ``iri``, or one of the code types of :data:`CODE_TYPES`.
A parameter without a default is required. Results by content negotiation, like ``/sparql``.

>>> q = parse_stored_query("demo", '''#+ summary: Demo
... #+ params:
... #+   - code (rome): a ROME code
... #+   - n (integer, default 5): how many
... SELECT ?x ?code ?n WHERE { ?x pas:code ?code ; pas:n ?n }''')
>>> [(p.name, p.type, p.default) for p in q.params]
[('code', 'rome', None), ('n', 'integer', '5')]
>>> q.bind({"code": "I1407"})
{'code': ('literal', 'I1407', ''), 'n': ('literal', '5', 'http://www.w3.org/2001/XMLSchema#integer')}
>>> q.bind({"code": "I1407' } DROP ALL #"})
Traceback (most recent call last):
...
ValueError: parameter 'code' must be a ROME 4.0 fiche code (A1234), got "I1407' } DROP ALL #"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api import html as h
from api.conneg import best
from api.deps import SettingsDep
from api.limits import check_rate
from api.results import Job
from api.sparql import ProtocolError, answer_job, error_response, get_backend, negotiate
from kg.config import PROJECT_ROOT
from kg.namespaces import PREFIXES, prefixes_for

REPORTS_DIR = PROJECT_ROOT / "queries" / "reports"
XSD = "http://www.w3.org/2001/XMLSchema#"
CODE_TYPES: dict[str, tuple[str, str]] = {
    "rome": (r"[A-N]\d{4}", "a ROME 4.0 fiche code (A1234)"),
    "rncp": (r"RNCP\d{1,6}", "an RNCP code (RNCP12345)"),
    "skill": (r"\d{1,7}", "a ROME skill code (digits)"),
    "commune": (r"\d[0-9AB]\d{3}", "an INSEE commune code (76540, 2A004)"),
    "formacode": (r"\d{5}", "a Formacode (5 digits)"),
    "domain": (r"[A-N](\d{2})?", "a ROME domain code (I or I14)"),
}
_PARAM = re.compile(r"-\s*(\w+)\s*\(\s*([\w-]+)\s*(?:,\s*default\s+([^)]*?))?\s*\)\s*:\s*(.*)")

router = APIRouter()


@dataclass(frozen=True)
class Param:
    """A declared parameter: variable name, type, default (None: required), description."""

    name: str
    type: str
    default: str | None
    description: str

    def term(self, value: str) -> tuple[str, str, str]:
        """The validated value as a picklable term (see :func:`api.results.term_from`)."""
        value = value.strip()
        if self.type in CODE_TYPES:
            pattern, what = CODE_TYPES[self.type]
            if not re.fullmatch(pattern, value):
                raise ValueError(f"parameter {self.name!r} must be {what}, got {value!r}")
            return ("literal", value, "")
        if self.type == "integer":
            if not re.fullmatch(r"[+-]?\d{1,12}", value):
                raise ValueError(f"parameter {self.name!r} must be an integer, got {value!r}")
            return ("literal", str(int(value)), XSD + "integer")
        if self.type == "iri":
            if not re.fullmatch(r"https?://[^\s<>\"{}|\\^`]+", value):
                raise ValueError(f"parameter {self.name!r} must be an http(s) IRI, got {value!r}")
            return ("iri", value, "")
        if len(value) > 200 or any(ord(c) < 32 for c in value):
            raise ValueError(f"parameter {self.name!r} must be a single-line text of at most 200 characters")
        return ("literal", value, "")


@dataclass(frozen=True)
class StoredQuery:
    """A stored query: name, documentation, parameters and SPARQL text."""

    name: str
    summary: str
    description: list[str]
    params: list[Param]
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def bind(self, values: dict[str, str]) -> dict[str, tuple[str, str, str]]:
        """Validated substitutions for the given values (raises ValueError naming the parameter)."""
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))} for query {self.name!r}")
        out = {}
        for param in self.params:
            value = values.get(param.name, param.default)
            if value is None:
                raise ValueError(f"parameter {param.name!r} is required ({param.description})")
            out[param.name] = param.term(value)
        return out


def _check_bindable(name: str, text: str, variable: str) -> None:
    """pyoxigraph substitutions (SEP-0007) bind projected variables only: check it now, on an
    empty store, rather than on the first request."""
    try:
        ox.Store().query(
            text, prefixes=PREFIXES | {"id": "urn:id:", "graph": "urn:graph:"},
            substitutions={ox.Variable(variable): ox.Literal("x")},
        )
    except (SyntaxError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"{name}: parameter {variable!r} cannot be bound (it must be projected): {exc}"
        ) from None


def parse_stored_query(name: str, text: str) -> StoredQuery:
    """Read the ``#+`` header of a stored query (see the module docstring)."""
    summary, description, params, headers = "", [], [], {}
    in_params = False
    for line in text.splitlines():
        if not line.startswith("#+"):
            if line.strip() and not line.startswith("#"):
                break
            continue
        body = line[2:].strip()
        item = _PARAM.fullmatch(body)
        if in_params and item:
            pname, ptype, default, desc = item.groups()
            if ptype not in (*CODE_TYPES, "string", "integer", "iri"):
                raise ValueError(f"{name}: unknown parameter type {ptype!r}")
            _check_bindable(name, text, pname)
            params.append(Param(pname, ptype, default, desc.strip()))
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
    return StoredQuery(name, summary, description, params, text, headers)


@cache
def _load(folder: Path) -> dict[str, StoredQuery]:
    return {
        path.stem: parse_stored_query(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.rq"))
    }


def stored_queries(folder: Path = REPORTS_DIR) -> dict[str, StoredQuery]:
    """Every stored query of ``folder`` by name (read once)."""
    return _load(folder)


def _doc(query: StoredQuery) -> dict[str, object]:
    return {
        "name": query.name,
        "summary": query.summary,
        "description": query.description,
        "url": f"/queries/{query.name}",
        "params": [p.__dict__ for p in query.params],
        "query": query.text,
    }


@router.get("/queries", include_in_schema=False)
async def list_queries(request: Request) -> Response:
    """The stored queries (HTML or JSON)."""
    queries = stored_queries()
    if best(request.headers.get("accept"), ["text/html", "application/json"]) == "application/json":
        return JSONResponse([_doc(q) for q in queries.values()], headers={"Vary": "Accept"})
    rows: list[list[h.Html | str]] = [
        [h.link(f"/queries/{q.name}?doc", q.name), q.summary, ", ".join(p.name for p in q.params)]
        for q in queries.values()
    ]
    return HTMLResponse(
        h.page("Stored queries", h.table(["query", "summary", "parameters"], rows, id="queries")),
        headers={"Vary": "Accept"},
    )


def _doc_page(query: StoredQuery) -> str:
    params: list[list[h.Html | str]] = [
        [p.name, p.type, p.default or "(required)", p.description] for p in query.params
    ]
    form = h.tag(
        "form",
        *[
            h.tag("label", f"{p.name} ", h.tag("input", name=p.name, value=p.default or ""))
            for p in query.params
        ],
        h.tag("select", *[h.tag("option", f, value=f) for f in ("json", "csv", "tsv", "xml")], name="format"),
        h.tag("button", "Run", type="submit"),
        action=f"/queries/{query.name}",
        method="get",
    )
    return h.page(
        query.name,
        h.p(query.summary),
        *[h.p(d) for d in query.description],
        h.tag("h2", "Parameters"),
        h.table(["name", "type", "default", "description"], params) if params else h.p("None."),
        form,
        h.tag("h2", "Query"),
        h.tag("pre", query.text),
    )


@router.get("/queries/{name}", include_in_schema=False)
async def run_stored(name: str, request: Request, settings: SettingsDep) -> Response:
    """Run a stored query with its parameters (query string); ``?doc`` shows its documentation."""
    query = stored_queries().get(name)
    if query is None:
        return error_response(404, "not-found", f"no stored query named {name!r}: see /queries")
    params = dict(request.query_params)
    wants_html = best(request.headers.get("accept"), ["text/html", "application/json"]) == "text/html"
    if "doc" in params or (not params and wants_html and "text/html" in request.headers.get("accept", "")):
        if best(request.headers.get("accept"), ["text/html", "application/json"]) == "application/json":
            return JSONResponse(_doc(query))
        return HTMLResponse(_doc_page(query))
    fmt = params.pop("format", None)
    try:
        substitutions = query.bind(params)
    except ValueError as exc:
        return error_response(400, "bad-parameter", str(exc))
    try:
        select, graph = negotiate(request.headers.get("accept"), fmt)
        check_rate(request, settings)
    except ProtocolError as exc:
        return exc.response()
    job = Job(
        query=query.text,
        select_format=select or "",
        graph_format=graph or "",
        cap=settings.result_cap,
        prefixes=prefixes_for(settings.base_iri),
        substitutions=substitutions,
    )
    return await answer_job(get_backend(request), job, settings)
