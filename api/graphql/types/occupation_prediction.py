"""The ``OccupationPrediction`` GraphQL type (pas:OccupationPrediction).

A ROME occupation predicted for a job offer, with its rank and score.
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A ROME occupation predicted for a job offer, with its rank and score.")
class OccupationPrediction(Node):
    occupation = data("OccupationPrediction", "occupation")
    score = data("OccupationPrediction", "score")
    rank = data("OccupationPrediction", "rank")
