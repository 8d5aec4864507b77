"""The GraphQL schema: the ``Query`` root (Relay ``node``, lookups by code, filtered lists, search).

Export the SDL snapshot with ``strawberry export-schema api.graphql.schema:schema``.
"""

import asyncio
import datetime as dt
import enum
import importlib
from typing import Annotated, Any

import pyoxigraph as ox
import strawberry
from strawberry.types import Info

from api.graphql.base import (
    RDF_TYPE,
    REGISTRY,
    Connection,
    Node,
    Order,
    install_plain_resolvers,
    lazy,
    make,
    order_clause,
    page_of_query,
    snake,
)
from api.graphql.enums import CertificationKind, SkillKind, TerritoryKind, TransitionCategory, class_iri
from api.graphql.errors import ApiError
from api.graphql.fieldmap import FIELDS
from api.graphql.gaps import skill_gaps as resolve_skill_gaps  # skill gaps (#7)
from api.graphql.paths import resolve_paths  # guidance paths (#8)
from api.graphql.search import INDEX_WAIT_S, KINDS, IndexNotReady, index_future
from api.graphql.types.path import Guidance
from api.graphql.types.skill_gap import SkillGapReport  # skill gaps (#7)

# Import every type module: each registers its type (REGISTRY) for the schema and the resolvers.
for _name in FIELDS:
    importlib.import_module(f"api.graphql.types.{snake(_name)}")

XSD_DATE = ox.NamedNode("http://www.w3.org/2001/XMLSchema#date")
XSD_INTEGER = ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer")
XSD_BOOLEAN = ox.NamedNode("http://www.w3.org/2001/XMLSchema#boolean")
MAX_IDS = 100

# When an IRI has several classes (one SIRET may be a certifier and a training body), the first
# listed wins for `node(id:)`.
NODE_PRIORITY = [
    "Occupation",
    "OccupationV3",
    "Appellation",
    "Skill",
    "Certification",
    "SkillBlock",
    "TrainingBody",
    "Company",
    "Certifier",
    "TrainingDomain",
    "TrainingCourse",
    "TrainingSession",
    "TrainingPlace",
    "DisabilityReferent",
    "VaeRelay",
    "Territory",
    "JobOffer",
    "EmergingSkill",
    "TargetTrade",
    "ProfessionalDomain",
    "WorkContext",
    "NsfSpeciality",
    "NafActivity",
    "BlockCoverage",
    "OccupationPrediction",
    "SkillMention",
]


def _text(value: str | None) -> ox.Literal | None:
    return None if value is None else ox.Literal(value)


def _iri(ctx: Any, value: strawberry.ID | None) -> ox.NamedNode | None:
    """A user-given resource IRI as a term: only IRIs under the graph's ``id/`` base are accepted."""
    if value is None:
        return None
    text = str(value)
    if not text.startswith(ctx.id_base):
        raise ApiError.bad_input(f"{text!r} is not an ID of this graph (IDs are IRIs under {ctx.id_base}).")
    try:
        return ox.NamedNode(text)
    except ValueError:
        raise ApiError.bad_input(f"{text!r} is not a valid IRI.") from None


async def _by_code(info: Info, type_name: str, code: str, what: str, cls: str | None = None) -> Any:
    # In the calling thread: one index look-up (the code, then the class), cheaper than the hand-off
    # to a thread (0.1–0.2 ms of CPU per request).
    rows = await info.context.runner.select(
        "by-code",
        {"code": ox.Literal(code), "class": ox.NamedNode(cls or FIELDS[type_name].class_iri)},
        inline=True,
    )
    iris = sorted({row["s"].value for row in rows})
    if not iris:
        raise ApiError.not_found(what, code)
    return make(type_name, iris[0])


async def _node(info: Info, iri: str) -> Any:
    ctx = info.context
    _iri(ctx, strawberry.ID(iri))
    types = {t.value for t in await ctx.values.load((iri, RDF_TYPE))}
    for name in NODE_PRIORITY:
        if FIELDS[name].class_iri in types:
            return REGISTRY[name](id=strawberry.ID(iri))
    return None


