"""``Query.skillGaps``: the certifier's gap report through GraphQL, computed by :func:`kg.gaps.trade_gaps`
(the same stored queries as ``kg gaps`` and the portal's ``/queries/skill-gaps``) in the runner's
thread pool.

Arguments are checked before anything runs; a wrong one is a ``BAD_USER_INPUT`` error naming it, a
page size out of 1–100 a ``LIMIT_EXCEEDED`` one.

>>> check_share(0.25)
0.25
>>> check_share(1.5)
Traceback (most recent call last):
...
api.graphql.errors.ApiError: `minShare` is a share of offers between 0 and 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.graphql.base import MAX_PAGE
from api.graphql.errors import ApiError
from api.graphql.types.skill_gap import SkillGapReport, report_of
from kg.gaps import DEFAULT_THRESHOLD, ScopeError, resolve_scope, resolve_territory, trade_gaps

DEFAULT_GAPS = 20


def check_share(value: float, name: str = "minShare") -> float:
    """A share (0–1) given by the client, or BAD_USER_INPUT."""
    if not 0.0 <= value <= 1.0:
        raise ApiError.bad_input(f"`{name}` is a share of offers between 0 and 1.")
    return value


async def skill_gaps(
    info: Info,
    trade: strawberry.ID | None = None,
    occupations: list[str] | None = None,
    territory: Annotated[
        strawberry.ID | None,
        strawberry.argument(
            description="Only offers located there: a territory ID, or `28` (région), `departement:76`, "
            "`76540`, `2805`."
        ),
    ] = None,
    since: Annotated[
        dt.date | None, strawberry.argument(description="Only offers created on or after this date.")
    ] = None,
    min_share: Annotated[
        float, strawberry.argument(description="Drop skills asked by a smaller share of offers (0–1).")
    ] = 0.0,
    threshold: Annotated[
        float, strawberry.argument(description="Coverage score from which a skill counts as covered.")
    ] = DEFAULT_THRESHOLD,
    first: Annotated[int, strawberry.argument(description="The most demanded gaps (1–100).")] = DEFAULT_GAPS,
) -> SkillGapReport:
    """The report of one trade (its code or ID) or one ROME fiche, through kg.gaps; the resolver of
    ``Query.skillGaps``, whose GraphQL arguments are these parameters."""
    if first < 1 or first > MAX_PAGE:
        raise ApiError.limit(f"`first` is between 1 and {MAX_PAGE}.")
    check_share(min_share)
    check_share(threshold, "threshold")
    if occupations is not None and len(occupations) > 1:
        raise ApiError.bad_input(
            "`occupations`: one ROME fiche at a time (a set of fiches is a target trade: see targetTrades)."
        )
    ctx = info.context
    base = ctx.settings.base_iri
    try:
        scope = resolve_scope(trade, occupations[0] if occupations else None, base)
        where = resolve_territory(territory, base)
    except ScopeError as exc:
        raise ApiError.bad_input(str(exc)) from None
    runner = ctx.runner

    def run() -> SkillGapReport:
        with runner._lock:  # the runner counts the store's queries (N+1 checks)
            runner.count += 1
        try:
            report = trade_gaps(
                runner.store,
                scope,
                base,
                territory=where,
                since=since,
                threshold=threshold,
                min_share=min_share,
                first=first,
            )
        except ScopeError as exc:
            raise ApiError.bad_input(str(exc)) from None
        return report_of(report)

    return await asyncio.get_running_loop().run_in_executor(runner.executor, run)


__all__ = ["DEFAULT_GAPS", "DEFAULT_THRESHOLD", "skill_gaps"]
