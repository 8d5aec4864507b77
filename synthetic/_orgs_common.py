"""Shared tables of the organisation generators (SIRENE, DGEFP): Normandy communes, valid SIRETs.

Communes are real (INSEE code, postcode, name as SIRENE writes it); SIRETs are drawn at random
with valid Luhn check digits (SIREN and SIRET), so a synthetic file passes pas:SiretShape.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

# (INSEE code, postcode, town in SIRENE's upper-case form): Normandy communes of every size.
COMMUNES = [
    ("14118", "14000", "CAEN"), ("14047", "14400", "BAYEUX"), ("14366", "14100", "LISIEUX"),
    ("14762", "14500", "VIRE NORMANDIE"), ("14712", "14670", "TROARN"), ("14341", "14200", "HEROUVILLE-SAINT-CLAIR"),
    ("27229", "27000", "EVREUX"), ("27681", "27200", "VERNON"), ("27056", "27300", "BERNAY"),
    ("27375", "27400", "LOUVIERS"), ("50129", "50100", "CHERBOURG-EN-COTENTIN"), ("50218", "50400", "GRANVILLE"),
    ("50502", "50000", "SAINT-LO"), ("50147", "50200", "COUTANCES"), ("61001", "61000", "ALENCON"),
    ("61169", "61100", "FLERS"), ("61006", "61200", "ARGENTAN"), ("61214", "61300", "L'AIGLE"),
    ("76351", "76600", "LE HAVRE"), ("76540", "76000", "ROUEN"), ("76217", "76200", "DIEPPE"),
    ("76322", "76400", "FECAMP"), ("76575", "76800", "SAINT-ETIENNE-DU-ROUVRAY"), ("76259", "76190", "YVETOT"),
]
STREET_TYPES = ["RUE", "AV", "BD", "PL", "RTE", "CHE", "QUAI", "ALL", "IMP"]
STREET_NAMES = [
    "DE LA REPUBLIQUE", "DU GENERAL LECLERC", "DES ATELIERS", "DE L'EUROPE", "DU PORT", "JEAN JAURES",
    "GUSTAVE EIFFEL", "DES FORGES", "DE LA GARE", "PASTEUR", "VICTOR HUGO", "DU MARECHAL JOFFRE",
    "DES TISSERANDS", "DE LA LIBERATION", "DU CHAMP DE FOIRE", "DE LA MARINE",
]
NAME_HEADS = [
    "ATELIER", "ENTREPRISE", "SOCIETE", "ETABLISSEMENTS", "NORMANDIE", "CONSEIL", "SERVICES", "TRANSPORTS",
    "BATIMENT", "GARAGE", "BOULANGERIE", "CABINET", "LOGISTIQUE", "MAINTENANCE", "ENERGIES", "RECYCLAGE",
]
NAME_TAILS = [
    "DU BOCAGE", "DE L'ESTUAIRE", "DU COTENTIN", "AUGERON", "DU VEXIN", "DES MARAIS", "DU PAYS DE CAUX",
    "DE LA SEINE", "DU BESSIN", "D'ARGENTAN", "DE LA COTE FLEURIE", "NORMAND", "DU PERCHE", "DE LA HAGUE",
]


def _luhn_ok(digits: str) -> bool:
    """The Luhn check on a digit string.

    >>> _luhn_ok("84217653900018"), _luhn_ok("84217653900019")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _complete(prefix: str, rng: random.Random) -> str:
    for _ in range(20):
        for last in range(10):
            if _luhn_ok(prefix + str(last)):
                return prefix + str(last)
        prefix = prefix[:-1] + str(rng.randrange(10))
    raise AssertionError("unreachable: one digit in ten completes a Luhn code")


def siret(rng: random.Random) -> str:
    """A random SIRET whose SIREN and SIRET both pass Luhn, never La Poste's SIREN.

    >>> s = siret(random.Random(1)); len(s), _luhn_ok(s), _luhn_ok(s[:9])
    (14, True, True)
    """
    siren = _complete(str(rng.randrange(30_000_000, 99_999_999)), rng)
    return _complete(siren + f"{rng.randrange(1, 999):03d}0"[:4], rng)


def company_name(rng: random.Random) -> str:
    return f"{rng.choice(NAME_HEADS)} {rng.choice(NAME_TAILS)}"


def count_csv_rows(path: Path, delimiter: str) -> int:
    """The benchmark's comparator for the CSV formats: the csv module alone reads every row of
    ``path`` (header excluded) and counts them."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader)
        return sum(1 for _ in reader)
