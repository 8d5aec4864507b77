"""The application factory: ``create_app(settings)`` opens the built store read-only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pyoxigraph as ox
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import portal, sparql
from api.deps import SettingsDep, served_quads
from api.graphql import router as graphql_router
from api.limits import RequestLimits
from kg import __version__
from kg.config import Settings
from kg.heap import freeze_heap
from kg.store import StoreLayout, open_graph, served_version


def create_app(settings: Settings | None = None, store: ox.Store | None = None) -> FastAPI:
    """A FastAPI app serving the graph of ``settings.store`` — followed across rebuilds — or of the
    remote store ``settings.store_endpoint``, or the given store."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.backend.start()
        served_quads(app)  # counted before serving: /health must stay cheap under load
        if settings.gc_freeze:
            freeze_heap()
        yield
        await app.state.backend.close()

    app = FastAPI(
        title="Passerelles",
        version=__version__,
        description="Open knowledge graph of employment and training in Normandy",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store if store is not None else open_graph(settings, follow=True)
    app.state.backend = portal.query_backend(settings, store)
    # /sparql's fast lane first (innermost): admission control, size limits and CORS still wrap it
    app.add_middleware(sparql.SparqlLane)
    # before CORS, so that CORS wraps it: its 503/413 answers carry the CORS headers too
    app.add_middleware(RequestLimits, max_inflight=settings.max_inflight, max_body=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], expose_headers=["Retry-After"]
    )
    app.include_router(sparql.router)
    portal.mount(app)
    app.include_router(graphql_router)

    @app.get("/health")
    def health(settings: SettingsDep) -> dict[str, object]:
        """Liveness and what is served: the build id and the number of quads."""
        current = StoreLayout(settings.store).current()
        return {
            "status": "ok",
            "version": __version__,
            "build": served_version(store) or (current.name if current else None),
            "quads": served_quads(app),
        }

    return app
