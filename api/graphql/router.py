"""``/graphql`` over HTTP as the GraphQL-over-HTTP specification says, and the offline explorer.

- ``POST /graphql`` with a JSON body ``{"query", "variables", "operationName", "extensions"}`` (or a
  list of them: a batch of at most ``MAX_BATCH``); ``GET /graphql?query=...`` for queries only (a
  mutation or subscription over GET is refused with 405).
- Responses are ``application/graphql-response+json`` when the client accepts it (request errors:
  400, since no data was produced), else ``application/json`` (status 200 for any well-formed
  request, for older clients).
- Limits (depth, cost, aliases, page size, batch size), a timeout, introspection switch, and an
  allow-list of persisted queries come from :class:`kg.config.Settings`. Errors carry
  ``extensions.code``; an unexpected exception is logged and answered without its details.
- ``GET /graphql`` from a browser (``Accept: text/html``) or ``GET /graphql/explorer`` serves
  GraphiQL, whose scripts and styles are vendored in ``api/graphql/static`` (no CDN).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.pyutils import is_awaitable as default_is_awaitable
from graphql.validation import NoSchemaIntrospectionCustomRule

from api.graphql.admission import ExecutionSlots, Overloaded
from api.graphql.base import MAX_PAGE
from api.graphql.context import Context
from api.graphql.errors import (
    BAD_USER_INPUT,
    FORBIDDEN,
    INTERNAL,
    LIMIT_EXCEEDED,
    OVERLOADED,
    PERSISTED_QUERY_NOT_FOUND,
    TIMEOUT,
)
from api.graphql.limits import measure
from api.graphql.lookahead import LookaheadExecutor, SettledExecutor
from api.graphql.queries import QueryRunner
from api.graphql.schema import schema
from api.graphql.search import INDEX_RETRY_AFTER_S, IndexNotReady, index_future
from api.limits import OVERLOAD_RETRY_AFTER_S
from kg.config import Settings
from kg.heap import freeze_heap
from kg.namespaces import prefixes_for
from kg.remote_store import RETRY_AFTER_S, StoreUnavailable
from kg.store import StoreLayout, served_version

log = logging.getLogger(__name__)
router = APIRouter()
STATIC = Path(__file__).parent / "static"
ASSETS = {
    "graphiql.min.js": "text/javascript",
    "graphiql.min.css": "text/css",
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "LICENSE.graphiql": "text/plain",
    "LICENSE.react": "text/plain",
    "LICENSE.react-dom": "text/plain",
}
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_BATCH = 10


class RequestError(Exception):
    """A request that produced no data: its HTTP status (with graphql-response+json) and its errors."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
        malformed: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.malformed = malformed  # not a well-formed GraphQL-over-HTTP request: 4xx whatever the media
        self.errors = [{"message": message, "extensions": {"code": code}}]
        self.headers = headers or {}


def _runner(request: Request) -> QueryRunner:
    state = request.app.state
    runner = getattr(state, "graphql_runner", None)
    if runner is None:
        settings: Settings = state.settings
        runner = QueryRunner(
            state.store,
            prefixes_for(settings.base_iri),
            executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="graphql"),
        )
        state.graphql_runner = runner
        index = index_future(_build_key(request), runner)  # the search index, built in the background
        if settings.gc_freeze:  # once built, it is long-lived too (kg.heap.freeze_heap)
            index.add_done_callback(lambda _: freeze_heap())
    return runner


def _slots(request: Request) -> ExecutionSlots:
    state = request.app.state
    slots = getattr(state, "graphql_slots", None)
    if slots is None:
        settings: Settings = state.settings
        slots = state.graphql_slots = ExecutionSlots(settings.graphql_concurrency, settings.graphql_queue_s)
    return slots


def _build_key(request: Request) -> object:
    settings: Settings = request.app.state.settings
    current = StoreLayout(settings.store).current()
    served = served_version(request.app.state.store)  # a remote store's build, or the followed one
    return (id(request.app.state.store), served or (current.name if current else None))


