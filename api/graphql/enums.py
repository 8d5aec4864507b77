"""Enumerations of the GraphQL API and the ontology classes they stand for."""

from __future__ import annotations

import enum
import functools

import strawberry

from api.graphql.fieldmap import expand


@strawberry.enum(description="The kind of a ROME skill item (its most specific class).")
class SkillKind(enum.Enum):
    SOFT_SKILL = "pas:SoftSkill"
    KNOW_HOW = "pas:KnowHow"
    KNOWLEDGE = "pas:Knowledge"
    MACRO_SKILL = "pas:MacroSkill"


@strawberry.enum(description="The register of a certification.")
class CertificationKind(enum.Enum):
    RNCP = "pas:RncpCertification"
    RS = "pas:RsCertification"


@strawberry.enum(description="The kind of a territory.")
class TerritoryKind(enum.Enum):
    COMMUNE = "pas:Commune"
    DELEGATED_COMMUNE = "pas:DelegatedCommune"
    MUNICIPAL_ARRONDISSEMENT = "pas:MunicipalArrondissement"
    ARRONDISSEMENT = "pas:Arrondissement"
    DEPARTEMENT = "pas:Departement"
    REGION = "pas:Region"
    EPCI = "pas:Epci"
    EMPLOYMENT_ZONE = "pas:EmploymentZone"


@strawberry.enum(description="The ecological-transition category ROME gives an occupation.")
class TransitionCategory(enum.Enum):
    GREEN_JOB = "pas:GreenJob"
    ECOLOGICAL_TRANSITION_STRATEGIC_JOB = "pas:EcologicalTransitionStrategicJob"
    WHITE_JOB = "pas:WhiteJob"
    BROWN_JOB = "pas:BrownJob"


def class_iri(member: enum.Enum) -> str:
    """The class (or concept) IRI an enumeration member stands for.

    >>> class_iri(SkillKind.KNOW_HOW)
    'https://w3id.org/passerelles/ontology#KnowHow'
    """
    return expand(str(member.value))


@functools.cache
def _members(kinds: type[enum.Enum]) -> tuple[tuple[enum.Enum, str], ...]:
    return tuple((member, class_iri(member)) for member in kinds)


def most_specific(kinds: type[enum.Enum], class_iris: set[str]) -> enum.Enum | None:
    """The first member of ``kinds`` (declared most specific first) among ``class_iris``.

    >>> most_specific(SkillKind, {class_iri(SkillKind.KNOW_HOW), class_iri(SkillKind.SOFT_SKILL)})
    <SkillKind.SOFT_SKILL: 'pas:SoftSkill'>
    """
    for member, iri in _members(kinds):  # the IRIs worked out once: thousands of calls per answer
        if iri in class_iris:
            return member
    return None
