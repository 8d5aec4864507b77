"""The ``NsfSpeciality`` GraphQL type (pas:NsfSpeciality).

A speciality of the NSF nomenclature (formation specialities).
"""

from __future__ import annotations

import strawberry

from api.graphql.base import Node, data, register


@register
@strawberry.type(description="A speciality of the NSF nomenclature (formation specialities).")
class NsfSpeciality(Node):
    code = data("NsfSpeciality", "code")
    label = data("NsfSpeciality", "label")
