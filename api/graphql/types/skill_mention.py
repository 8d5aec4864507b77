"""The ``SkillMention`` GraphQL type (pas:SkillMention): a skill found in a text, with its evidence span."""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A skill found in a text, with its evidence span.")
class SkillMention(Node):
    skill = data("SkillMention", "skill")
    emerging_skill = data("SkillMention", "emergingSkill")
    evidence_text = data("SkillMention", "evidenceText")
    start_offset = data("SkillMention", "startOffset")
    end_offset = data("SkillMention", "endOffset")
    confidence = data("SkillMention", "confidence")
    method = data("SkillMention", "method")
