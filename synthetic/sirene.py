"""Synthetic INSEE SIRENE ``StockEtablissement`` CSV at regional scale (Normandy's order of
magnitude: ~300,000 establishments).

Usage: ``python -m synthetic.sirene --n 300000 --out var/sirene-300k.csv [--seed 0]``
(``--rows`` is an alias of ``--n``). Follows the protocol of :mod:`synthetic`.

The official header and column order; about 40 % of rows closed (état F, as in the stock,
which keeps closed establishments), 3 % with partial diffusion (statut P, address masked
"[ND]"), 5 % outside Normandy (Paris), 2 % with an old NAFRev1 code; real NAF sub-classes
(the target trades' sectors and the region's most common ones), real Normandy communes and
valid SIRETs. Rows are written one by one: memory does not depend on ``n``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from synthetic import cli
from synthetic._orgs_common import COMMUNES, STREET_NAMES, STREET_TYPES, company_name, count_csv_rows, siret

SOURCE = "sirene-establishments"
UNIT = "establishments"
SUFFIX = ".csv"

COLUMNS = (
    "siren,nic,siret,statutDiffusionEtablissement,dateCreationEtablissement,trancheEffectifsEtablissement,"
    "anneeEffectifsEtablissement,activitePrincipaleRegistreMetiersEtablissement,dateDernierTraitementEtablissement,"
    "etablissementSiege,nombrePeriodesEtablissement,complementAdresseEtablissement,numeroVoieEtablissement,"
    "indiceRepetitionEtablissement,dernierNumeroVoieEtablissement,indiceRepetitionDernierNumeroVoieEtablissement,"
    "typeVoieEtablissement,libelleVoieEtablissement,codePostalEtablissement,libelleCommuneEtablissement,"
    "libelleCommuneEtrangerEtablissement,distributionSpecialeEtablissement,codeCommuneEtablissement,"
    "codeCedexEtablissement,libelleCedexEtablissement,codePaysEtrangerEtablissement,libellePaysEtrangerEtablissement,"
    "identifiantAdresseEtablissement,coordonneeLambertAbscisseEtablissement,coordonneeLambertOrdonneeEtablissement,"
    "complementAdresse2Etablissement,numeroVoie2Etablissement,indiceRepetition2Etablissement,typeVoie2Etablissement,"
    "libelleVoie2Etablissement,codePostal2Etablissement,libelleCommune2Etablissement,"
    "libelleCommuneEtranger2Etablissement,distributionSpeciale2Etablissement,codeCommune2Etablissement,"
    "codeCedex2Etablissement,libelleCedex2Etablissement,codePaysEtranger2Etablissement,"
    "libellePaysEtranger2Etablissement,dateDebut,etatAdministratifEtablissement,enseigne1Etablissement,"
    "enseigne2Etablissement,enseigne3Etablissement,denominationUsuelleEtablissement,activitePrincipaleEtablissement,"
    "nomenclatureActivitePrincipaleEtablissement,caractereEmployeurEtablissement"
).split(",")
NAF = [  # the target trades' sectors, then common ones
    "95.12Z", "95.21Z", "38.32Z", "43.99C", "43.99A", "43.29A", "52.10B", "52.24B", "33.13Z", "33.14Z",
    "71.12B", "35.11Z", "20.11Z", "47.11F", "56.10A", "68.20A", "86.21Z", "43.21A", "41.20A", "49.41A",
    "10.71C", "96.02A", "70.22Z", "47.73Z", "45.20A", "01.11Z", "85.59A", "88.10A", "62.01Z", "81.21Z",
]
BANDS = ["NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51"]
BAND_WEIGHTS = [30, 25, 14, 9, 6, 6, 5, 2, 1, 0.5, 0.5, 0.3, 0.1, 0.05]


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` establishments to ``path``."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for _ in range(n):
            writer.writerow(_row(rng))


def _row(rng: random.Random) -> list[str]:
    row = dict.fromkeys(COLUMNS, "")
    code = siret(rng)
    insee, postcode, town = ("75056", "75001", "PARIS 1") if rng.random() < 0.05 else rng.choice(COMMUNES)
    public = rng.random() >= 0.03
    name = company_name(rng)
    row.update(
        siren=code[:9], nic=code[9:], siret=code, statutDiffusionEtablissement="O" if public else "P",
        dateCreationEtablissement=f"{rng.randrange(1970, 2025)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        trancheEffectifsEtablissement=rng.choices(BANDS, BAND_WEIGHTS)[0],
        anneeEffectifsEtablissement="2022", dateDernierTraitementEtablissement="2025-01-21T03:11:04",
        etablissementSiege=rng.choice(["true", "false"]), nombrePeriodesEtablissement=str(rng.randrange(1, 6)),
        numeroVoieEtablissement=str(rng.randrange(1, 200)) if public else "",
        typeVoieEtablissement=rng.choice(STREET_TYPES) if public else "[ND]",
        libelleVoieEtablissement=rng.choice(STREET_NAMES) if public else "[ND]",
        codePostalEtablissement=postcode if public else "[ND]", libelleCommuneEtablissement=town if public else "[ND]",
        codeCommuneEtablissement=insee, dateDebut="2020-01-01",
        etatAdministratifEtablissement="F" if rng.random() < 0.4 else "A",
        caractereEmployeurEtablissement=rng.choice(["O", "N"]),
    )
    if public:
        row["enseigne1Etablissement" if rng.random() < 0.5 else "denominationUsuelleEtablissement"] = name
    if rng.random() < 0.02:
        row.update(activitePrincipaleEtablissement="60.2M", nomenclatureActivitePrincipaleEtablissement="NAFRev1")
    else:
        row.update(activitePrincipaleEtablissement=rng.choice(NAF), nomenclatureActivitePrincipaleEtablissement="NAFRev2")
    return list(row.values())


def bare_parse(path: Path) -> int:
    """The comparator: the csv module alone reads every row; returns the number of rows."""
    return count_csv_rows(path, ",")


def main() -> None:
    cli(__doc__, generate, "rows", "establishments to write")


if __name__ == "__main__":
    main()
