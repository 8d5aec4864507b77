"""``Query.paths``: the adviser's guidance paths over GraphQL.

The resolver runs :func:`kg.paths.guidance` — the same code as ``kg paths`` and the same stored
queries (``queries/reports/path-*.rq``) as the portal's ``/queries/path-…`` — in the API's thread
pool, on the request's store, and turns its answer into typed nodes
(:mod:`api.graphql.types.path`). A request the graph cannot answer as asked (unknown code,
commune, malformed skill code) is a ``BAD_USER_INPUT`` error; ``first`` above 100 is
``LIMIT_EXCEEDED``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.graphql.base import MAX_PAGE
from api.graphql.errors import ApiError
from api.graphql.types.path import Guidance, from_guidance
from kg.paths import DEFAULT_RADIUS_KM, GuidanceError, guidance

DEFAULT_FIRST = 10


async def resolve_paths(
    info: Info,
    to: str,
    from_: Annotated[str | None, strawberry.argument(name="from")] = None,
    skills: list[str] | None = None,
    near: strawberry.ID | None = None,
    radius_km: float | None = None,
    starts_after: dt.date | None = None,
    accessibility: bool | None = False,
    vae: bool | None = False,
    first: int | None = DEFAULT_FIRST,
) -> Guidance:
    """Ranked guidance paths to ``to`` (see :func:`kg.paths.guidance` for the arguments); the
    resolver of ``Query.paths``, whose GraphQL arguments are these parameters."""
    count = DEFAULT_FIRST if first is None else first
    if count > MAX_PAGE:
        raise ApiError.limit(f"`first` is at most {MAX_PAGE} paths (asked {count}).")
    if count < 1:
        raise ApiError.bad_input("`first` is at least 1.")
    ctx = info.context
    base = ctx.settings.base_iri
    runner = ctx.runner

    def run() -> Any:
        return guidance(
            runner.store,
            base,
            to,
            near=None if near is None else str(near),
            radius_km=DEFAULT_RADIUS_KM if radius_km is None else radius_km,
            from_=from_,
            skills=skills or (),
            starts_after=starts_after,
            accessibility=bool(accessibility),
            vae=bool(vae),
            first=count,
        )

    try:
        answer = await asyncio.get_running_loop().run_in_executor(runner.executor, run)
    except GuidanceError as exc:
        raise ApiError.bad_input(str(exc)) from None
    return from_guidance(answer)