@strawberry.enum(description="What `search` looks through.")
class SearchType(enum.Enum):
    OCCUPATION = "OCCUPATION"
    APPELLATION = "APPELLATION"
    SKILL = "SKILL"
    CERTIFICATION = "CERTIFICATION"
    TRAINING_DOMAIN = "TRAINING_DOMAIN"
    COMMUNE = "COMMUNE"


@strawberry.type(description="A search result: the matched resource, its label and a score (0–100).")
class SearchHit:
    score: float
    type: SearchType
    label: str
    code: str | None
    node: Node


def _conn(name: str) -> Any:
    return Connection[lazy(name)]  # type: ignore[misc]


OccupationT = lazy("Occupation")
ListArgs = Annotated[int | None, strawberry.argument(description="Page size (at most 100).")]


@strawberry.type
class Query:
    @strawberry.field(description="The resource with this global ID (its IRI), whatever its type.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await _node(info, str(id))

    @strawberry.field(description="Several resources by global ID (at most 100), in the order asked.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_IDS:
            raise ApiError.limit(f"At most {MAX_IDS} IDs per call (asked {len(ids)}).")
        return list(await asyncio.gather(*(_node(info, str(i)) for i in ids)))

    # --- Guidance paths (issue #8) ------------------------------------------------------------------
    # One block, additive: the resolver is api/graphql/paths.py, the types api/graphql/types/path.py,
    # both running kg.paths.guidance (the code of `kg paths` and the stored path-* queries).

    paths: Guidance = strawberry.field(
        resolver=resolve_paths,
        description="Guidance: ranked paths to an occupation (ROME 4.0 or v3 code, or appellation "
        "code) — its missing skills, the blocs and certifications covering them, and training "
        "sessions near a commune (`near`: commune ID or INSEE code; `radiusKm`, default 50), "
        "starting on or after `startsAfter` (default today); `from` (a fiche) or `skills` (OGR "
        "codes) are what the person has; `accessibility` keeps bodies with a disability referent; "
        "`vae` adds the VAE alternative. At most 100 paths (`first`, default 10).",
    )

    # --- End of guidance paths -----------------------------------------------------------------------

    # --- Occupations ---------------------------------------------------------------------------------

    @strawberry.field(
        description="A ROME 4.0 fiche by code. A ROME v3 code is accepted too: it resolves "
        "to its ROME 4.0 fiche when there is exactly one (else use `occupations(v3:)`)."
    )
    async def occupation(self, info: Info, code: str) -> OccupationT | None:  # type: ignore[valid-type]
        try:
            return await _by_code(info, "Occupation", code, "ROME 4.0 occupation")
        except ApiError:
            rows = await info.context.runner.select("occupations-of-v3", {"code": ox.Literal(code)})
            iris = sorted({row["s"].value for row in rows})
            if len(iris) == 1:
                return make("Occupation", iris[0])
            if not iris:
                raise ApiError.not_found("ROME occupation (v4 or v3)", code) from None
            raise ApiError.bad_input(
                f"ROME v3 code {code!r} maps to {len(iris)} ROME 4.0 fiches "
                f"({', '.join(i.rsplit('/', 1)[-1] for i in iris)}): "
                f"list them with occupations(v3: {code!r})."
            ) from None

    @strawberry.field(
        description="ROME 4.0 fiches, filtered by domain code (`I` or `I14`), ROME v3 code, "
        "ecological-transition category."
    )
    async def occupations(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        domain: str | None = None,
        v3: str | None = None,
        transition: TransitionCategory | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("Occupation"):  # type: ignore[valid-type]
        params = {
            "domain": _text(domain),
            "v3": _text(v3),
            "transition": ox.NamedNode(class_iri(transition)) if transition else None,
        }
        return await page_of_query(
            info,
            "Occupation",
            "list-occupations",
            params,
            order_clause(order_by, "list-occupations", info),
            first,
            after,
        )

    @strawberry.field(description="A job title by OGR code.")
    async def appellation(self, info: Info, code: str) -> lazy("Appellation") | None:  # type: ignore[valid-type]
        return await _by_code(info, "Appellation", code, "appellation")

    @strawberry.field(description="A skill or knowledge item by OGR code.")
    async def skill(self, info: Info, code: str) -> lazy("Skill") | None:  # type: ignore[valid-type]
        return await _by_code(info, "Skill", code, "skill")

    @strawberry.field(description="Skills, filtered by kind and category.")
    async def skills(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        kind: SkillKind | None = None,
        category: str | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("Skill"):  # type: ignore[valid-type]
        params = {"kind": ox.NamedNode(class_iri(kind)) if kind else None, "category": _text(category)}
        return await page_of_query(
            info, "Skill", "list-skills", params, order_clause(order_by, "list-skills", info), first, after
        )

    # --- Certifications ------------------------------------------------------------------------------

    @strawberry.field(description="A certification by code (`RNCP35178`, `RS5678`).")
    async def certification(self, info: Info, code: str) -> lazy("Certification") | None:  # type: ignore[valid-type]
        return await _by_code(info, "Certification", code, "certification")

    @strawberry.field(
        description="Certifications, filtered by register, European level, Formacode, "
        "certifier SIRET, ROME code (v3 or v4)."
    )
    async def certifications(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        kind: CertificationKind | None = None,
        level: int | None = None,
        formacode: str | None = None,
        certifier: str | None = None,
        rome: str | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("Certification"):  # type: ignore[valid-type]
        params = {
            "kind": ox.NamedNode(class_iri(kind)) if kind else None,
            "level": None if level is None else ox.Literal(str(level), datatype=XSD_INTEGER),
            "formacode": _text(formacode),
            "certifier": _text(certifier),
            "rome": _text(rome),
        }
        return await page_of_query(
            info,
            "Certification",
            "list-certifications",
            params,
            order_clause(order_by, "list-certifications", info),
            first,
            after,
        )

    @strawberry.field(description="A block of skills by code (`RNCP35178BC01`).")
    async def skill_block(self, info: Info, code: str) -> lazy("SkillBlock") | None:  # type: ignore[valid-type]
        return await _by_code(info, "SkillBlock", code, "skill block")

    @strawberry.field(description="A certifier by SIRET.")
    async def certifier(self, info: Info, siret: str) -> lazy("Certifier") | None:  # type: ignore[valid-type]
        return await _by_code(info, "Certifier", siret, "certifier")

    @strawberry.field(description="Certifiers, by SIRET or label.")
    async def certifiers(
        self, info: Info, first: ListArgs = None, after: str | None = None, order_by: Order = Order.CODE
    ) -> _conn("Certifier"):  # type: ignore[valid-type]
        params = {"class": ox.NamedNode(FIELDS["Certifier"].class_iri)}
        return await page_of_query(
            info, "Certifier", "list-class", params, order_clause(order_by, "list-class", info), first, after
        )

    # --- Training ------------------------------------------------------------------------------------

    @strawberry.field(description="A Formacode training domain by code.")
    async def training_domain(self, info: Info, code: str) -> lazy("TrainingDomain") | None:  # type: ignore[valid-type]
        return await _by_code(info, "TrainingDomain", code, "Formacode")

    @strawberry.field(description="Formacode training domains, optionally under a broader Formacode.")
    async def training_domains(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        broader: str | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("TrainingDomain"):  # type: ignore[valid-type]
        return await page_of_query(
            info,
            "TrainingDomain",
            "list-training-domains",
            {"broader": _text(broader)},
            order_clause(order_by, "list-training-domains", info),
            first,
            after,
        )

    @strawberry.field(description="A training course by its LHEO identifier.")
    async def training_course(self, info: Info, code: str) -> lazy("TrainingCourse") | None:  # type: ignore[valid-type]
        return await _by_code(info, "TrainingCourse", code, "training course")

    @strawberry.field(
        description="Training courses, filtered by Formacode, certification code, training body "
        "SIRET, territory (ID) of a session place."
    )
    async def training_courses(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        formacode: str | None = None,
        certification: str | None = None,
        body: str | None = None,
        territory: strawberry.ID | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("TrainingCourse"):  # type: ignore[valid-type]
        params = {
            "formacode": _text(formacode),
            "certification": _text(certification),
            "body": _text(body),
            "territory": _iri(info.context, territory),
        }
        return await page_of_query(
            info,
            "TrainingCourse",
            "list-training-courses",
            params,
            order_clause(order_by, "list-training-courses", info),
            first,
            after,
        )

    @strawberry.field(description="A training session by its LHEO identifier.")
    async def training_session(self, info: Info, code: str) -> lazy("TrainingSession") | None:  # type: ignore[valid-type]
        return await _by_code(info, "TrainingSession", code, "training session")

    @strawberry.field(
        description="Training sessions, filtered by course code, start-date range (inclusive), "
        "territory (ID) of a place; ordered by start date by default."
    )
    async def training_sessions(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        course: str | None = None,
        start_from: dt.date | None = None,
        start_to: dt.date | None = None,
        territory: strawberry.ID | None = None,
        order_by: Order = Order.DATE,
    ) -> _conn("TrainingSession"):  # type: ignore[valid-type]
        params = {
            "course": _text(course),
            "from": None if start_from is None else ox.Literal(start_from.isoformat(), datatype=XSD_DATE),
            "to": None if start_to is None else ox.Literal(start_to.isoformat(), datatype=XSD_DATE),
            "territory": _iri(info.context, territory),
        }
        return await page_of_query(
            info,
            "TrainingSession",
            "list-training-sessions",
            params,
            order_clause(order_by, "list-training-sessions", info),
            first,
            after,
        )

    @strawberry.field(description="A training body by SIRET.")
    async def training_body(self, info: Info, siret: str) -> lazy("TrainingBody") | None:  # type: ignore[valid-type]
        return await _by_code(info, "TrainingBody", siret, "training body")

    @strawberry.field(description="Training bodies, filtered by Qualiopi status and territory (ID).")
    async def training_bodies(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        qualiopi: bool | None = None,
        territory: strawberry.ID | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("TrainingBody"):  # type: ignore[valid-type]
        params = {
            "qualiopi": None if qualiopi is None else ox.Literal(str(qualiopi).lower(), datatype=XSD_BOOLEAN),
            "territory": _iri(info.context, territory),
        }
        return await page_of_query(
            info,
            "TrainingBody",
            "list-training-bodies",
            params,
            order_clause(order_by, "list-training-bodies", info),
            first,
            after,
        )

    @strawberry.field(description="VAE relay points, filtered by territory (ID).")
    async def vae_relays(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        territory: strawberry.ID | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("VaeRelay"):  # type: ignore[valid-type]
        return await page_of_query(
            info,
            "VaeRelay",
            "list-vae-relays",
            {"territory": _iri(info.context, territory)},
            order_clause(order_by, "list-vae-relays", info),
            first,
            after,
        )

    # --- Companies, territories, offers ---------------------------------------------------------------

    @strawberry.field(description="A company establishment by SIRET.")
    async def company(self, info: Info, siret: str) -> lazy("Company") | None:  # type: ignore[valid-type]
        return await _by_code(info, "Company", siret, "company")

    @strawberry.field(description="Companies, filtered by NAF code (any level) and territory (ID).")
    async def companies(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        naf: str | None = None,
        territory: strawberry.ID | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("Company"):  # type: ignore[valid-type]
        params = {"naf": _text(naf), "territory": _iri(info.context, territory)}
        return await page_of_query(
            info,
            "Company",
            "list-companies",
            params,
            order_clause(order_by, "list-companies", info),
            first,
            after,
        )

    @strawberry.field(
        description="A territory by kind and code (INSEE code of a commune, SIREN of an EPCI...)."
    )
    async def territory(
        self, info: Info, code: str, kind: TerritoryKind = TerritoryKind.COMMUNE
    ) -> lazy("Territory") | None:  # type: ignore[valid-type]
        return await _by_code(info, "Territory", code, kind.name.lower().replace("_", " "), class_iri(kind))

    @strawberry.field(description="Territories, filtered by kind and parent territory (ID).")
    async def territories(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        kind: TerritoryKind | None = None,
        within: strawberry.ID | None = None,
        order_by: Order = Order.CODE,
    ) -> _conn("Territory"):  # type: ignore[valid-type]
        params = {
            "kind": ox.NamedNode(class_iri(kind)) if kind else None,
            "within": _iri(info.context, within),
        }
        return await page_of_query(
            info,
            "Territory",
            "list-territories",
            params,
            order_clause(order_by, "list-territories", info),
            first,
            after,
        )

    @strawberry.field(description="A job offer by identifier.")
    async def job_offer(self, info: Info, code: str) -> lazy("JobOffer") | None:  # type: ignore[valid-type]
        return await _by_code(info, "JobOffer", code, "job offer")

    @strawberry.field(
        description="Job offers, filtered by declared ROME code, contract type, creation-date "
        "range (inclusive), territory (ID)."
    )
    async def job_offers(
        self,
        info: Info,
        first: ListArgs = None,
        after: str | None = None,
        occupation: str | None = None,
        contract: str | None = None,
        created_from: dt.date | None = None,
        created_to: dt.date | None = None,
        territory: strawberry.ID | None = None,
        order_by: Order = Order.DATE_DESC,
    ) -> _conn("JobOffer"):  # type: ignore[valid-type]
        params = {
            "occupation": _text(occupation),
            "contract": _text(contract),
            "from": None if created_from is None else ox.Literal(created_from.isoformat()),
            "to": None if created_to is None else ox.Literal(created_to.isoformat()),
            "territory": _iri(info.context, territory),
        }
        return await page_of_query(
            info,
            "JobOffer",
            "list-job-offers",
            params,
            order_clause(order_by, "list-job-offers", info),
            first,
            after,
        )

    @strawberry.field(description="Emerging skills found in job offers.")
    async def emerging_skills(
        self, info: Info, first: ListArgs = None, after: str | None = None, order_by: Order = Order.CODE
    ) -> _conn("EmergingSkill"):  # type: ignore[valid-type]
        params = {"class": ox.NamedNode(FIELDS["EmergingSkill"].class_iri)}
        return await page_of_query(
            info,
            "EmergingSkill",
            "list-class",
            params,
            order_clause(order_by, "list-class", info),
            first,
            after,
        )

    @strawberry.field(description="The trades the region targets.")
    async def target_trades(
        self, info: Info, first: ListArgs = None, after: str | None = None, order_by: Order = Order.CODE
    ) -> _conn("TargetTrade"):  # type: ignore[valid-type]
        params = {"class": ox.NamedNode(FIELDS["TargetTrade"].class_iri)}
        return await page_of_query(
            info,
            "TargetTrade",
            "list-class",
            params,
            order_clause(order_by, "list-class", info),
            first,
            after,
        )

    # --- Skill gaps (issue #7; api/graphql/gaps.py, kg/gaps.py) ----------------------------------------

    skill_gaps: SkillGapReport = strawberry.field(
        resolver=resolve_skill_gaps,
        description="The certifier's report for a target trade (`trade`: its code or ID) or one ROME fiche "
        '(`occupations: ["F1703"]`): the skills its job offers demand that no bloc of its certifications '
        "covers, most demanded first, with evidence. The same figures as `kg gaps` and the stored query "
        "`/queries/skill-gaps`.",
    )

    # --- end of skill gaps ---------------------------------------------------------------------------

    # --- Search --------------------------------------------------------------------------------------

    @strawberry.field(
        description="Label search over occupations, appellations, skills, certifications, "
        "Formacode and communes: accent- and case-insensitive, typo-tolerant, best first."
    )
    async def search(
        self, info: Info, text: str, types: list[SearchType] | None = None, first: int = 20
    ) -> list[SearchHit]:
        if first < 1 or first > 100:
            raise ApiError.limit("`first` is between 1 and 100.")
        if len(text) > 200:
            raise ApiError.bad_input("`text` is at most 200 characters.")
        ctx = info.context
        future = index_future(ctx.build_key, ctx.runner)
        try:
            index = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout=INDEX_WAIT_S)
        except TimeoutError:
            raise IndexNotReady(
                "The search index of this graph build is still being prepared (it takes about a minute "
                "after a new build): retry shortly."
            ) from None
        kinds = None if not types else {t.value for t in types}
        hits = await asyncio.get_running_loop().run_in_executor(
            ctx.runner.executor, index.search, text, kinds, first
        )
        return [
            SearchHit(
                score=h.score,
                type=SearchType(h.kind),
                label=h.label,
                code=h.code,
                node=make(KINDS[h.kind][1], h.iri),
            )
            for h in hits
        ]


schema = strawberry.Schema(query=Query, types=[REGISTRY[name] for name in sorted(REGISTRY)])
install_plain_resolvers(schema)
