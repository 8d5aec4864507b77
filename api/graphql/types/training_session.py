"""The ``TrainingSession`` GraphQL type (pas:TrainingSession).

A session of a training course, with its dates and places.
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A session of a training course, with its dates and places.")
class TrainingSession(Node):
    code = data("TrainingSession", "code")
    course = data("TrainingSession", "course")
    start_date = data("TrainingSession", "startDate")
    end_date = data("TrainingSession", "endDate")
    recruitment_status = data("TrainingSession", "recruitmentStatus")
    registration_address = data("TrainingSession", "registrationAddress")
    places = data("TrainingSession", "places")
