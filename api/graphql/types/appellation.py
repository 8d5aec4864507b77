"""The ``Appellation`` GraphQL type (pas:Appellation): a job title (appellation) of a ROME fiche."""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A job title (appellation) of a ROME fiche.")
class Appellation(Node):
    code = data("Appellation", "code")
    label = data("Appellation", "label")
    short_label = data("Appellation", "shortLabel")
    occupation = data("Appellation", "occupation")
    main_appellation = data("Appellation", "mainAppellation")
    rarely_used = data("Appellation", "rarelyUsed")
