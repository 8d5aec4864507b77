"""The ``TargetTrade`` GraphQL type (pas:TargetTrade).

A trade the region targets (métier en tension, priority sector), with its ROME fiches.
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(
    description="A trade the region targets (métier en tension, priority sector), with its ROME fiches."
)
class TargetTrade(Node):
    code = data("TargetTrade", "code")
    label = data("TargetTrade", "label")
    definition = data("TargetTrade", "definition")
    ordinal = data("TargetTrade", "ordinal")
    occupations = data("TargetTrade", "occupations")
    appellations = data("TargetTrade", "appellations")
    offers = data("TargetTrade", "offers")
    certifications = data("TargetTrade", "certifications")
