"""The ``Company`` GraphQL type (pas:Company): a company establishment (SIRET)."""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A company establishment (SIRET).")
class Company(Node):
    code = data("Company", "code")
    label = data("Company", "label")
    siren = data("Company", "siren")
    legal_name = data("Company", "legalName")
    administrative_state = data("Company", "administrativeState")
    workforce_band = data("Company", "workforceBand")
    naf_activity = data("Company", "nafActivity")
    disability_committed = data("Company", "disabilityCommitted")
    hiring_score = data("Company", "hiringScore")
    street_address = data("Company", "streetAddress")
    postal_code = data("Company", "postalCode")
    locality = data("Company", "locality")
    commune = data("Company", "commune")
    latitude = data("Company", "latitude")
    longitude = data("Company", "longitude")
    emails = data("Company", "emails")
    telephones = data("Company", "telephones")
    web_pages = data("Company", "webPages")
