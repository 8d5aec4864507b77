"""``/sparql``: the SPARQL 1.1 Protocol for queries (read-only), with content negotiation and limits.

- GET ``?query=``, POST ``application/x-www-form-urlencoded`` and POST ``application/sparql-query``;
  ``default-graph-uri`` / ``named-graph-uri`` (repeatable) replace the query's FROM / FROM NAMED.
- SELECT/ASK as SPARQL JSON, XML, CSV, TSV; CONSTRUCT/DESCRIBE as Turtle, N-Triples, JSON-LD,
  RDF/XML; chosen by ``Accept`` (q-values; 406 when nothing fits) or a ``format`` parameter.
- Limits (:mod:`api.limits`): timeout that kills the worker (503), result-row cap (413),
  per-client rate limit (429 + Retry-After). Every error body is JSON naming the limit or fault.
- SPARQL Update is refused (403): the public endpoint never writes; nor does it call other
  endpoints (``SERVICE``: 403).
"""

from __future__ import annotations

import re
from binascii import a2b_qp
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import pyoxigraph as ox
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.conneg import best
from api.deps import SettingsDep
from api.executor import Busy, QueryBackend, QueryTimeout
from api.limits import ASGIApp, Receive, Send, calls_service, check_rate
from api.results import GRAPH_FORMATS, SELECT_FORMATS, Answer, Job, execute
from kg.config import Settings
from kg.namespaces import prefixes_for
from kg.remote_store import RETRY_AFTER_S, StoreUnavailable

router = APIRouter()
JSON_RESULTS = SELECT_FORMATS["json"]
_BY_MEDIA = {m: k for k, m in {**SELECT_FORMATS, **GRAPH_FORMATS}.items()}
# Aliases browsers and tools send for the same formats.
_ALIASES = {"application/json": "json", "application/xml": "xml", "text/xml": "xml", "text/plain": "nt"}
_UPDATE = re.compile(r"(?:INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY|WITH)\b", re.IGNORECASE)
# the whole prologue in one match (one call, not one per declaration: a query written out with the
# project's prefixes has ~20 of them)
_PROLOGUE = re.compile(r"(?:\s*(?:#[^\n]*\n|PREFIX\s+[\w.-]*:\s*<[^>]*>|BASE\s*<[^>]*>))*", re.IGNORECASE)


