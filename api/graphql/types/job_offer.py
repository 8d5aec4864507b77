"""The ``JobOffer`` GraphQL type (pas:JobOffer).

A job offer, with its declared and predicted occupations and its extracted skills.
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(
    description="A job offer, with its declared and predicted occupations and its extracted skills."
)
class JobOffer(Node):
    code = data("JobOffer", "code")
    label = data("JobOffer", "label")
    description = data("JobOffer", "description")
    declared_occupation = data("JobOffer", "declaredOccupation")
    predictions = data("JobOffer", "predictions")
    contract_type = data("JobOffer", "contractType")
    employer_name = data("JobOffer", "employerName")
    creation_date = data("JobOffer", "creationDate")
    commune = data("JobOffer", "commune")
    naf_activity = data("JobOffer", "nafActivity")
    latitude = data("JobOffer", "latitude")
    longitude = data("JobOffer", "longitude")
    required_skills = data("JobOffer", "requiredSkills")
    desired_skills = data("JobOffer", "desiredSkills")
    mentions = data("JobOffer", "mentions")
