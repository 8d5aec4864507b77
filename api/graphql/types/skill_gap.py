"""The certifier's gap report as GraphQL types (``Query.skillGaps``): a view of :mod:`kg.gaps`'s
dataclasses, built by :func:`report_of` — no figure is computed here.

Each reported resource (skill, bloc, certification, offer, fiche) is the graph's own node type, so
a client can ask for more of it (``skill { kind }``, ``bloc { certification { label } }``).
"""

import datetime as dt
from typing import Any

import strawberry

from api.graphql.base import lazy, make
from kg.gaps import EmergingDemand, Evidence, SkillDemand, TradeGaps, UncoveredCoreSkill


def _node(type_name: str, iri: str | None) -> Any:
    return make(type_name, iri) if iri else None


@strawberry.type(
    description="An offer asking for a demanded skill: the extracted text span, or the recruiter's choice."
)
class GapEvidence:
    offer: lazy("JobOffer")  # type: ignore[valid-type]
    offer_code: str
    title: str
    source: str = strawberry.field(
        description="`extracted` (a text span), `recruiter-required` or `recruiter-desired`."
    )
    text: str | None = strawberry.field(description="The span of the offer's text (extracted only).")
    start: int | None
    end: int | None
    confidence: float


@strawberry.type(
    description="A skill the trade's offers ask for, its share of offers, and the best bloc of the "
    "trade's certifications covering it (a gap when no bloc reaches the threshold)."
)
class SkillDemandReport:
    skill: lazy("Skill")  # type: ignore[valid-type]
    code: str
    label: str
    demand: float = strawberry.field(
        description="Confidence-weighted share of the offers asking for it (0–1)."
    )
    offers: int = strawberry.field(description="Offers asking for it.")
    total_offers: int = strawberry.field(description="The trade's offers (in the territory and period).")
    gap: bool
    bloc: lazy("SkillBlock") | None = strawberry.field(  # type: ignore[valid-type]
        description="The best covering bloc; for a gap, the closest one (below the threshold), if any."
    )
    bloc_label: str | None
    certification: lazy("Certification") | None  # type: ignore[valid-type]
    score: float | None = strawberry.field(description="The bloc's coverage score of the skill (0–1).")
    evidence: list[GapEvidence] = strawberry.field(
        description="For a gap: the offers (at most 5) that ask for it, by offer code."
    )


@strawberry.type(description="A requirement phrase of the trade's offers that no ROME item names.")
class EmergingDemandReport:
    emerging: lazy("EmergingSkill")  # type: ignore[valid-type]
    code: str
    label: str
    offers: int
    share: float = strawberry.field(description="Share of the trade's offers using it (0–1).")
    example: str
    example_offer: lazy("JobOffer") | None  # type: ignore[valid-type]


@strawberry.type(
    description="A core skill of one of the trade's fiches that no bloc covers (referential side)."
)
class UncoveredCoreSkillReport:
    occupation: lazy("Occupation")  # type: ignore[valid-type]
    skill: lazy("Skill")  # type: ignore[valid-type]
    code: str
    label: str
    best_score: float | None


@strawberry.type(
    description="The certifier's report for a target trade or a ROME fiche: the demanded skills no "
    "certification bloc covers, ranked by demand, with their evidence; emerging skills; uncovered core "
    "skills."
)
class SkillGapReport:
    scope: strawberry.ID = strawberry.field(description="The trade's (or fiche's) IRI.")
    code: str
    label: str
    territory: strawberry.ID | None
    since: dt.date | None
    threshold: float
    offers: int = strawberry.field(description="The offers counted (in the territory and period).")
    gaps: list[SkillDemandReport] = strawberry.field(
        description="Demanded skills no bloc covers at or above the threshold, most demanded first "
        "(at most `first`)."
    )
    demand: list[SkillDemandReport] = strawberry.field(
        description="Every demanded skill kept (covered ones and the gaps above), most demanded first."
    )
    emerging: list[EmergingDemandReport]
    uncovered_core: list[UncoveredCoreSkillReport]


def _evidence(e: Evidence) -> GapEvidence:
    return GapEvidence(
        offer=make("JobOffer", e.offer),
        offer_code=e.offer_code,
        title=e.title,
        source=e.source,
        text=e.text,
        start=e.start,
        end=e.end,
        confidence=e.confidence,
    )


def _demand(d: SkillDemand) -> SkillDemandReport:
    return SkillDemandReport(
        skill=make("Skill", d.skill),
        code=d.code,
        label=d.label,
        demand=d.demand,
        offers=d.offers,
        total_offers=d.total,
        gap=d.gap,
        bloc=_node("SkillBlock", d.bloc),
        bloc_label=d.bloc_label,
        certification=_node("Certification", d.certification),
        score=d.score,
        evidence=[_evidence(e) for e in d.evidence],
    )


def _emerging(e: EmergingDemand) -> EmergingDemandReport:
    return EmergingDemandReport(
        emerging=make("EmergingSkill", e.emerging),
        code=e.code,
        label=e.label,
        offers=e.offers,
        share=e.share,
        example=e.example,
        example_offer=_node("JobOffer", e.example_offer),
    )


def _uncovered(u: UncoveredCoreSkill) -> UncoveredCoreSkillReport:
    return UncoveredCoreSkillReport(
        occupation=make("Occupation", u.occupation),
        skill=make("Skill", u.skill),
        code=u.code,
        label=u.label,
        best_score=u.best_score,
    )


def report_of(report: TradeGaps) -> SkillGapReport:
    """The GraphQL view of a :class:`kg.gaps.TradeGaps` (same skills, same order, same figures)."""
    demand = {id(d): _demand(d) for d in report.demand}
    return SkillGapReport(
        scope=strawberry.ID(report.scope),
        code=report.code,
        label=report.label,
        territory=strawberry.ID(report.territory) if report.territory else None,
        since=dt.date.fromisoformat(report.since) if report.since else None,
        threshold=report.threshold,
        offers=report.offers,
        gaps=[demand[id(g)] for g in report.gaps],
        demand=list(demand.values()),
        emerging=[_emerging(e) for e in report.emerging],
        uncovered_core=[_uncovered(u) for u in report.uncovered_core],
    )
