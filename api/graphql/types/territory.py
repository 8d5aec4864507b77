"""The ``Territory`` GraphQL type (pas:Territory).

A territory: commune, département, région, EPCI, zone d'emploi, arrondissement...
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.graphql.base import (
    Connection,
    Node,
    ahead,
    connection_from_list,
    data,
    expand,
    kind_of,
    make,
    page_window,
    plain,
    register,
)
from api.graphql.enums import TerritoryKind, class_iri

# A territory's children point to it through one of these (a commune → its département, EPCI...).
PARENT_LINKS = [
    expand(p)
    for p in (
        "pas:departement",
        "pas:region",
        "pas:epci",
        "pas:employmentZone",
        "pas:arrondissement",
        "pas:parentCommune",
    )
]
TerritoryRef = Annotated["Territory", strawberry.lazy("api.graphql.types.territory")]


@register
@strawberry.type(
    description="A territory: commune, département, région, EPCI, zone d'emploi, arrondissement..."
)
class Territory(Node):
    code = data("Territory", "code")
    label = data("Territory", "label")
    population = data("Territory", "population")
    postal_codes = data("Territory", "postalCodes")
    latitude = data("Territory", "latitude")
    longitude = data("Territory", "longitude")
    departement = data("Territory", "departement")
    region = data("Territory", "region")
    epci = data("Territory", "epci")
    employment_zone = data("Territory", "employmentZone")
    arrondissement = data("Territory", "arrondissement")
    chef_lieu = data("Territory", "chefLieu")
    parent_commune = data("Territory", "parentCommune")

    @strawberry.field(description="Commune, département, région, EPCI, zone d'emploi...")
    @ahead("kind", TerritoryKind)
    @plain
    def kind(self, info: Info) -> TerritoryKind | None:
        return kind_of(info, str(self.id), TerritoryKind)

    @strawberry.field(
        description="The territories inside this one (the communes of a département, the "
        "départements of a région...), optionally of one kind, ordered by IRI."
    )
    async def children(
        self,
        info: Info,
        kind: TerritoryKind | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[TerritoryRef]:
        offset, size = page_window(first, after)
        target = class_iri(kind) if kind is not None else expand("pas:Territory")
        found = await info.context.inverse.load_many([(str(self.id), link, target) for link in PARENT_LINKS])
        iris = sorted({i for lst in found for i in lst})
        nodes: list[Any] = [make("Territory", i) for i in iris]
        return connection_from_list(nodes, offset, size)
