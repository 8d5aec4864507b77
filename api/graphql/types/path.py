"""The GraphQL types of a guidance answer (``Query.paths``): ranked paths whose steps are the graph's
own typed nodes (Occupation, Skill, SkillBlock, Certification, TrainingCourse, TrainingSession,
TrainingPlace, Territory, TrainingBody, DisabilityReferent, VaeRelay), with the figures the ranking
used and the plain-language explanation.

They hold the answer of :func:`kg.paths.guidance` (the one code path of ``kg paths``, the API and
the stored queries); a step's other fields (labels, contacts…) resolve through the request's
loaders like any node's. :func:`from_guidance` converts the answer.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from api.graphql.base import make
from kg.paths import Guidance as GuidanceResult
from kg.paths import PathResult
from kg.paths import Skill as SkillResult

if TYPE_CHECKING:
    from api.graphql.types.certification import Certification
    from api.graphql.types.disability_referent import DisabilityReferent
    from api.graphql.types.occupation import Occupation
    from api.graphql.types.skill import Skill
    from api.graphql.types.skill_block import SkillBlock
    from api.graphql.types.territory import Territory
    from api.graphql.types.training_body import TrainingBody
    from api.graphql.types.training_course import TrainingCourse
    from api.graphql.types.training_place import TrainingPlace
    from api.graphql.types.training_session import TrainingSession
    from api.graphql.types.vae_relay import VaeRelay

SkillRef = Annotated["Skill", strawberry.lazy("api.graphql.types.skill")]
SkillBlockRef = Annotated["SkillBlock", strawberry.lazy("api.graphql.types.skill_block")]
CertificationRef = Annotated["Certification", strawberry.lazy("api.graphql.types.certification")]
OccupationRef = Annotated["Occupation", strawberry.lazy("api.graphql.types.occupation")]
CourseRef = Annotated["TrainingCourse", strawberry.lazy("api.graphql.types.training_course")]
SessionRef = Annotated["TrainingSession", strawberry.lazy("api.graphql.types.training_session")]
PlaceRef = Annotated["TrainingPlace", strawberry.lazy("api.graphql.types.training_place")]
TerritoryRef = Annotated["Territory", strawberry.lazy("api.graphql.types.territory")]
BodyRef = Annotated["TrainingBody", strawberry.lazy("api.graphql.types.training_body")]
ReferentRef = Annotated["DisabilityReferent", strawberry.lazy("api.graphql.types.disability_referent")]
RelayRef = Annotated["VaeRelay", strawberry.lazy("api.graphql.types.vae_relay")]


@strawberry.enum(description="Language of an explanation.")
class Lang(enum.Enum):
    FR = "fr"
    EN = "en"


@strawberry.type(description="A skill of a guidance answer: needed by the target, owned, or missing.")
class PathSkill:
    code: str = strawberry.field(description="OGR code.")
    label: str | None = strawberry.field(description="French label (null for a code the graph lacks).")
    core: bool = strawberry.field(description="A core ('Principale') skill of its fiche.")
    skill: SkillRef = strawberry.field(description="The skill node.")


@strawberry.type(description="A bloc on a path, with the missing skills it covers.")
class PathBlock:
    code: str
    label: str | None
    block: SkillBlockRef
    covers: list[SkillRef] = strawberry.field(description="Missing skills this bloc covers.")


@strawberry.type(description="The disability referent of a path's training body, with public contacts.")
class PathReferent:
    role: str | None
    email: str | None
    telephone: str | None
    web: str | None
    referent: ReferentRef


@strawberry.type(
    description="One ranked way to the target: a session of a course preparing a certification "
    "(or some of its blocs), near the person, with the missing skills it covers."
)
class GuidancePath:
    rank: int = strawberry.field(
        description="1 = best (skills covered, blocs before whole certifications, distance, start date, "
        "duration)."
    )
    partial: bool = strawberry.field(description="The course prepares blocs, not the whole certification.")
    certification: CertificationRef
    certification_code: str
    blocks: list[PathBlock] = strawberry.field(description="Blocs covering missing skills.")
    covered: list[SkillRef] = strawberry.field(description="Missing skills the path covers.")
    covered_count: int
    missing_count: int = strawberry.field(description="How many skills the person misses in all.")
    course: CourseRef
    session: SessionRef
    start_date: dt.date
    end_date: dt.date | None
    hours: float | None
    place: PlaceRef
    commune: TerritoryRef | None
    distance_km: float | None = strawberry.field(description="Great-circle distance from `near`.")
    body: BodyRef | None
    disability_referent: PathReferent | None
    explanation_fr: str
    explanation_en: str

    @strawberry.field(description="The explanation in one language (fr by default).")
    def explanation(self, lang: Lang = Lang.FR) -> str:
        return self.explanation_fr if lang is Lang.FR else self.explanation_en


@strawberry.type(description="The VAE alternative: certifications open to VAE and relay points nearby.")
class VaeAlternative:
    eligible: bool = strawberry.field(
        description="The person's experience is in the target or a neighbouring fiche."
    )
    reason: str
    certifications: list[CertificationRef]
    relays: list[RelayRef] = strawberry.field(description="Relay points of the person's département.")


@strawberry.type(description="The answer to a guidance request: what is missing, and the ranked paths.")
class Guidance:
    to: str = strawberry.field(description="The code asked for.")
    targets: list[OccupationRef] = strawberry.field(description="The ROME 4.0 fiches it stands for.")
    near: TerritoryRef | None
    radius_km: float
    starts_after: dt.date
    owned: list[PathSkill] = strawberry.field(description="Skills the person already has.")
    needed: list[PathSkill] = strawberry.field(description="Skills of the target (core ones if flagged).")
    missing: list[PathSkill]
    paths: list[GuidancePath]
    vae: VaeAlternative | None
    mobility: bool = strawberry.field(description="ROME names a career move from `from` to the target.")
    same_v3: bool = strawberry.field(description="`from` and the target share a ROME v3 parent.")
    notes: list[str]


def _skill(s: SkillResult) -> PathSkill:
    return PathSkill(code=s.code, label=s.label or None, core=s.core, skill=make("Skill", s.iri))


def _path(p: PathResult, missing: dict[str, str]) -> GuidancePath:
    ref = p.referent
    return GuidancePath(
        rank=p.rank,
        partial=p.partial,
        certification=make("Certification", p.certification),
        certification_code=p.certification_code,
        blocks=[
            PathBlock(
                code=b.code,
                label=b.label or None,
                block=make("SkillBlock", b.iri),
                covers=[make("Skill", missing[c]) for c in b.covers],
            )
            for b in p.blocs
        ],
        covered=[make("Skill", missing[c]) for c in p.covered],
        covered_count=len(p.covered),
        missing_count=p.missing,
        course=make("TrainingCourse", p.course),
        session=make("TrainingSession", p.session),
        start_date=dt.date.fromisoformat(p.start[:10]),
        end_date=dt.date.fromisoformat(p.end[:10]) if p.end else None,
        hours=p.hours,
        place=make("TrainingPlace", p.place),
        commune=make("Territory", p.commune) if p.commune else None,
        distance_km=p.distance_km,
        body=make("TrainingBody", p.body) if p.body else None,
        disability_referent=PathReferent(
            role=ref.get("role"),
            email=ref.get("email"),
            telephone=ref.get("telephone"),
            web=ref.get("web"),
            referent=make("DisabilityReferent", ref["iri"]),
        )
        if ref and ref.get("iri")
        else None,
        explanation_fr=p.explanation_fr,
        explanation_en=p.explanation_en,
    )


def from_guidance(g: GuidanceResult) -> Guidance:
    """The GraphQL answer for a :class:`kg.paths.Guidance`.

    >>> from kg.paths import Guidance as Answer
    >>> g = from_guidance(Answer("I1321", [], None, 50.0, "2026-01-01", [], [], [], []))
    >>> g.to, g.paths, g.starts_after, g.vae
    ('I1321', [], datetime.date(2026, 1, 1), None)
    """
    missing = {s.code: s.iri for s in g.missing}
    vae: Any = None
    if g.vae is not None:
        vae = VaeAlternative(
            eligible=g.vae.eligible,
            reason=g.vae.reason,
            certifications=[make("Certification", c["item"]) for c in g.vae.certifications],
            relays=[make("VaeRelay", r["item"]) for r in g.vae.relays],
        )
    return Guidance(
        to=g.to,
        targets=[make("Occupation", t["occupation"]) for t in g.targets],
        near=make("Territory", g.near) if g.near else None,
        radius_km=g.radius_km,
        starts_after=dt.date.fromisoformat(g.starts_after),
        owned=[_skill(s) for s in g.owned],
        needed=[_skill(s) for s in g.needed],
        missing=[_skill(s) for s in g.missing],
        paths=[_path(p, missing) for p in g.paths],
        vae=vae,
        mobility=g.mobility,
        same_v3=g.same_v3,
        notes=list(g.notes),
    )
