"""The ``NafActivity`` GraphQL type (pas:NafActivity).

An activity of the NAF rev. 2 nomenclature (any level).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="An activity of the NAF rev. 2 nomenclature (any level).")
class NafActivity(Node):
    code = data("NafActivity", "code")
    label = data("NafActivity", "label")
