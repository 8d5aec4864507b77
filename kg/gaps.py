"""Skill gaps of the region's target trades: what job offers demand that no certification bloc covers.

Every figure comes from the stored queries in ``queries/reports/`` (the ones the open-data portal
publishes), so the CLI, the API and the portal give the same answers:

* ``skill-gaps.rq`` — demanded skills, their share of offers and best covering bloc; gap flag;
* ``skill-gap-evidence.rq`` — the offers and text spans behind one demanded skill;
* ``trade-emerging-skills.rq`` — requirement phrases matching no ROME item;
* ``uncovered-core-skills.rq`` — core skills of the trade's fiches that no bloc covers.

>>> resolve_scope("eco-construction", None, "https://w3id.org/passerelles/")
'https://w3id.org/passerelles/id/trade/eco-construction'
>>> resolve_territory("28", "https://w3id.org/passerelles/")
'https://w3id.org/passerelles/id/region/28'
>>> resolve_territory("departement:28", "https://w3id.org/passerelles/")
'https://w3id.org/passerelles/id/departement/28'
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal

import pyoxigraph as ox

from kg.queries import named_query

DEFAULT_THRESHOLD = 0.5
EVIDENCE_PER_GAP = 5
# Regions of France (COG): a bare two-digit code that is a region code means the region
# (``28`` = Normandie); ``departement:28`` asks for the département.
REGION_CODES = {
    "01",
    "02",
    "03",
    "04",
    "06",
    "11",
    "24",
    "27",
    "28",
    "32",
    "44",
    "52",
    "53",
    "75",
    "76",
    "84",
    "93",
    "94",
}
_TERRITORY_KINDS = {"commune", "departement", "region", "epci", "zone-emploi"}
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ROME = re.compile(r"^[A-N]\d{4}$")


class ScopeError(ValueError):
    """A trade, occupation or territory the caller named that cannot be resolved."""


@dataclass
class Evidence:
    """One offer asking for a skill: the extracted span, or the recruiter's choice."""

    offer: str
    offer_code: str
    title: str
    source: str  # extracted | recruiter-required | recruiter-desired
    text: str | None = None
    start: int | None = None
    end: int | None = None
    confidence: float = 1.0


@dataclass
class SkillDemand:
    """A skill the trade's offers ask for, and how well the trade's certification blocs cover it."""

    skill: str
    code: str
    label: str
    demand: float  # confidence-weighted share of the trade's offers asking for it
    offers: int
    total: int
    gap: bool
    bloc: str | None = None  # the best covering bloc (for a gap: the closest one, below threshold)
    bloc_label: str | None = None
    certification: str | None = None
    score: float | None = None
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class EmergingDemand:
    """A requirement phrase of the trade's offers that no ROME item names."""

    emerging: str
    code: str
    label: str
    offers: int
    share: float
    example: str
    example_offer: str


@dataclass
class UncoveredCoreSkill:
    """A core skill of one of the trade's fiches that no bloc covers (referential-side gap)."""

    occupation: str
    skill: str
    code: str
    label: str
    best_score: float | None


@dataclass
class TradeGaps:
    """The certifier's report for one trade (or fiche)."""

    scope: str
    code: str
    label: str
    territory: str | None
    since: str | None
    threshold: float
    offers: int
    demand: list[SkillDemand]
    emerging: list[EmergingDemand]
    uncovered_core: list[UncoveredCoreSkill]

    @property
    def gaps(self) -> list[SkillDemand]:
        """Demanded skills no bloc covers at or above the threshold, most demanded first."""
        return [d for d in self.demand if d.gap]

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["gaps"] = [asdict(g) for g in self.gaps]
        return out


