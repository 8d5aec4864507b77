"""The ``TrainingDomain`` GraphQL type (pas:TrainingDomain): a Formacode training domain."""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A Formacode training domain.")
class TrainingDomain(Node):
    code = data("TrainingDomain", "code")
    label = data("TrainingDomain", "label")
    alt_labels = data("TrainingDomain", "altLabels")
    definition = data("TrainingDomain", "definition")
    scope_note = data("TrainingDomain", "scopeNote")
    broader = data("TrainingDomain", "broader")
    narrower = data("TrainingDomain", "narrower")
    related = data("TrainingDomain", "related")
    certifications = data("TrainingDomain", "certifications")
    courses = data("TrainingDomain", "courses")