def _allowlist(settings: Settings) -> dict[str, str] | None:
    """sha256 → query text of the allow-listed ``.graphql`` files, or None when there is no allow-list."""
    if settings.graphql_allowlist is None:
        return None
    out = {}
    for path in sorted(settings.graphql_allowlist.glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        out[hashlib.sha256(text.encode()).hexdigest()] = text
    return out


def _format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("GraphQL resolver failed", exc_info=original)
        out: dict[str, Any] = {
            "message": "Internal error while resolving this field.",
            "extensions": {"code": INTERNAL},
        }
    else:
        out = {"message": error.message, "extensions": {"code": BAD_USER_INPUT, **(error.extensions or {})}}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    return out


async def _run_one(request: Request, body: Any, method: str) -> dict[str, Any]:
    """Execute one GraphQL request; raise RequestError when it yields no data."""
    settings: Settings = request.app.state.settings
    if not isinstance(body, dict):
        raise RequestError(
            400, "A GraphQL request is a JSON object with a 'query'.", BAD_USER_INPUT, malformed=True
        )
    query = body.get("query")
    variables = body.get("variables") or {}
    operation = body.get("operationName")
    extensions = body.get("extensions") or {}
    if not isinstance(variables, dict) or (operation is not None and not isinstance(operation, str)):
        raise RequestError(
            400, "'variables' must be an object and 'operationName' a string.", BAD_USER_INPUT, malformed=True
        )
    allowed = _allowlist(settings)
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    if isinstance(persisted, dict) and not query:
        digest = str(persisted.get("sha256Hash", ""))
        if allowed is None or digest not in allowed:
            raise RequestError(400, f"Unknown persisted query {digest[:16]!r}.", PERSISTED_QUERY_NOT_FOUND)
        query = allowed[digest]
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "Missing 'query'.", BAD_USER_INPUT, malformed=True)
    if allowed is not None and hashlib.sha256(query.encode()).hexdigest() not in allowed:
        raise RequestError(403, "This server runs allow-listed (persisted) queries only.", FORBIDDEN)
    try:
        document, errors = _parsed(query, settings.graphql_introspection)
    except GraphQLSyntaxError as exc:
        raise RequestError(400, f"Syntax error: {exc.message}", BAD_USER_INPUT) from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [op for op in operations if operation is None or (op.name and op.name.value == operation)]
    if method == "GET" and chosen and chosen[0].operation != OperationType.QUERY:
        raise RequestError(
            405, "Only queries may be sent with GET; use POST.", BAD_USER_INPUT, {"Allow": "POST"}
        )
    size = measure(schema._schema, document, variables, operation)
    for value, limit, what in (
        (size.depth, settings.graphql_max_depth, "depth"),
        (size.cost, settings.graphql_max_cost, "cost"),
        (size.aliases, settings.graphql_max_aliases, "aliases"),
        (size.max_page, MAX_PAGE, "page size (`first`)"),
    ):
        if value > limit:
            raise RequestError(400, f"Query {what} {value} exceeds the limit of {limit}.", LIMIT_EXCEEDED)
    if errors:
        return {"errors": [_format_error(e) for e in errors], "_status": 400}
    context = Context(runner=_runner(request), settings=settings, build_key=_build_key(request))
    try:
        async with _slots(request).place():
            result = await asyncio.wait_for(
                _execute(document, variables, operation, context), timeout=settings.graphql_timeout_s
            )
    except Overloaded as exc:
        raise RequestError(
            503,
            f"The server is overloaded ({exc}): retry in {OVERLOAD_RETRY_AFTER_S} s.",
            OVERLOADED,
            {"Retry-After": str(OVERLOAD_RETRY_AFTER_S)},
            malformed=True,
        ) from None
    except TimeoutError:
        raise RequestError(
            504, f"The query took more than {settings.graphql_timeout_s} s.", TIMEOUT
        ) from None
    down = [e for e in result.errors or () if isinstance(e.original_error, StoreUnavailable)]
    if down:  # the remote store is down: a 503 to retry, whatever the media type
        raise RequestError(
            503, f"The graph store is unavailable: {down[0].original_error}", "STORE_UNAVAILABLE",
            {"Retry-After": str(RETRY_AFTER_S)}, malformed=True,
        )
    warming = [e for e in result.errors or () if isinstance(e.original_error, IndexNotReady)]
    if warming:  # the server is starting (or serves a new build): a 503 to retry, not a timeout
        raise RequestError(
            503,
            str(warming[0].original_error),
            "SEARCH_INDEX_NOT_READY",
            {"Retry-After": str(INDEX_RETRY_AFTER_S)},
            malformed=True,
        )
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = [_format_error(e) for e in result.errors]
    if result.data is None and result.errors and all(not e.path for e in result.errors):
        out["_status"] = 400  # variable coercion failed: no execution
    else:
        out["data"] = result.data
    return out


