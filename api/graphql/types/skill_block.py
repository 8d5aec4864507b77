"""The ``SkillBlock`` GraphQL type (pas:SkillBlock).

A block of skills (bloc de compétences) of an RNCP certification.
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A block of skills (bloc de compétences) of an RNCP certification.")
class SkillBlock(Node):
    code = data("SkillBlock", "code")
    label = data("SkillBlock", "label")
    certification = data("SkillBlock", "certification")
    coverage = data("SkillBlock", "coverage")
    courses = data("SkillBlock", "courses")
