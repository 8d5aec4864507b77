"""The ``OccupationV3`` GraphQL type (pas:OccupationV3).

A ROME v3 occupation record (RNCP and Certif Info cite these codes).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A ROME v3 occupation record (RNCP and Certif Info cite these codes).")
class OccupationV3(Node):
    code = data("OccupationV3", "code")
    label = data("OccupationV3", "label")
    occupations = data("OccupationV3", "occupations")
