"""The ``Certification`` GraphQL type (pas:Certification).

An RNCP or RS certification (France compétences).
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from api.graphql.base import Node, ahead, data, kind_of, plain, register
from api.graphql.enums import CertificationKind


@register
@strawberry.type(description="An RNCP or RS certification (France compétences).")
class Certification(Node):
    code = data("Certification", "code")
    label = data("Certification", "label")
    level = data("Certification", "level")
    access_modes = data("Certification", "accessModes")
    open_to_vae = data("Certification", "openToVae")
    blocks = data("Certification", "blocks")
    occupations_v3 = data("Certification", "occupationsV3")
    occupations = data("Certification", "occupations")
    training_domains = data("Certification", "trainingDomains")
    nsf_specialities = data("Certification", "nsfSpecialities")
    certifiers = data("Certification", "certifiers")
    replaced_by = data("Certification", "replacedBy")
    replaces = data("Certification", "replaces")
    courses = data("Certification", "courses")

    @strawberry.field(description="RNCP (national register) or RS (specific register).")
    @ahead("kind", CertificationKind)
    @plain
    def kind(self, info: Info) -> CertificationKind | None:
        return kind_of(info, str(self.id), CertificationKind)
