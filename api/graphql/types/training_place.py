"""The ``TrainingPlace`` GraphQL type (pas:TrainingPlace): a place where training sessions are held."""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A place where training sessions are held.")
class TrainingPlace(Node):
    code = data("TrainingPlace", "code")
    label = data("TrainingPlace", "label")
    street_address = data("TrainingPlace", "streetAddress")
    postal_code = data("TrainingPlace", "postalCode")
    locality = data("TrainingPlace", "locality")
    commune = data("TrainingPlace", "commune")
    latitude = data("TrainingPlace", "latitude")
    longitude = data("TrainingPlace", "longitude")
