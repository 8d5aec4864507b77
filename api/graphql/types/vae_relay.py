"""The ``VaeRelay`` GraphQL type (pas:VaeRelay).

A VAE relay point (point relais conseil en validation des acquis).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A VAE relay point (point relais conseil en validation des acquis).")
class VaeRelay(Node):
    code = data("VaeRelay", "code")
    label = data("VaeRelay", "label")
    mandating_network = data("VaeRelay", "mandatingNetwork")
    departement = data("VaeRelay", "departement")
    street_address = data("VaeRelay", "streetAddress")
    postal_code = data("VaeRelay", "postalCode")
    locality = data("VaeRelay", "locality")
    commune = data("VaeRelay", "commune")
    latitude = data("VaeRelay", "latitude")
    longitude = data("VaeRelay", "longitude")
    emails = data("VaeRelay", "emails")
    telephones = data("VaeRelay", "telephones")
    web_pages = data("VaeRelay", "webPages")
