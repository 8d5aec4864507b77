"""The ``Occupation`` GraphQL type (pas:Occupation): a ROME 4.0 occupation (fiche métier)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import pyoxigraph as ox
import strawberry
from strawberry.types import Info

from api.graphql.base import (
    Node,
    PageInfo,
    connection_from_list,
    data,
    expand,
    follow,
    make,
    page_window,
    prefetch,
    register,
    selected_props,
)
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
    async def skills(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        kind: SkillKind | None = None,
        core: bool | None = None,
    ) -> OccupationSkillConnection:
        offset, size = page_window(first, after)
        ctx = info.context
        iri = str(self.id)
        skills, core_terms, emerging_terms = await asyncio.gather(
            follow(ctx, iri, FIELDS["Occupation"].fields["skills"], also=selected_props(info, "Skill")),
            ctx.values.load((iri, expand("pas:hasCoreSkill"))),
            ctx.values.load((iri, expand("pas:hasEmergingSkillItem"))),
        )
        core_set = {t.value for t in core_terms}
        emerging_set = {t.value for t in emerging_terms}
        codes = sorted({t.value for t in skills if isinstance(t, ox.NamedNode)})
        if kind is not None:
            types = await ctx.values.load_many([(s, expand("rdf:type")) for s in codes])
            codes = [
                s
                for s, ts in zip(codes, types, strict=True)
                if most_specific(SkillKind, {t.value for t in ts}) == kind
            ]
        if core is not None:
            codes = [s for s in codes if (s in core_set) == core]
        codes.sort(key=lambda s: (s not in core_set, s))
        page: Any = connection_from_list([make("Skill", s) for s in codes], offset, size)
        await prefetch(info, "Skill", [str(e.node.id) for e in page.edges])
        edges = [
            OccupationSkillEdge(
                cursor=e.cursor,
                node=e.node,
                core=str(e.node.id) in core_set,
                emerging=str(e.node.id) in emerging_set,
            )
            for e in page.edges
        ]
        return OccupationSkillConnection(edges=edges, page_info=page.page_info, total_count=len(codes))