@lru_cache(maxsize=512)
def _parsed(query: str, introspection: bool) -> tuple[Any, tuple[GraphQLError, ...]]:
    """The document of a query text and its validation errors, kept for the next request with the
    same text (clients send the same few queries; validation was a tenth of a deep lookup's time).
    graphql-core never modifies a document; the limits are measured per request (variables)."""
    document = parse(query, max_tokens=10_000)
    rules = list(specified_rules)
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return document, tuple(validate(schema._schema, document, rules))


_PLAIN_VALUES = frozenset({str, int, float, bool, type(None), list, dict, tuple, dt.date})


def _is_awaitable(value: Any) -> bool:
    """graphql-core's test of every resolved value (thousands per deep answer), with the common
    plain values answered by their type first.

    >>> async def later(): ...
    >>> pending = later()
    >>> _is_awaitable("x"), _is_awaitable([1]), _is_awaitable(None), _is_awaitable(pending)
    (False, False, False, True)
    >>> pending.close()
    """
    if type(value) in _PLAIN_VALUES:
        return False
    return default_is_awaitable(value)


async def _execute(
    document: Any, variables: dict[str, Any], operation: str | None, context: Context, ahead: bool = True
) -> Any:
    """Run a parsed, validated document; ``ahead``: with the look-ahead executor
    (:mod:`api.graphql.lookahead`; the same answer, computed a level at a time), else graphql-core's;
    both settle sibling fields before an error propagates (:class:`~api.graphql.lookahead.SettledExecutor`:
    the errors listed do not depend on which thread finishes first)."""
    result = execute(
        schema._schema,
        document,
        variable_values=variables,
        operation_name=operation,
        context_value=context,
        is_awaitable=_is_awaitable,  # type: ignore[arg-type]
        executor_class=LookaheadExecutor if ahead else SettledExecutor,
    )
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        result = await result
    assert isinstance(result, ExecutionResult)
    return result


def _media(request: Request) -> str | None:
    accept = request.headers.get("accept", "")
    if not accept or GRAPHQL_RESPONSE in accept:
        return GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else JSON
    if JSON in accept or "*/*" in accept or "application/*" in accept:
        return JSON
    return None


def _respond(
    request: Request,
    payload: Any,
    status: int,
    headers: dict[str, str] | None = None,
    well_formed: bool = False,
) -> Response:
    """The response in the negotiated media type; ``application/json`` answers 200 to any well-formed
    request (GraphQL errors included), as the specification asks for older clients."""
    media = _media(request) or JSON
    if media == JSON and well_formed:
        status = 200
    return Response(
        json.dumps(payload, ensure_ascii=False), status_code=status, media_type=media, headers=headers
    )