def resolve_scope(trade: str | None, occupation: str | None, base_iri: str) -> str:
    """The IRI of a trade (its identifier or IRI) or of a ROME 4.0 fiche (its code)."""
    if (trade is None) == (occupation is None):
        raise ScopeError(
            "name exactly one of a trade (e.g. eco-construction) or a ROME 4.0 code (e.g. F1703)"
        )
    if trade is not None:
        if trade.startswith(base_iri + "id/trade/"):
            trade = trade.rsplit("/", 1)[1]
        if not _SLUG.match(trade):
            raise ScopeError(f"trade {trade!r}: expected an identifier like eco-construction")
        return f"{base_iri}id/trade/{trade}"
    assert occupation is not None
    if not _ROME.match(occupation):
        raise ScopeError(f"occupation {occupation!r}: expected a ROME 4.0 code like F1703")
    return f"{base_iri}id/rome/{occupation}"


def resolve_territory(territory: str | None, base_iri: str) -> str | None:
    """The IRI of a territory given as ``kind:code``, a bare code, or an IRI (None: anywhere).

    Bare codes: 5 characters → commune, 9 digits → EPCI, 4 digits → zone d'emploi, a region code
    → the region, other 2–3 characters → département.
    """
    if territory is None or territory == "":
        return None
    if territory.startswith(base_iri + "id/"):
        kind, _, code = territory[len(base_iri) + 3 :].partition("/")
    elif ":" in territory:
        kind, _, code = territory.partition(":")
    else:
        code = territory
        if re.fullmatch(r"\d[\dAB]\d{3}", code):
            kind = "commune"
        elif re.fullmatch(r"\d{9}", code):
            kind = "epci"
        elif re.fullmatch(r"\d{4}", code):
            kind = "zone-emploi"
        elif code in REGION_CODES:
            kind = "region"
        elif re.fullmatch(r"\d{2,3}|2[AB]", code):
            kind = "departement"
        else:
            raise ScopeError(
                f"territory {territory!r}: expected e.g. 28 (région), departement:76, 76540, 2805"
            )
    if kind not in _TERRITORY_KINDS or not re.fullmatch(r"[0-9A-Z]{1,9}", code):
        raise ScopeError(
            f"territory {territory!r}: expected KIND:CODE with KIND one of {sorted(_TERRITORY_KINDS)}"
        )
    return f"{base_iri}id/{kind}/{code}"


def _text(row: dict[str, ox.NamedNode | ox.Literal | ox.BlankNode], key: str, default: str = "") -> str:
    term = row.get(key)
    return term.value if term is not None else default


def _float(row: dict[str, ox.NamedNode | ox.Literal | ox.BlankNode], key: str) -> float | None:
    term = row.get(key)
    return float(Decimal(term.value)) if term is not None else None


def trade_gaps(
    store: ox.Store,
    scope: str,
    base_iri: str,
    territory: str | None = None,
    since: date | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    min_share: float = 0.0,
    first: int | None = None,
    evidence: int = EVIDENCE_PER_GAP,
) -> TradeGaps:
    """The gap report of ``scope`` (a trade or fiche IRI) from the stored queries.

    ``min_share`` drops demanded skills asked by a smaller share of offers; ``first`` keeps the
    most demanded gaps only; ``evidence`` caps the offers listed per gap.
    """
    where = {"trade": scope, "territory": territory, "since": since.isoformat() if since else None}
    code, label, known = _describe(store, scope)
    if not known:
        raise ScopeError(f"{scope} is not a target trade or ROME fiche of the graph")
    rows = list(named_query("reports/skill-gaps").run(store, {**where, "threshold": threshold}, base_iri))
    demand: list[SkillDemand] = []
    total = 0
    for row in rows:
        total = int(_text(row, "total", "0"))
        share = _float(row, "demand") or 0.0
        if share < min_share:
            continue
        demand.append(
            SkillDemand(
                skill=_text(row, "skill"),
                code=_text(row, "code"),
                label=_text(row, "label"),
                demand=round(share, 4),
                offers=int(_text(row, "offers", "0")),
                total=total,
                gap=_text(row, "gap") == "true",
                bloc=_text(row, "bloc") or None,
                bloc_label=_text(row, "blocLabel") or None,
                certification=_text(row, "certification") or None,
                score=_float(row, "score"),
            )
        )
    if total == 0:
        total = _offer_count(store, where, base_iri)
    kept_gaps = [d for d in demand if d.gap][: first if first is not None else None]
    keep = {id(g) for g in kept_gaps}
    demand = [d for d in demand if not d.gap or id(d) in keep]
    for gap in kept_gaps:
        gap.evidence = _evidence(store, where, gap.skill, base_iri)[:evidence]
    emerging = [
        EmergingDemand(
            emerging=_text(r, "emerging"),
            code=_text(r, "code"),
            label=_text(r, "label"),
            offers=int(_text(r, "offers", "0")),
            share=round(_float(r, "share") or 0.0, 4),
            example=_text(r, "example"),
            example_offer=_text(r, "exampleOffer"),
        )
        for r in named_query("reports/trade-emerging-skills").run(store, where, base_iri)
        if (_float(r, "share") or 0.0) >= min_share
    ]
    uncovered = [
        UncoveredCoreSkill(
            occupation=_text(r, "occupation"),
            skill=_text(r, "skill"),
            code=_text(r, "code"),
            label=_text(r, "label"),
            best_score=_float(r, "bestScore"),
        )
        for r in named_query("reports/uncovered-core-skills").run(
            store, {"trade": scope, "threshold": threshold}, base_iri
        )
    ]
    return TradeGaps(
        scope=scope,
        code=code,
        label=label,
        territory=territory,
        since=since.isoformat() if since else None,
        threshold=threshold,
        offers=total,
        demand=demand,
        emerging=emerging,
        uncovered_core=uncovered,
    )


