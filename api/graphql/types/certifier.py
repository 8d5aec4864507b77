"""The ``Certifier`` GraphQL type (pas:Certifier): an organisation that awards certifications."""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="An organisation that awards certifications.")
class Certifier(Node):
    code = data("Certifier", "code")
    label = data("Certifier", "label")
    certifications = data("Certifier", "certifications")
