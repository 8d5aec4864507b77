"""The ``ProfessionalDomain`` GraphQL type (pas:ProfessionalDomain).

A ROME broad domain (A) or professional domain (A11).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A ROME broad domain (A) or professional domain (A11).")
class ProfessionalDomain(Node):
    code = data("ProfessionalDomain", "code")
    label = data("ProfessionalDomain", "label")
    broader = data("ProfessionalDomain", "broader")
    narrower = data("ProfessionalDomain", "narrower")
    occupations = data("ProfessionalDomain", "occupations")
