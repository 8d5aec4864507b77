"""The ``TrainingCourse`` GraphQL type (pas:TrainingCourse): a training course (LHEO action de formation)."""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A training course (LHEO action de formation).")
class TrainingCourse(Node):
    code = data("TrainingCourse", "code")
    label = data("TrainingCourse", "label")
    objective = data("TrainingCourse", "objective")
    expected_results = data("TrainingCourse", "expectedResults")
    content = data("TrainingCourse", "content")
    training_domains = data("TrainingCourse", "trainingDomains")
    nsf_specialities = data("TrainingCourse", "nsfSpecialities")
    occupations = data("TrainingCourse", "occupations")
    certifications = data("TrainingCourse", "certifications")
    blocks = data("TrainingCourse", "blocks")
    entry_level = data("TrainingCourse", "entryLevel")
    exit_level = data("TrainingCourse", "exitLevel")
    teaching_mode = data("TrainingCourse", "teachingMode")
    total_hours = data("TrainingCourse", "totalHours")
    hours_in_centre = data("TrainingCourse", "hoursInCentre")
    hours_in_company = data("TrainingCourse", "hoursInCompany")
    provider = data("TrainingCourse", "provider")
    delivered_by = data("TrainingCourse", "deliveredBy")
    sessions = data("TrainingCourse", "sessions")
