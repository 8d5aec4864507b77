"""The ``DisabilityReferent`` GraphQL type (pas:DisabilityReferent).

A disability referent role of training bodies (a role, never a person).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A disability referent role of training bodies (a role, never a person).")
class DisabilityReferent(Node):
    code = data("DisabilityReferent", "code")
    role_title = data("DisabilityReferent", "roleTitle")
    training_bodies = data("DisabilityReferent", "trainingBodies")
    places = data("DisabilityReferent", "places")
    emails = data("DisabilityReferent", "emails")
    telephones = data("DisabilityReferent", "telephones")
    web_pages = data("DisabilityReferent", "webPages")
