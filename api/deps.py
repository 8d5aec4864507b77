"""Dependencies shared by the routers; overridable in tests (``app.dependency_overrides``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from kg.config import Settings
from kg.store import GraphStore, served_version


async def get_settings(request: Request) -> Settings:
    """The app's settings (``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a
    thread hand-off per request that cost more than the rest of the routing)."""
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


async def get_store(request: Request) -> GraphStore:
    """The served graph: a store object, the embedded store following rebuilds, or a remote
    store (:func:`kg.store.open_graph`) — every reader goes through it."""
    store: GraphStore = request.app.state.store
    return store


def served_quads(app: FastAPI) -> int:
    """The number of quads of the served store, counted once: ``len`` scans the whole store
    (10 s on the real graph) without releasing the GIL, so counting on every ``/health`` froze the
    server for everyone (found by the load benchmark); counted again when the served build changes."""
    store = app.state.store
    version = served_version(store)
    cached = getattr(app.state, "quads", None)
    if cached is None or cached[0] != version:
        # keyed on the served build: a following or remote store changes under the server
        cached = app.state.quads = (version, len(store))
    return int(cached[1])


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[GraphStore, Depends(get_store)]
