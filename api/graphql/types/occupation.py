"""The ``Occupation`` GraphQL type (pas:Occupation): a ROME 4.0 occupation (fiche métier)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, cast

import pyoxigraph as ox
import strawberry
from strawberry.types import Info

from api.graphql.base import (
    LightConnection,
    LightEdge,
    Node,
    PageInfo,
    Ref,
    ahead,
    data,
    encode_cursor,
    expand,
    follow_many,
    make,
    page_info_of,
    page_window,
    prefetch,
    register,
    selected_props,
)
from api.graphql.context import Context
from api.graphql.eager import settle
from api.graphql.enums import SkillKind, most_specific
from api.graphql.fieldmap import FIELDS

if TYPE_CHECKING:
    from api.graphql.types.skill import Skill

SkillRef = Annotated["Skill", strawberry.lazy("api.graphql.types.skill")]


@strawberry.type(description="A skill of an occupation, with the fiche's flags for it.")
class OccupationSkillEdge:
    cursor: str
    node: SkillRef
    core: bool = strawberry.field(description="ROME marks it as core to the job (compétence « principale »).")
    emerging: bool = strawberry.field(description="ROME marks it as emerging (« émergente »).")


@strawberry.type(description="A page of an occupation's skills.")
class OccupationSkillConnection:
    edges: list[OccupationSkillEdge]
    page_info: PageInfo
    total_count: int


@register
@strawberry.type(description="A ROME 4.0 occupation (fiche métier).")
class Occupation(Node):
    code = data("Occupation", "code")
    label = data("Occupation", "label")
    ogr_code = data("Occupation", "ogrCode")
    rome_v3_parent = data("Occupation", "romeV3Parent")
    domain = data("Occupation", "domain")
    definition = data("Occupation", "definition")
    access = data("Occupation", "access")
    ecological_transition = data("Occupation", "ecologicalTransition")
    digital_transition = data("Occupation", "digitalTransition")
    demographic_transition = data("Occupation", "demographicTransition")
    regulated_job = data("Occupation", "regulatedJob")
    executive_job = data("Occupation", "executiveJob")
    riasec_major = data("Occupation", "riasecMajor")
    riasec_minor = data("Occupation", "riasecMinor")
    appellations = data("Occupation", "appellations")
    work_contexts = data("Occupation", "workContexts")
    mobility_targets = data("Occupation", "mobilityTargets")
    certifications = data("Occupation", "certifications")
    job_offers = data("Occupation", "jobOffers")
    target_trades = data("Occupation", "targetTrades")

    @strawberry.field(
        description="The fiche's skills (pas:hasSkill), core ones first, filterable by kind "
        "and by the core flag."
    )
    @ahead("occupation-skills")
    async def skills(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        kind: SkillKind | None = None,
        core: bool | None = None,
    ) -> OccupationSkillConnection:
        offset, size = page_window(first, after)
        also = selected_props(info, "Skill")
        (page,) = await skill_pages(info.context, [str(self.id)], offset, size, kind, core, also)
        await prefetch(info, "Skill", [str(e.node.id) for e in page.edges])
        return page


async def skill_pages(
    ctx: Context,
    iris: Sequence[str],
    offset: int,
    size: int,
    kind: SkillKind | None,
    core: bool | None,
    also: Sequence[str] = (),
    light: bool = False,
) -> list[Any]:
    """The page of skills of each fiche of ``iris`` (``Occupation.skills``), read for all at once:
    core skills first, then by IRI; ``also``: the skills' properties to read with them; ``light``:
    as plain records (:class:`~api.graphql.base.LightConnection`), for the look-ahead executor."""
    spec = FIELDS["Occupation"].fields["skills"]
    core_p, emerging_p = expand("pas:hasCoreSkill"), expand("pas:hasEmergingSkillItem")
    found = await settle(
        [
            follow_many(ctx, iris, spec, also=also),
            ctx.values.load_many([(iri, p) for iri in iris for p in (core_p, emerging_p)]),
        ]
    )  # (in this task when the look-ahead primed them; one batch otherwise)
    for outcome in found:
        if isinstance(outcome, BaseException):
            raise outcome
    skills, flags = cast(list[list[Any]], found)
    if kind is not None:
        every = sorted({t.value for terms in skills for t in terms if isinstance(t, ox.NamedNode)})
        loaded = await ctx.values.load_many([(s, expand("rdf:type")) for s in every])
        types = dict(zip(every, loaded, strict=True))
    pages: list[Any] = []
    for index, terms in enumerate(skills):
        core_set = {t.value for t in flags[2 * index]}
        emerging_set = {t.value for t in flags[2 * index + 1]}
        codes = sorted({t.value for t in terms if isinstance(t, ox.NamedNode)})
        if kind is not None:
            codes = [s for s in codes if most_specific(SkillKind, {t.value for t in types[s]}) == kind]
        if core is not None:
            codes = [s for s in codes if (s in core_set) == core]
        codes.sort(key=lambda s, c=core_set: (s not in c, s))  # type: ignore[misc]
        has_next = offset + size < len(codes)
        if light:
            cut = enumerate(codes[offset : offset + size])
            light_edges = [
                LightEdge(encode_cursor(offset + i), Ref(c), c in core_set, c in emerging_set) for i, c in cut
            ]
            pages.append(LightConnection(light_edges, offset, has_next, len(codes)))
            continue
        # The page's edges built at once (not a generic page's edges, then these: 100 objects less).
        edges = [
            OccupationSkillEdge(
                cursor=encode_cursor(offset + at),
                node=make("Skill", code),
                core=code in core_set,
                emerging=code in emerging_set,
            )
            for at, code in enumerate(codes[offset : offset + size])
        ]
        info = page_info_of(edges, offset, has_next)
        pages.append(OccupationSkillConnection(edges=edges, page_info=info, total_count=len(codes)))
    return pages
