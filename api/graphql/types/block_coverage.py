"""The ``BlockCoverage`` GraphQL type (pas:BlockCoverage).

How well an RNCP block covers a ROME skill (computed match, with its score and method).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(
    description="How well an RNCP block covers a ROME skill (computed match, with its score and method)."
)
class BlockCoverage(Node):
    block = data("BlockCoverage", "block")
    skill = data("BlockCoverage", "skill")
    score = data("BlockCoverage", "score")
    method = data("BlockCoverage", "method")
