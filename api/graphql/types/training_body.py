"""The ``TrainingBody`` GraphQL type (pas:TrainingBody).

A training body (organisme de formation), with its Qualiopi status and disability referent.
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(
    description="A training body (organisme de formation), with its Qualiopi status and disability referent."
)
class TrainingBody(Node):
    code = data("TrainingBody", "code")
    label = data("TrainingBody", "label")
    siren = data("TrainingBody", "siren")
    legal_name = data("TrainingBody", "legalName")
    activity_number = data("TrainingBody", "activityNumber")
    uais = data("TrainingBody", "uais")
    natures = data("TrainingBody", "natures")
    qualiopi = data("TrainingBody", "qualiopi")
    qualiopi_training_actions = data("TrainingBody", "qualiopiTrainingActions")
    qualiopi_skills_assessment = data("TrainingBody", "qualiopiSkillsAssessment")
    qualiopi_vae = data("TrainingBody", "qualiopiVae")
    qualiopi_apprenticeship = data("TrainingBody", "qualiopiApprenticeship")
    disability_referents = data("TrainingBody", "disabilityReferents")
    street_address = data("TrainingBody", "streetAddress")
    postal_code = data("TrainingBody", "postalCode")
    locality = data("TrainingBody", "locality")
    commune = data("TrainingBody", "commune")
    latitude = data("TrainingBody", "latitude")
    longitude = data("TrainingBody", "longitude")
    emails = data("TrainingBody", "emails")
    telephones = data("TrainingBody", "telephones")
    web_pages = data("TrainingBody", "webPages")
    courses = data("TrainingBody", "courses")
