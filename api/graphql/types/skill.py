"""The ``Skill`` GraphQL type (pas:Skill).

A ROME skill or knowledge item (savoir-faire, savoir, savoir-être, macro-compétence).
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from api.graphql.base import Node, ahead, data, kind_of, plain, register
from api.graphql.enums import SkillKind


@register
@strawberry.type(
    description="A ROME skill or knowledge item (savoir-faire, savoir, savoir-être, macro-compétence)."
)
class Skill(Node):
    code = data("Skill", "code")
    label = data("Skill", "label")
    definition = data("Skill", "definition")
    category = data("Skill", "category")
    sub_category = data("Skill", "subCategory")
    macro_skill = data("Skill", "macroSkill")
    occupations = data("Skill", "occupations")
    blocks = data("Skill", "blocks")
    required_by = data("Skill", "requiredBy")

    @strawberry.field(
        description="Know-how, soft skill, knowledge or macro-skill (the item's most specific class)."
    )
    @ahead("kind", SkillKind)
    @plain
    def kind(self, info: Info) -> SkillKind | None:
        return kind_of(info, str(self.id), SkillKind)
