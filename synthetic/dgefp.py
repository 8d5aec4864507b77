"""Synthetic DGEFP "Liste publique des organismes de formation" CSV (official column names).

Usage: ``python -m synthetic.dgefp --n 100000 --out var/dgefp-100k.csv [--seed 0]``
(``--rows`` is an alias of ``--n``). Follows the protocol of :mod:`synthetic`.

The national list holds about 100,000 declared bodies (Normandy a few thousand): ``;``
separator, dotted column names, Qualiopi categories as "true"/"false", NSF speciality codes,
trainee and trainer counts; 85 % in Normandy (region 28), the rest in Île-de-France; 2 %
represented from abroad without a SIRET. Rows are written one by one.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from synthetic import cli
from synthetic._orgs_common import COMMUNES, STREET_NAMES, STREET_TYPES, company_name, count_csv_rows, siret

SOURCE = "dgefp-training-bodies"
UNIT = "bodies"
SUFFIX = ".csv"

COLUMNS = [
    "numeroDeclarationActivite", "numerosDeclarationActivitePrecedent", "denomination", "siren",
    "siretEtablissementDeclarant", "adressePhysiqueOrganismeFormation.voie",
    "adressePhysiqueOrganismeFormation.codePostal", "adressePhysiqueOrganismeFormation.ville",
    "adressePhysiqueOrganismeFormation.codeRegion", "certifications.actionsDeFormation",
    "certifications.bilansDeCompetences", "certifications.VAE", "certifications.actionsDeFormationParApprentissage",
    "organismeEtrangerRepresente.denomination", "organismeEtrangerRepresente.voie",
    "organismeEtrangerRepresente.codePostal", "organismeEtrangerRepresente.ville", "organismeEtrangerRepresente.pays",
    "informationsDeclarees.dateDerniereDeclaration", "informationsDeclarees.debutExercice",
    "informationsDeclarees.finExercice", "informationsDeclarees.specialitesDeFormation.codeSpecialite1",
    "informationsDeclarees.specialitesDeFormation.libelleSpecialite1",
    "informationsDeclarees.specialitesDeFormation.codeSpecialite2",
    "informationsDeclarees.specialitesDeFormation.libelleSpecialite2",
    "informationsDeclarees.specialitesDeFormation.codeSpecialite3",
    "informationsDeclarees.specialitesDeFormation.libelleSpecialite3", "informationsDeclarees.nbStagiaires",
    "informationsDeclarees.nbStagiairesConfiesParUnAutreOF", "informationsDeclarees.effectifFormateurs",
]
NSF = [
    ("232", "Batiment : construction et couverture"), ("311", "Transport, manutention, magasinage"),
    ("227", "Energie, genie climatique"), ("255", "Electricite, electronique"), ("331", "Sante"),
    ("200", "Technologies industrielles fondamentales"), ("413", "Developpement des capacites comportementales"),
    ("312", "Commerce, vente"), ("315", "Ressources humaines, gestion du personnel"), ("330", "Specialites sanitaires"),
]
TF = ["true", "false"]


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` declared training bodies to ``path``."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for _ in range(n):
            writer.writerow(_row(rng))


def _row(rng: random.Random) -> list[str]:
    row = dict.fromkeys(COLUMNS, "")
    normandy = rng.random() < 0.85
    insee, postcode, town = rng.choice(COMMUNES) if normandy else ("75056", "75011", "PARIS")
    nda = ("28" + insee[:2] if normandy else "1175") + f"{rng.randrange(10_000_000):07d}"
    code = siret(rng)
    specialities = rng.sample(NSF, rng.randrange(1, 4))
    row.update({
        "numeroDeclarationActivite": nda,
        "denomination": f"{'FORMATION' if rng.random() < 0.5 else 'INSTITUT'} {rng.choice(['', 'CONSEIL '])}"
        + f"{rng.choice(['', 'ET COMPETENCES '])}{town}",
        "adressePhysiqueOrganismeFormation.voie":
            f"{rng.randrange(1, 200)} {rng.choice(STREET_TYPES)} {rng.choice(STREET_NAMES)}",
        "adressePhysiqueOrganismeFormation.codePostal": postcode,
        "adressePhysiqueOrganismeFormation.ville": town,
        "adressePhysiqueOrganismeFormation.codeRegion": "28" if normandy else "11",
        "certifications.actionsDeFormation": rng.choice(TF),
        "certifications.bilansDeCompetences": "true" if rng.random() < 0.1 else "false",
        "certifications.VAE": "true" if rng.random() < 0.08 else "false",
        "certifications.actionsDeFormationParApprentissage": "true" if rng.random() < 0.12 else "false",
        "informationsDeclarees.dateDerniereDeclaration": f"2025-0{rng.randrange(3, 7)}-{rng.randrange(1, 29):02d}",
        "informationsDeclarees.debutExercice": "2024-01-01", "informationsDeclarees.finExercice": "2024-12-31",
        "informationsDeclarees.nbStagiaires": str(int(rng.expovariate(1 / 150))),
        "informationsDeclarees.nbStagiairesConfiesParUnAutreOF": str(rng.randrange(0, 20)),
        "informationsDeclarees.effectifFormateurs": str(rng.randrange(0, 40)),
    })
    row["denomination"] = company_name(rng) + " FORMATION" if rng.random() < 0.6 else row["denomination"]
    for i, (code_nsf, label) in enumerate(specialities, start=1):
        row[f"informationsDeclarees.specialitesDeFormation.codeSpecialite{i}"] = code_nsf
        row[f"informationsDeclarees.specialitesDeFormation.libelleSpecialite{i}"] = label
    if rng.random() < 0.02:  # represented from abroad: no French establishment
        row.update({"organismeEtrangerRepresente.denomination": "TRAINING LTD", "organismeEtrangerRepresente.pays": "UK"})
    else:
        row.update(siren=code[:9], siretEtablissementDeclarant=code)
    return list(row.values())


def bare_parse(path: Path) -> int:
    """The comparator: the csv module alone reads every row; returns the number of rows."""
    return count_csv_rows(path, ";")


def main() -> None:
    cli(__doc__, generate, "rows", "bodies to write")


if __name__ == "__main__":
    main()
