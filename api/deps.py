"""Dependencies shared by the routers; overridable in tests (``app.dependency_overrides``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kg.config import Settings
from kg.store import GraphStore


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_store(request: Request) -> GraphStore:
    """The served graph: a store object, the embedded store following rebuilds, or a remote
    store (:func:`kg.store.open_graph`) — every reader goes through it."""
    store: GraphStore = request.app.state.store
    return store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[GraphStore, Depends(get_store)]