class ProtocolError(Exception):
    """A request the protocol refuses: HTTP status, error kind and a readable detail."""

    def __init__(self, status: int, kind: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.headers = status, kind, detail, headers or {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.kind, self.detail, self.headers)


def error_response(
    status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every limit and fault uses: ``{"error": kind, "detail": text}``."""
    return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)


def is_update(query: str) -> bool:
    """Whether the request text is a SPARQL Update (first keyword after the prologue).

    >>> is_update("PREFIX a: <http://a#>\\n# hi\\n insert data { a:a a:b a:c }")
    True
    >>> is_update("SELECT * { ?s ?p ?o }")
    False
    """
    prologue = _PROLOGUE.match(query)  # always matches, maybe nothing
    return bool(_UPDATE.match(query[prologue.end() if prologue else 0 :].lstrip()))


@lru_cache(maxsize=512)
def negotiate(accept: str | None, format_param: str | None) -> tuple[str | None, str | None]:
    """(SELECT/ASK format, CONSTRUCT/DESCRIBE format) short names; None when nothing fits.

    >>> negotiate("text/csv", None)
    ('csv', None)
    >>> negotiate("text/turtle;q=0.5, application/ld+json", None)
    (None, 'jsonld')
    >>> negotiate("text/html,*/*;q=0.8", None)
    ('json', 'ttl')
    >>> negotiate(None, "text/tab-separated-values")
    ('tsv', 'ttl')

    Cached: clients send few distinct ``Accept`` headers, and parsing one cost more than the
    rest of a short query's checks (a refusal is raised, not cached).
    """
    if format_param:
        short = _BY_MEDIA.get(format_param, _ALIASES.get(format_param, format_param))
        if short in SELECT_FORMATS:
            return short, "ttl"
        if short in GRAPH_FORMATS:
            return "json", short
        raise ProtocolError(
            400,
            "bad-format",
            f"unknown format {format_param!r}: use one of {', '.join([*SELECT_FORMATS, *GRAPH_FORMATS])}",
        )
    accept = accept or ""
    for media, short in _ALIASES.items():  # application/json means SPARQL JSON here
        if media in accept and short in SELECT_FORMATS:
            accept = accept.replace(media, SELECT_FORMATS[short])
    select = best(accept, list(SELECT_FORMATS.values()))
    graph = best(accept.replace("text/plain", GRAPH_FORMATS["nt"]), list(GRAPH_FORMATS.values()))
    return (_BY_MEDIA[select] if select else None), (_BY_MEDIA[graph] if graph else None)


def _one(values: list[str], name: str) -> str | None:
    if len(values) > 1:
        raise ProtocolError(400, "protocol", f"exactly one '{name}' parameter is allowed, got {len(values)}")
    return values[0] if values else None


def _unquote_plus(field: bytes) -> str:
    """A form field (ASCII, no line break) percent-decoded as UTF-8, as ``urllib.parse.unquote_plus``
    does it, in C: ``%XX`` is quoted-printable's ``=XX``, so ``binascii.a2b_qp`` decodes it once
    ``=`` is escaped and ``%`` turned into ``=``. Each escape shortens the field by two bytes: a
    malformed escape (``%`` not followed by two hex digits, which ``unquote`` keeps as it is) is
    seen in the length and falls back to ``unquote_plus``.

    >>> _unquote_plus(b"ASK+%7B%3Fs+%3Fp+%22%C3%A9%3D%22%7D=")
    'ASK {?s ?p "é="}='
    >>> _unquote_plus(b"100%+sure%2")
    '100% sure%2'
    """
    text = field.replace(b"+", b" ")
    escapes = text.count(b"%") + text.count(b"=")
    if not escapes:
        return text.decode("ascii")
    qp = text.replace(b"=", b"=3D").replace(b"%", b"=")
    decoded = a2b_qp(qp)
    if len(decoded) != len(qp) - 2 * escapes:
        return unquote_plus(field.decode("ascii"), encoding="utf-8", errors="strict")
    return decoded.decode("utf-8")


def parse_form(body: bytes, charset: str) -> dict[str, list[str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body, as ``urllib.parse.parse_qs(...,
    keep_blank_values=True, errors="strict")`` gives them. A query written out with its prefixes
    is ~200 percent escapes: decoding them in Python cost more than all the other checks of a
    request (``docs/guides/sparql-pool.md``), so an ASCII UTF-8 body is decoded by :func:`_unquote_plus`.

    >>> parse_form(b"query=SELECT+*+%7B%7D&default-graph-uri=http%3A%2F%2Fa&x", "utf-8")
    {'query': ['SELECT * {}'], 'default-graph-uri': ['http://a'], 'x': ['']}
    """
    if charset not in ("utf-8", "utf8") or not body.isascii() or b"\r" in body or b"\n" in body:
        # a2b_qp reads "=" before a line break as a soft break: such bodies take the plain path
        return parse_qs(body.decode(charset), keep_blank_values=True, encoding=charset, errors="strict")
    form: dict[str, list[str]] = {}
    for pair in body.split(b"&"):
        if pair:
            name, _, value = pair.partition(b"=")
            form.setdefault(_unquote_plus(name), []).append(_unquote_plus(value))
    return form


def _charset(content_type: str) -> str:
    match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.IGNORECASE)
    return match.group(1).lower() if match else "utf-8"


async def parse_request(request: Request) -> tuple[str | None, dict[str, list[str]]]:
    """The query text and all protocol parameters of a GET or POST request."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    if request.method == "GET":
        if "update" in params:
            raise ProtocolError(403, "update-refused", "SPARQL Update is not allowed on the public endpoint")
        return _one(params.get("query", []), "query"), params
    header = request.headers.get("content-type", "")
    media = header.split(";")[0].strip().lower()
    body = await request.body()
    if media == "application/sparql-query":
        charset = _charset(header)
        if charset not in ("utf-8", "utf8"):
            raise ProtocolError(415, "charset", f"a direct POST query must be UTF-8, not {charset}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(400, "charset", f"the query is not valid UTF-8: {exc}") from None
        if "query" in params:
            raise ProtocolError(400, "protocol", "a direct POST carries the query in the body only")
        return text, params
    if media == "application/sparql-update":
        raise ProtocolError(403, "update-refused", "SPARQL Update is not allowed on the public endpoint")
    if media == "application/x-www-form-urlencoded":
        charset = _charset(header)
        try:
            form = parse_form(body, charset)
        except (LookupError, UnicodeError) as exc:
            raise ProtocolError(400, "charset", f"form body not decodable as {charset}: {exc}") from None
        if "update" in form:
            raise ProtocolError(403, "update-refused", "SPARQL Update is not allowed on the public endpoint")
        for key, values in form.items():
            params.setdefault(key, []).extend(values)
        return _one(params.get("query", []), "query"), params
    if not media:
        raise ProtocolError(
            415, "media-type", "a POST needs a Content-Type (form or application/sparql-query)"
        )
    raise ProtocolError(
        415,
        "media-type",
        f"unsupported media type {media!r}: "
        "use application/x-www-form-urlencoded or application/sparql-query",
    )


def build_job(query: str, params: dict[str, list[str]], accept: str | None, settings: Settings) -> Job:
    """Validate a query request into a :class:`Job` (raises :class:`ProtocolError`)."""
    if not query.strip():
        raise ProtocolError(400, "protocol", "the 'query' parameter is empty")
    if is_update(query):
        raise ProtocolError(403, "update-refused", "SPARQL Update is not allowed on the public endpoint")
    if calls_service(query):  # the engine would call the named endpoint: no request leaves the server
        raise ProtocolError(403, "service-refused", "SERVICE (federated query) is not allowed here")
    select, graph = negotiate(accept, _one(params.get("format", []), "format"))
    default = params.get("default-graph-uri")
    named = params.get("named-graph-uri")
    for iri in (default or []) + (named or []):
        if not re.fullmatch(r"[^\s<>\"{}|\\^`]+:[^\s<>\"{}|\\^`]*", iri):
            raise ProtocolError(400, "protocol", f"not an absolute IRI: {iri!r}")
    return Job(
        query=query,
        select_format=select or "",
        graph_format=graph or "",
        cap=settings.result_cap,
        prefixes=prefixes_for(settings.base_iri),
        default_graph=tuple(default) if default else None,
        named_graphs=tuple(named) if named else None,
    )


async def answer_job(backend: QueryBackend, job: Job, settings: Settings) -> Response:
    """Run a job and turn its outcome into the HTTP response (results or a named limit)."""
    try:
        outcome = await backend.run(job, settings.query_timeout_s)
    except QueryTimeout:
        return error_response(
            503,
            "timeout",
            f"the query ran longer than the {settings.query_timeout_s:g} s timeout and was stopped: "
            "narrow it or add a LIMIT",
            {"Retry-After": "10"},
        )
    except Busy:
        return error_response(
            503,
            "busy",
            "every query worker stayed busy for the whole timeout: retry later",
            {"Retry-After": "10"},
        )
    vary = {"Vary": "Accept"}
    if isinstance(outcome, Answer):
        return Response(outcome.body, media_type=outcome.media_type, headers=vary)
    if outcome.kind == "syntax":
        return error_response(400, "malformed-query", f"malformed query: {outcome.detail}", vary)
    if outcome.kind == "result-cap":
        return error_response(413, "result-cap", outcome.detail, vary)
    if outcome.kind == "not-acceptable":
        return error_response(406, "not-acceptable", outcome.detail, vary)
    return error_response(500, "query-error", outcome.detail, vary)


def get_backend(request: Request) -> QueryBackend:
    backend: QueryBackend = request.app.state.backend
    return backend


async def handle(request: Request, settings: Settings) -> Response:
    """The SPARQL 1.1 Protocol query operation (GET, form POST, direct POST) on one request."""
    try:
        query, params = await parse_request(request)
        if query is None:
            accept = request.headers.get("accept", "")
            browser = "text/html" in accept and best(accept, ["text/html", JSON_RESULTS]) == "text/html"
            if request.method == "GET" and browser:
                return RedirectResponse("/query", status_code=303)  # a browser opening the endpoint
            raise ProtocolError(400, "protocol", "missing 'query' parameter")
        job = build_job(query, params, request.headers.get("accept"), settings)
        check_rate(request, settings)
        return await answer_job(get_backend(request), job, settings)
    except ProtocolError as exc:
        return exc.response()
    except StoreUnavailable as exc:
        return store_unavailable(exc)


def store_unavailable(exc: StoreUnavailable) -> JSONResponse:
    """The remote store is down: 503, retry soon (the next request tries it again)."""
    return error_response(503, "store-unavailable", str(exc), {"Retry-After": str(RETRY_AFTER_S)})


@router.api_route("/sparql", methods=["GET", "POST"], response_model=None)
async def sparql(request: Request, settings: SettingsDep) -> Response:
    """The SPARQL 1.1 Protocol query operation (GET, form POST, direct POST).

    In the served app GET and POST are answered by :class:`SparqlLane` (the same :func:`handle`)
    before FastAPI's routing; this route documents the operation and answers when the lane is
    not installed."""
    return await handle(request, settings)


class SparqlLane:
    """ASGI middleware: ``GET``/``POST /sparql`` go straight to :func:`handle`, past FastAPI's
    router, dependency solving and exception middleware.

    Installed inside :class:`api.limits.RequestLimits` and CORS, so admission control, size
    limits, CORS headers and the server-error middleware still apply; the protocol checks, the
    rate limit and the query limits are those of :func:`handle`. Measured (``benchmarks/sparql.py``):
    the FastAPI layers cost more CPU per request than the rest of the app's work on a short query,
    and on a 2-core machine that CPU is taken from the queries.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
            path, root = scope["path"], scope.get("root_path", "")
            if (path[len(root) :] if root and path.startswith(root) else path) == "/sparql":
                request = Request(scope, receive)
                response = await handle(request, request.app.state.settings)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@router.api_route("/sparql", methods=["PUT", "DELETE", "PATCH"], include_in_schema=False)
async def sparql_bad_method(request: Request) -> Response:
    """Methods the protocol does not define for queries."""
    return error_response(
        405,
        "method",
        f"{request.method} is not a SPARQL Protocol query method: use GET or POST",
        {"Allow": "GET, POST"},
    )


def run_query(
    store: ox.Store, query: str, cap: int, prefixes: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """Execute a read-only query in this thread; SELECT/ASK → SPARQL JSON, CONSTRUCT/DESCRIBE →
    N-Triples (for the CLI and tests; the endpoint goes through a :class:`QueryBackend`).

    The default graph is the store's: the published, deduplicated union of the source graphs
    and the catalogue (quarantine stays in its own named graphs); the project's prefixes
    (``pas:``, ``id:``, ``skos:``...) are predeclared.

    >>> import json
    >>> s = ox.Store(); s.add(ox.Quad(ox.NamedNode("http://a"), ox.NamedNode("http://p"), ox.Literal("x")))
    >>> json.loads(run_query(s, "SELECT ?o WHERE { ?s ?p ?o }", 10)[1])["results"]["bindings"]
    [{'o': {'type': 'literal', 'value': 'x'}}]
    """
    outcome: Any = execute(store, Job(query, "json", "nt", cap, prefixes))
    if isinstance(outcome, Answer):
        return outcome.media_type, outcome.body
    if outcome.kind == "syntax":
        raise SyntaxError(outcome.detail)
    if outcome.kind == "result-cap":
        raise OverflowError(outcome.detail)
    raise RuntimeError(outcome.detail)
