"""The ``WorkContext`` GraphQL type (pas:WorkContext).

A work context of ROME fiches (schedules, places, conditions).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A work context of ROME fiches (schedules, places, conditions).")
class WorkContext(Node):
    code = data("WorkContext", "code")
    label = data("WorkContext", "label")
