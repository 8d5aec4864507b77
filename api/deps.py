"""Dependencies shared by the routers; overridable in tests (``app.dependency_overrides``)."""

from __future__ import annotations

from typing import Annotated

import pyoxigraph as ox
from fastapi import Depends, Request

from kg.config import Settings


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_store(request: Request) -> ox.Store:
    store = request.app.state.store
    assert isinstance(store, ox.Store)
    return store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ox.Store, Depends(get_store)]
