"""The one declarative place mapping GraphQL fields to RDF property paths.

Each GraphQL object type names its ontology class and, for each data field, the property path it
reads, its datatype (or the GraphQL type it links to), and its cardinality. The resolvers
(:mod:`api.graphql.base`) read values through these paths, and ``tests/test_graphql_shapes.py``
checks every entry against the class's NodeShape in ``shapes/`` (a path in the shape must agree on
list/single, nullability and datatype; a path outside it must be a declared ontology property and
is marked ``derived``).

Paths: ``pas:code``, ``^pas:appellationOf`` (inverse), ``pas:definitionSentence/rdf:value``
(sequence). Datatypes: ``xsd:string``, ``rdf:langString``, ``xsd:boolean``, ``xsd:integer``,
``xsd:decimal``, ``xsd:date``, ``iri`` (an IRI shown as a string, e.g. an enumerated concept or a
web page); ``target`` names the GraphQL type of a linked resource instead.

>>> FIELDS["Occupation"].fields["code"].steps
(('https://w3id.org/passerelles/ontology#code', False),)
>>> FIELDS["Occupation"].fields["appellations"].steps
(('https://w3id.org/passerelles/ontology#appellationOf', True),)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from kg.namespaces import PREFIXES


def expand(curie: str) -> str:
    """``pas:code`` → full IRI.

    >>> expand("skos:prefLabel")
    'http://www.w3.org/2004/02/skos/core#prefLabel'
    """
    prefix, _, local = curie.partition(":")
    return PREFIXES[prefix] + local


@functools.cache
def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    return tuple((expand(part.lstrip("^")), part.startswith("^")) for part in path.split("/"))


@dataclass(frozen=True)
class P:
    """One field: property ``path``, value ``datatype`` or linked ``target`` type, cardinality.

    ``many``: a list (a connection when ``target`` is set); ``required``: never null (the shape has
    ``sh:minCount`` ≥ 1 as a Violation); ``derived``: the path is not a property of the class's
    NodeShape (an inverse link, a path through another resource, a superclass property).
    """

    path: str
    datatype: str | None = None
    target: str | None = None
    many: bool = False
    required: bool = False
    derived: bool = False
    description: str = ""

    @functools.cached_property  # (read a hundred times per deep request; set once, the spec frozen)
    def steps(self) -> tuple[tuple[str, bool], ...]:
        """The path as (property IRI, inverse) steps."""
        return _steps(self.path)


@dataclass(frozen=True)
class TypeMap:
    """A GraphQL type: its class, its IRI kind path (``{base}id/{kind}/``) and its fields."""

    cls: str
    fields: dict[str, P] = field(default_factory=dict)

    @property
    def class_iri(self) -> str:
        return expand(self.cls)


S, LS, B, INT, D, DATE, IRI = (
    "xsd:string",
    "rdf:langString",
    "xsd:boolean",
    "xsd:integer",
    "xsd:decimal",
    "xsd:date",
    "iri",
)

CODE = P("pas:code", S, required=True, description="The resource's code in its referential.")
LABEL = P(
    "skos:prefLabel", LS, required=True, description="The preferred label (in French when there is one)."
)
LABEL_OPT = P("skos:prefLabel", LS, description="The preferred label (in French when there is one).")


def _located(required_label: bool = False) -> dict[str, P]:
    """Address, contact and coordinate fields shared by located things (shapes' pas:Common-*)."""
    return {
        "streetAddress": P("pas:streetAddress", S),
        "postalCode": P("pas:postalCode", S),
        "locality": P("pas:locality", S),
        "commune": P("pas:commune", target="Territory"),
        "latitude": P("schema:latitude", D),
        "longitude": P("schema:longitude", D),
    }


def _contact() -> dict[str, P]:
    return {
        "emails": P("pas:email", S, many=True),
        "telephones": P("pas:telephone", S, many=True),
        "webPages": P("pas:webPage", IRI, many=True),
    }


FIELDS: dict[str, TypeMap] = {
    "Occupation": TypeMap(
        "pas:Occupation",
        {
            "code": CODE,
            "label": LABEL,
            "ogrCode": P("pas:ogrCode", S),
            "romeV3Parent": P("pas:romeV3Parent", target="OccupationV3", required=True),
            "domain": P("pas:professionalDomain", target="ProfessionalDomain"),
            "definition": P(
                "pas:definitionSentence/rdf:value",
                LS,
                derived=True,
                description="The fiche's definition (its sentences in order).",
            ),
            "access": P(
                "pas:accessSentence/rdf:value",
                LS,
                derived=True,
                description="How to enter the occupation (its sentences in order).",
            ),
            "ecologicalTransition": P("pas:ecologicalTransition", IRI),
            "digitalTransition": P("pas:digitalTransition", B),
            "demographicTransition": P("pas:demographicTransition", B),
            "regulatedJob": P("pas:regulatedJob", B),
            "executiveJob": P("pas:executiveJob", B),
            "riasecMajor": P("pas:riasecMajor", S),
            "riasecMinor": P("pas:riasecMinor", S),
            "appellations": P("^pas:appellationOf", target="Appellation", many=True, derived=True),
            "skills": P("pas:hasSkill", target="Skill", many=True),
            "workContexts": P("pas:hasWorkContext", target="WorkContext", many=True),
            "mobilityTargets": P("pas:mobilityTarget", target="Occupation", many=True),
            "certifications": P(
                "pas:romeV3Parent/^pas:relatedOccupationV3",
                target="Certification",
                many=True,
                derived=True,
                description="Certifications citing the fiche's ROME v3 parent (RNCP cites v3).",
            ),
            "jobOffers": P("^pas:declaredOccupation", target="JobOffer", many=True, derived=True),
            "targetTrades": P("^pas:tradeOccupation", target="TargetTrade", many=True, derived=True),
        },
    ),
    "OccupationV3": TypeMap(
        "pas:OccupationV3",
        {
            "code": CODE,
            "label": LABEL,
            "occupations": P("^pas:romeV3Parent", target="Occupation", many=True, derived=True),
        },
    ),
    "ProfessionalDomain": TypeMap(
        "pas:ProfessionalDomain",
        {
            "code": CODE,
            "label": LABEL,
            "broader": P("skos:broader", target="ProfessionalDomain"),
            "narrower": P("^skos:broader", target="ProfessionalDomain", many=True, derived=True),
            "occupations": P("^pas:professionalDomain", target="Occupation", many=True, derived=True),
        },
    ),
    "Appellation": TypeMap(
        "pas:Appellation",
        {
            "code": CODE,
            "label": LABEL,
            "shortLabel": P("pas:shortLabel", LS),
            "occupation": P("pas:appellationOf", target="Occupation", required=True),
            "mainAppellation": P("pas:mainAppellation", B),
            "rarelyUsed": P("pas:rarelyUsed", B),
        },
    ),
    "WorkContext": TypeMap(
        "pas:WorkContext",
        {
            "code": CODE,
            "label": LABEL,
        },
    ),
    "Skill": TypeMap(
        "pas:Skill",
        {
            "code": CODE,
            "label": LABEL,
            "definition": P("skos:definition", LS),
            "category": P("pas:skillCategory", S),
            "subCategory": P("pas:skillSubCategory", S),
            "macroSkill": P("pas:macroSkill", target="Skill"),
            "occupations": P("^pas:hasSkill", target="Occupation", many=True, derived=True),
            "blocks": P(
                "^pas:coveredSkill",
                target="BlockCoverage",
                many=True,
                derived=True,
                description="The RNCP blocks covering this skill, with the matching score.",
            ),
            "requiredBy": P(
                "^pas:requiredSkill",
                target="JobOffer",
                many=True,
                derived=True,
                description="Job offers requiring this skill (its demand).",
            ),
        },
    ),
    "BlockCoverage": TypeMap(
        "pas:BlockCoverage",
        {
            "block": P("pas:coverageBlock", target="SkillBlock", required=True),
            "skill": P("pas:coveredSkill", target="Skill", required=True),
            "score": P("pas:score", D, required=True),
            "method": P("pas:method", S, required=True),
        },
    ),
    "Certification": TypeMap(
        "pas:Certification",
        {
            "code": CODE,
            "label": LABEL_OPT,
            "level": P("pas:europeanLevel", INT),
            "accessModes": P("pas:accessMode", IRI, many=True),
            "openToVae": P("pas:openToVae", B),
            "blocks": P("pas:hasBlock", target="SkillBlock", many=True),
            "occupationsV3": P("pas:relatedOccupationV3", target="OccupationV3", many=True),
            "occupations": P(
                "pas:relatedOccupationV3/^pas:romeV3Parent",
                target="Occupation",
                many=True,
                derived=True,
                description="ROME 4.0 fiches under the cited ROME v3 codes.",
            ),
            "trainingDomains": P("pas:trainingDomain", target="TrainingDomain", many=True),
            "nsfSpecialities": P("pas:nsfSpeciality", target="NsfSpeciality", many=True),
            "certifiers": P("pas:certifier", target="Certifier", many=True),
            "replacedBy": P("dct:isReplacedBy", target="Certification", many=True),
            "replaces": P("^dct:isReplacedBy", target="Certification", many=True, derived=True),
            "courses": P("^pas:preparesFor", target="TrainingCourse", many=True, derived=True),
        },
    ),
    "SkillBlock": TypeMap(
        "pas:SkillBlock",
        {
            "code": CODE,
            "label": LABEL_OPT,
            "certification": P("pas:blockOf", target="Certification", required=True),
            "coverage": P("^pas:coverageBlock", target="BlockCoverage", many=True, derived=True),
            "courses": P("^pas:coversBlock", target="TrainingCourse", many=True, derived=True),
        },
    ),
    "Certifier": TypeMap(
        "pas:Certifier",
        {
            "code": P("pas:code", S, required=True, description="SIRET."),
            "label": LABEL,
            "certifications": P("^pas:certifier", target="Certification", many=True, derived=True),
        },
    ),
    "NsfSpeciality": TypeMap(
        "pas:NsfSpeciality",
        {
            "code": CODE,
            "label": LABEL,
        },
    ),
    "NafActivity": TypeMap(
        "pas:NafActivity",
        {
            "code": CODE,
            "label": LABEL,
        },
    ),
    "TrainingDomain": TypeMap(
        "pas:TrainingDomain",
        {
            "code": CODE,
            "label": LABEL_OPT,
            "altLabels": P("skos:altLabel", LS, many=True),
            "definition": P("skos:definition", LS),
            "scopeNote": P("skos:scopeNote", LS),
            "broader": P("skos:broader", target="TrainingDomain", many=True),
            "narrower": P("skos:narrower", target="TrainingDomain", many=True),
            "related": P("skos:related", target="TrainingDomain", many=True),
            "certifications": P("^pas:trainingDomain", target="Certification", many=True, derived=True),
            "courses": P("^pas:trainingDomain", target="TrainingCourse", many=True, derived=True),
        },
    ),
    "TrainingCourse": TypeMap(
        "pas:TrainingCourse",
        {
            "code": CODE,
            "label": LABEL,
            "objective": P("pas:objective", LS),
            "expectedResults": P("pas:expectedResults", LS),
            "content": P("pas:courseContent", LS),
            "trainingDomains": P("pas:trainingDomain", target="TrainingDomain", many=True),
            "nsfSpecialities": P("pas:nsfSpeciality", target="NsfSpeciality", many=True),
            "occupations": P("pas:relatedOccupation", target="Occupation", many=True),
            "certifications": P("pas:preparesFor", target="Certification", many=True),
            "blocks": P("pas:coversBlock", target="SkillBlock", many=True),
            "entryLevel": P("pas:entryLevel", S),
            "exitLevel": P("pas:exitLevel", S),
            "teachingMode": P("pas:teachingMode", S),
            "totalHours": P("pas:totalHours", INT),
            "hoursInCentre": P("pas:hoursInCentre", INT),
            "hoursInCompany": P("pas:hoursInCompany", INT),
            "provider": P("pas:providedBy", target="TrainingBody", required=True),
            "deliveredBy": P("pas:deliveredBy", target="TrainingBody", many=True),
            "sessions": P("^pas:sessionOf", target="TrainingSession", many=True, derived=True),
        },
    ),
    "TrainingSession": TypeMap(
        "pas:TrainingSession",
        {
            "code": CODE,
            "course": P("pas:sessionOf", target="TrainingCourse", required=True),
            "startDate": P("pas:startDate", DATE, required=True),
            "endDate": P("pas:endDate", DATE, required=True),
            "recruitmentStatus": P("pas:recruitmentStatus", S),
            "registrationAddress": P("pas:registrationAddress", S),
            "places": P("pas:trainingPlace", target="TrainingPlace", many=True),
        },
    ),
    "TrainingPlace": TypeMap(
        "pas:TrainingPlace",
        {
            "code": CODE,
            "label": LABEL_OPT,
            **_located(),
        },
    ),
    "TrainingBody": TypeMap(
        "pas:TrainingBody",
        {
            "code": P("pas:code", S, required=True, description="SIRET."),
            "label": LABEL_OPT,
            "siren": P("pas:siren", S),
            "legalName": P("pas:legalName", S),
            "activityNumber": P("pas:activityNumber", S),
            "uais": P("pas:uai", S, many=True),
            "natures": P("pas:trainingBodyNature", S, many=True),
            "qualiopi": P("pas:qualiopi", B),
            "qualiopiTrainingActions": P("pas:qualiopiTrainingActions", B),
            "qualiopiSkillsAssessment": P("pas:qualiopiSkillsAssessment", B),
            "qualiopiVae": P("pas:qualiopiVae", B),
            "qualiopiApprenticeship": P("pas:qualiopiApprenticeship", B),
            "disabilityReferents": P("pas:disabilityReferent", target="DisabilityReferent", many=True),
            **_located(),
            **_contact(),
            "courses": P("^pas:providedBy", target="TrainingCourse", many=True, derived=True),
        },
    ),
    "DisabilityReferent": TypeMap(
        "pas:DisabilityReferent",
        {
            "code": CODE,
            "roleTitle": P("pas:roleTitle", LS, required=True),
            "trainingBodies": P("pas:referentOf", target="TrainingBody", many=True, required=True),
            "places": P("pas:coversPlace", target="TrainingPlace", many=True),
            **_contact(),
        },
    ),
    "VaeRelay": TypeMap(
        "pas:VaeRelay",
        {
            "code": CODE,
            "label": LABEL,
            "mandatingNetwork": P("pas:mandatingNetwork", S),
            "departement": P("pas:departement", target="Territory", required=True),
            **_located(),
            **_contact(),
        },
    ),
    "Company": TypeMap(
        "pas:Company",
        {
            "code": P("pas:code", S, required=True, description="SIRET."),
            "label": LABEL_OPT,
            "siren": P("pas:siren", S),
            "legalName": P("pas:legalName", S),
            "administrativeState": P("pas:administrativeState", S),
            "workforceBand": P("pas:workforceBand", S),
            "nafActivity": P("pas:nafActivity", target="NafActivity"),
            "disabilityCommitted": P("pas:disabilityCommitted", B),
            "hiringScore": P("pas:hiringScore", D),
            **_located(),
            **_contact(),
        },
    ),
    "Territory": TypeMap(
        "pas:Territory",
        {
            "code": CODE,
            "label": LABEL,
            "population": P("pas:population", INT),
            "postalCodes": P("pas:postalCode", S, many=True),
            "latitude": P("schema:latitude", D),
            "longitude": P("schema:longitude", D),
            "departement": P("pas:departement", target="Territory", derived=True),
            "region": P("pas:region", target="Territory", derived=True),
            "epci": P("pas:epci", target="Territory", derived=True),
            "employmentZone": P("pas:employmentZone", target="Territory", derived=True),
            "arrondissement": P("pas:arrondissement", target="Territory", derived=True),
            "chefLieu": P("pas:chefLieu", target="Territory", derived=True),
            "parentCommune": P("pas:parentCommune", target="Territory", derived=True),
        },
    ),
    "JobOffer": TypeMap(
        "pas:JobOffer",
        {
            "code": CODE,
            "label": LABEL,
            "description": P("dct:description", LS),
            "declaredOccupation": P("pas:declaredOccupation", target="Occupation"),
            "predictions": P("pas:occupationPrediction", target="OccupationPrediction", many=True),
            "contractType": P("pas:contractType", S),
            "employerName": P("pas:employerName", S),
            "creationDate": P("pas:creationDate", S, description="ISO date or date-time."),
            "commune": P("pas:commune", target="Territory"),
            "nafActivity": P("pas:nafActivity", target="NafActivity"),
            "latitude": P("schema:latitude", D),
            "longitude": P("schema:longitude", D),
            "requiredSkills": P("pas:requiredSkill", target="Skill", many=True),
            "desiredSkills": P("pas:desiredSkill", target="Skill", many=True),
            "mentions": P(
                "^pas:mentionIn",
                target="SkillMention",
                many=True,
                derived=True,
                description="Skills extracted from the offer's text, with their evidence.",
            ),
        },
    ),
    "OccupationPrediction": TypeMap(
        "pas:OccupationPrediction",
        {
            "occupation": P("pas:predictedOccupation", target="Occupation", required=True),
            "score": P("pas:score", D, required=True),
            "rank": P("pas:rank", INT, required=True),
        },
    ),
    "SkillMention": TypeMap(
        "pas:SkillMention",
        {
            "skill": P("pas:mentionedSkill", target="Skill"),
            "emergingSkill": P("pas:emergingSkill", target="EmergingSkill"),
            "evidenceText": P("pas:evidenceText", S, required=True),
            "startOffset": P("pas:startOffset", INT, required=True),
            "endOffset": P("pas:endOffset", INT, required=True),
            "confidence": P("pas:confidence", D, required=True),
            "method": P("pas:method", S, required=True),
        },
    ),
    "EmergingSkill": TypeMap(
        "pas:EmergingSkill",
        {
            "code": P("pas:code", S, required=True, description="Slug."),
            "label": LABEL,
            "normalisedPhrase": P("pas:normalisedPhrase", S, required=True),
            "offerCount": P("pas:offerCount", INT, required=True),
            "exampleTexts": P("pas:exampleText", S, many=True),
            "exampleOffers": P("pas:exampleOffer", target="JobOffer", many=True),
            "mentions": P("^pas:emergingSkill", target="SkillMention", many=True, derived=True),
        },
    ),
    "TargetTrade": TypeMap(
        "pas:TargetTrade",
        {
            "code": P("pas:code", S, required=True, description="Slug."),
            "label": LABEL,
            "definition": P("skos:definition", LS),
            "ordinal": P("pas:ordinal", INT, required=True),
            "occupations": P("pas:tradeOccupation", target="Occupation", many=True, required=True),
            # Skill gaps (#7): the appellations narrowing the trade, and the links derived at build
            # time (mappings/derive/target-trade-*.rq) that the gap reports read.
            "appellations": P("pas:tradeAppellation", target="Appellation", many=True),
            "offers": P("pas:tradeOffer", target="JobOffer", many=True),
            "certifications": P("pas:tradeCertification", target="Certification", many=True),
        },
    ),
}