def _describe(store: ox.Store, scope: str) -> tuple[str, str, bool]:
    """(code, French label, whether it is a TargetTrade or Occupation of the graph)."""
    solutions = store.query(
        "PREFIX pas: <https://w3id.org/passerelles/ontology#> PREFIX skos: <http://www.w3.org/2004/02/skos/core#>"
        " SELECT ?s ?code ?label WHERE { ?s a ?type FILTER (?type IN (pas:TargetTrade, pas:Occupation))"
        " OPTIONAL { ?s pas:code ?code }"
        " OPTIONAL { ?s skos:prefLabel ?label FILTER (LANG(?label) = 'fr') } }",
        substitutions={ox.Variable("s"): ox.NamedNode(scope)},
    )
    assert isinstance(solutions, ox.QuerySolutions)
    for row in solutions:
        code = row["code"].value if row["code"] is not None else scope.rsplit("/", 1)[1]
        return code, row["label"].value if row["label"] is not None else code, True
    return scope.rsplit("/", 1)[1], scope, False


def _offer_count(store: ox.Store, where: dict[str, str | None], base_iri: str) -> int:
    rows = list(named_query("reports/trade-emerging-skills").run(store, where, base_iri))
    return int(_text(rows[0], "total", "0")) if rows else 0


def _evidence(store: ox.Store, where: dict[str, str | None], skill: str, base_iri: str) -> list[Evidence]:
    out = []
    for r in named_query("reports/skill-gap-evidence").run(store, {**where, "skill": skill}, base_iri):
        start, end = _text(r, "start"), _text(r, "end")
        out.append(
            Evidence(
                offer=_text(r, "offer"),
                offer_code=_text(r, "offerCode"),
                title=_text(r, "title"),
                source=_text(r, "source"),
                text=_text(r, "text") or None,
                start=int(start) if start else None,
                end=int(end) if end else None,
                confidence=_float(r, "confidence") or 1.0,
            )
        )
    return out


def target_trades(store: ox.Store) -> list[tuple[str, str, str]]:
    """(IRI, identifier, French label) of every target trade, in the pact's order."""
    solutions = store.query(
        "PREFIX pas: <https://w3id.org/passerelles/ontology#> PREFIX skos: <http://www.w3.org/2004/02/skos/core#>"
        " SELECT ?t ?code ?label WHERE { ?t a pas:TargetTrade ; pas:code ?code ; pas:ordinal ?n ;"
        " skos:prefLabel ?label FILTER (LANG(?label) = 'fr') } ORDER BY ?n"
    )
    assert isinstance(solutions, ox.QuerySolutions)
    return [(s["t"].value, s["code"].value, s["label"].value) for s in solutions]
