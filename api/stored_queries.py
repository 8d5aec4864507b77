"""Stored queries: each ``queries/reports/{name}.rq`` published at ``/queries/{name}``.

A stored query documents itself in grlc-style ``#+`` header lines::

    #+ summary: Skills of a ROME 4.0 occupation
    #+ description: one line of explanation (repeatable)
    #+ params:
    #+   - code (rome, default I1407): the ROME code of the occupation

Each parameter names a variable of the query (``?code``) and has a type that validates the
value strictly before it is bound, through pyoxigraph ``substitutions`` (never string
formatting): see :mod:`kg.queries`, the one parser and binder of named queries. A parameter
without a default is required. Results by content negotiation, like ``/sparql``.

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
kg.queries.ParameterError: parameter 'code' must be a ROME 4.0 fiche code (A1234), got "I1407' } DROP ALL #"
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api import html as h
from api.conneg import best
from api.deps import SettingsDep
from api.limits import check_rate
from api.results import Job
from api.sparql import ProtocolError, answer_job, error_response, get_backend, negotiate
from kg.config import PROJECT_ROOT
from kg.namespaces import prefixes_for
from kg.queries import NamedQuery, ParameterError

REPORTS_DIR = PROJECT_ROOT / "queries" / "reports"
# One parser and binder for every named query (kg.queries); the portal publishes queries/reports.
StoredQuery = NamedQuery
parse_stored_query = NamedQuery.parse

router = APIRouter()


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
        substitutions = query.bind(params, settings.base_iri)
    except ParameterError as exc:
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
