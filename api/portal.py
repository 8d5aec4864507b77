"""The open-data portal around ``/sparql``: query page, Linked Data, ontology and shapes, dataset
description, dumps and stored queries; and the choice of query backend."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pyoxigraph as ox
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from api import dataset, linked_data, stored_queries, vocabulary
from api.deps import SettingsDep
from api.executor import InProcessBackend, ProcessPoolBackend, QueryBackend, RemoteSparqlBackend
from api.sparql import store_unavailable as store_unavailable_response
from kg.config import PROJECT_ROOT, Settings
from kg.remote_store import StoreUnavailable
from kg.store import remote_endpoints

STATIC = Path(__file__).resolve().parent / "static"
EXAMPLES = PROJECT_ROOT / "queries" / "examples"


def query_backend(settings: Settings, store: ox.Store | None) -> QueryBackend:
    """Worker processes over the served store; a given store object runs in-process; a configured
    SPARQL endpoint (``PASSERELLES_QUERY_ENDPOINT``) or the remote store's query URL
    (``PASSERELLES_STORE_ENDPOINT``) takes the queries instead."""
    if settings.query_endpoint:
        return RemoteSparqlBackend(settings.query_endpoint)
    if settings.store_endpoint and store is None:
        return RemoteSparqlBackend(remote_endpoints(settings).query)
    if store is not None:
        return InProcessBackend(store)
    return ProcessPoolBackend(settings.store, settings.query_workers or None, settings.query_threads or None)


@cache
def examples() -> list[dict[str, str]]:
    """The example queries of ``queries/examples`` with their summary and intended users."""
    out = []
    for path in sorted(EXAMPLES.glob("*.rq")):
        query = stored_queries.parse_stored_query(path.stem, path.read_text(encoding="utf-8"))
        out.append(
            {
                "name": path.stem,
                "summary": query.summary,
                "user": query.headers.get("user", ""),
                "query": query.text,
            }
        )
    return out


def mount(app: FastAPI) -> None:
    """Add the portal's routes and static files to ``app``."""
    app.include_router(linked_data.router)
    app.include_router(vocabulary.router)
    app.include_router(dataset.router)
    app.include_router(stored_queries.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> Response:
        """The remote store is down (Linked Data pages, dataset, SPARQL...): 503, retry soon —
        the next request tries it again, so service resumes by itself when it is back."""
        return store_unavailable_response(exc)

    @app.get("/query", include_in_schema=False)
    def query_page() -> HTMLResponse:
        """The SPARQL query page (plain HTML + JS, no external resource: works offline)."""
        return HTMLResponse((STATIC / "query.html").read_text(encoding="utf-8"))

    @app.get("/query/examples", include_in_schema=False)
    def query_examples(settings: SettingsDep) -> JSONResponse:
        """The base IRI (to link results to their pages) and the example queries."""
        return JSONResponse({"base": settings.base_iri, "examples": examples()})
