"""Dependencies shared by the routers; overridable in tests (``app.dependency_overrides``)."""

from __future__ import annotations

from typing import Annotated

import pyoxigraph as ox
from fastapi import Depends, FastAPI, Request

from kg.config import Settings


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_store(request: Request) -> ox.Store:
    store = request.app.state.store
    assert isinstance(store, ox.Store)
    return store


def served_quads(app: FastAPI) -> int:
    """The number of quads of the served store, counted once: ``len`` scans the whole store
    (10 s on the real graph) without releasing the GIL, so counting on every ``/health`` froze the
    server for everyone (found by the load benchmark)."""
    count = getattr(app.state, "quads", None)
    if count is None:
        count = app.state.quads = len(app.state.store)
    return int(count)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ox.Store, Depends(get_store)]
