"""The ``EmergingSkill`` GraphQL type (pas:EmergingSkill).

A skill phrase frequent in job offers but absent from the ROME referential.
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A skill phrase frequent in job offers but absent from the ROME referential.")
class EmergingSkill(Node):
    code = data("EmergingSkill", "code")
    label = data("EmergingSkill", "label")
    normalised_phrase = data("EmergingSkill", "normalisedPhrase")
    offer_count = data("EmergingSkill", "offerCount")
    example_texts = data("EmergingSkill", "exampleTexts")
    example_offers = data("EmergingSkill", "exampleOffers")
    mentions = data("EmergingSkill", "mentions")