async def _handle(request: Request, body: Any, method: str) -> Response:
    if _media(request) is None:
        return JSONResponse(
            {"errors": [{"message": f"Accept {GRAPHQL_RESPONSE} or {JSON}."}]}, status_code=406
        )
    batch = isinstance(body, list)
    items = body if batch else [body]
    if batch and method == "GET":
        return _respond(request, {"errors": [{"message": "Batches are POST only."}]}, 400)
    if len(items) > MAX_BATCH:
        return _respond(
            request,
            {
                "errors": [
                    {
                        "message": f"At most {MAX_BATCH} operations per batch.",
                        "extensions": {"code": LIMIT_EXCEEDED},
                    }
                ]
            },
            400,
        )
    answers: list[dict[str, Any]] = []
    status = 200
    well_formed = True
    headers: dict[str, str] = {}
    for item in items:
        try:
            answer = await _run_one(request, item, method)
        except RequestError as exc:
            answer = {"errors": exc.errors, "_status": exc.status}
            headers.update(exc.headers)
            well_formed = well_formed and not exc.malformed
        item_status = answer.pop("_status", 200)
        if item_status == 405:
            return Response(
                json.dumps({"errors": answer["errors"]}), status_code=405, media_type=JSON, headers=headers
            )
        status = max(status, item_status) if not batch else 200
        answers.append(answer)
    return _respond(request, answers if batch else answers[0], status, headers, well_formed=well_formed)


@router.get("/graphql", response_model=None)
async def graphql_get(request: Request) -> Response:
    """GraphQL query by GET, or the explorer for a browser."""
    params = request.query_params
    if "query" not in params and "extensions" not in params:
        if "text/html" in request.headers.get("accept", ""):
            return explorer()
        return _respond(
            request,
            {"errors": [{"message": "Missing 'query'.", "extensions": {"code": BAD_USER_INPUT}}]},
            400,
        )
    body: dict[str, Any] = {"query": params.get("query"), "operationName": params.get("operationName")}
    for key in ("variables", "extensions"):
        if params.get(key):
            try:
                body[key] = json.loads(params[key])
            except json.JSONDecodeError:
                return _respond(
                    request,
                    {
                        "errors": [
                            {"message": f"'{key}' is not valid JSON.", "extensions": {"code": BAD_USER_INPUT}}
                        ]
                    },
                    400,
                )
    return await _handle(request, body, "GET")


@router.post("/graphql", response_model=None)
async def graphql_post(request: Request) -> Response:
    """GraphQL request (or batch) by POST: ``application/json`` body, or ``application/graphql`` text."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type == "application/graphql":
        body: Any = {"query": raw.decode("utf-8", errors="replace")}
    elif content_type in ("application/json", ""):
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _respond(
                request,
                {
                    "errors": [
                        {"message": "The body is not valid JSON.", "extensions": {"code": BAD_USER_INPUT}}
                    ]
                },
                400,
            )
    else:
        return JSONResponse(
            {"errors": [{"message": f"Unsupported media type {content_type!r}: send application/json."}]},
            status_code=415,
        )
    return await _handle(request, body, "POST")


EXPLORER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Passerelles — GraphQL explorer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/graphql/static/graphiql.min.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style></head>
<body><div id="graphiql">Loading the explorer…</div>
<script src="/graphql/static/react.production.min.js"></script>
<script src="/graphql/static/react-dom.production.min.js"></script>
<script src="/graphql/static/graphiql.min.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({ url: new URL("/graphql", window.location.href).href });
const example = `# Passerelles: an occupation, its core skills and certifications
{
  occupation(code: "I1402") {
    code label
    skills(first: 5, core: true) { totalCount edges { core node { code label kind } } }
    certifications(first: 5) { totalCount nodes { code label } }
  }
}`;
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery: example }));
</script></body></html>
"""


@router.get("/graphql/explorer", response_class=HTMLResponse)
def explorer() -> HTMLResponse:
    """GraphiQL, served with its assets from this app (works offline)."""
    return HTMLResponse(EXPLORER)


@router.get("/graphql/static/{name}", response_model=None)
def static(name: str) -> Response:
    """The explorer's vendored assets (GraphiQL, React) and their licences."""
    media = ASSETS.get(name)
    if media is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    return FileResponse(STATIC / name, media_type=media, headers={"Cache-Control": "public, max-age=86400"})
