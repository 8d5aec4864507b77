"""Synthetic LHEO 2.3 offers at regional scale (Normandy, the 10 target trades).

Usage: ``python -m synthetic.lheo --n 50000 --out var/lheo-50k.xml [--seed 0]``
(``--sessions`` is an alias of ``--n``). Follows the protocol of :mod:`synthetic`.

The file is valid against the LHEO 2.3 schema and shaped like a Carif-Oref export: one
``formation`` per offer, one to three ``action`` per formation (one per site), one to four
``session`` per action; bodies, sites, certifications and codes are drawn from tables of real
codes (Formacode, NSF, ROME 4.0, RNCP, INSEE communes and their coordinates) with invented
names, numbers and SIRETs (valid Luhn check digits). Texts are short generated sentences.
Writing goes formation by formation, so memory does not depend on ``n``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from synthetic import cli
from xml.sax.saxutils import escape

from lxml import etree

SOURCE = "lheo-offers"
UNIT = "sessions"
SUFFIX = ".xml"
NAMESPACE = "http://lheo.gouv.fr/2.3"

# (title, Formacodes, NSF, ROME 4.0 codes, RNCP or None, Certif Info or None, hours)
TRADES = [
    ("Réparation et reconditionnement de smartphones", ["24303", "24340"], "255", ["I1407"], None, None, 420),
    ("Valoriste ressourcerie", ["12582", "12533"], "343", ["K2308", "K2309"], "RNCP37344", "83180", 560),
    (
        "Technicien de maintenance éolien en mer",
        ["24106", "24136"],
        "201",
        ["I1321"],
        "RNCP35178",
        "109791",
        1400,
    ),
    ("Maintenance des systèmes éoliens", ["24136"], "201", ["I1321", "I1304"], "RNCP36968", "112985", 1350),
    (
        "Technicien des installations hydrogène",
        ["24107", "24154"],
        "227",
        ["H2710", "H1241", "I1304"],
        "RNCP36334",
        "66250",
        910,
    ),
    (
        "Technicien d'équipements médicaux à domicile",
        ["43479"],
        "255",
        ["J1303", "I1327"],
        "RNCP32004",
        "105309",
        770,
    ),
    ("Dessinateur industriel", ["31686", "31685"], "201", ["H1203"], "RNCP34572", "83529", 980),
    (
        "Technicien logistique circuits courts",
        ["31845", "31721"],
        "311",
        ["N1301", "N1303"],
        "RNCP36237",
        "112967",
        840,
    ),
    (
        "Préparateur de commandes circuits courts",
        ["31743", "31734"],
        "311",
        ["N1103"],
        "RNCP34860",
        "108925",
        490,
    ),
    ("Maçon en éco-construction", ["22334", "22354"], "232", ["F1703"], "RNCP35309", "110563", 875),
    (
        "Façadier isolation thermique par l'extérieur",
        ["22411", "22425"],
        "233",
        ["F1611", "F1613"],
        "RNCP36260",
        "112975",
        700,
    ),
]

# (INSEE code, postcode, town, latitude, longitude): Normandy communes.
COMMUNES = [
    ("14118", "14000", "Caen", 49.1829, -0.3707),
    ("14047", "14400", "Bayeux", 49.2778, -0.7052),
    ("14366", "14100", "Lisieux", 49.1470, 0.2382),
    ("14762", "14500", "Vire Normandie", 48.8387, -0.8894),
    ("27229", "27000", "Évreux", 49.0198, 1.1415),
    ("27681", "27200", "Vernon", 49.0929, 1.4847),
    ("50129", "50100", "Cherbourg-en-Cotentin", 49.6318, -1.6209),
    ("50218", "50400", "Granville", 48.8372, -1.5970),
    ("50502", "50000", "Saint-Lô", 49.1099, -1.0774),
    ("61001", "61000", "Alençon", 48.4315, 0.0916),
    ("61169", "61100", "Flers", 48.7476, -0.5697),
    ("76351", "76600", "Le Havre", 49.4983, 0.1410),
    ("76540", "76000", "Rouen", 49.4415, 1.0936),
    ("76217", "76200", "Dieppe", 49.9225, 1.0781),
    ("27056", "27300", "Bernay", 49.0886, 0.5983),
    ("61006", "61200", "Argentan", 48.7447, -0.0203),
]
STREETS = [
    "rue de la République",
    "avenue de la Libération",
    "quai de la Marine",
    "rue des Ateliers",
    "boulevard de l'Europe",
    "rue du Port",
    "chemin des Forges",
    "rue Gustave Eiffel",
]
BODY_WORDS = ["Atelier", "Institut", "Campus", "Centre", "Pôle", "École", "Plateau technique"]
BODY_TOPICS = [
    "Réemploi",
    "Énergies marines",
    "Hydrogène",
    "Éco-construction",
    "Logistique",
    "Santé à domicile",
    "Industrie",
    "Métiers verts",
    "Transition",
    "Maintenance",
]


def luhn_complete(prefix: str) -> str:
    """``prefix`` followed by the digit that makes the whole pass the Luhn check.

    >>> luhn_complete("8421765390001")
    '84217653900018'
    """
    for digit in "0123456789":
        candidate = prefix + digit
        total = 0
        for i, ch in enumerate(reversed(candidate)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return candidate
    raise AssertionError("a Luhn digit always exists")


def _el(name: str, text: object, **attrs: str) -> str:
    attributes = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f"<{name}{attributes}>{escape(str(text))}</{name}>"


def _address(commune: tuple[str, str, str, float, float], street: str) -> str:
    insee, postcode, town, lat, lon = commune
    return (
        f"<adresse>{_el('ligne', street)}{_el('codepostal', postcode)}{_el('ville', town)}"
        f"{_el('departement', insee[:2])}{_el('code-INSEE-commune', insee)}{_el('region', '28')}"
        f"{_el('pays', 'FR')}<geolocalisation>{_el('latitude', f'{lat:.5f}')}"
        f"{_el('longitude', f'{lon:.5f}')}</geolocalisation></adresse>"
    )


class _Bodies:
    """A fixed population of bodies, each with a home commune, SIRET and NDA."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.items = []
        for i in range(count):
            siren = luhn_complete(f"{rng.randrange(30_000_000, 99_999_999):08d}")
            siret = luhn_complete(f"{siren}{rng.randrange(1, 999):04d}")
            commune = rng.choice(COMMUNES)
            name = f"{rng.choice(BODY_WORDS)} {rng.choice(BODY_TOPICS)} {commune[2]} {i + 1}"
            nda = f"28{commune[0][:2]}{rng.randrange(0, 9_999_999):07d}"
            self.items.append((siret, name, nda, commune))


def _formation(rng: random.Random, number: int, bodies: _Bodies, sessions_left: int) -> tuple[str, int]:
    title, formacodes, nsf, romes, rncp, certifinfo, hours = rng.choice(TRADES)
    siret, body_name, nda, home = rng.choice(bodies.items)
    street = f"{rng.randrange(1, 120)} {rng.choice(STREETS)}"
    certifying = rncp is not None
    codes = "".join(_el("code-FORMACODE", f, ref="V14") for f in formacodes)
    codes += _el("code-NSF", nsf) + "".join(_el("code-ROME", r, ref="V4") for r in romes)
    certification = ""
    if certifying:
        certification = (
            f"<certification>{_el('code-RNCP', rncp)}{_el('code-CERTIFINFO', certifinfo)}</certification>"
        )
    contact = (
        f"<contact-formation><coordonnees>{_el('courriel', f'contact{number}@formation.example')}"
        "</coordonnees>"
        "</contact-formation>"
    )
    actions: list[str] = []
    written = 0
    for a in range(rng.choice((1, 1, 1, 2, 2, 3))):
        if written >= sessions_left:
            break
        site = home if a == 0 else rng.choice(COMMUNES)
        site_street = street if a == 0 else f"{rng.randrange(1, 120)} {rng.choice(STREETS)}"
        centre = hours - rng.randrange(0, hours // 3)
        sessions: list[str] = []
        for s in range(min(rng.choice((1, 2, 2, 3, 4)), sessions_left - written)):
            start = date(2026, 1, 5) + timedelta(days=rng.randrange(0, 700))
            end = start + timedelta(days=rng.randrange(60, 400))
            sessions.append(
                f'<session numero="SE_{number:07d}_{a}_{s}"><periode>{_el("debut", start.strftime("%Y%m%d"))}'
                f"{_el('fin', end.strftime('%Y%m%d'))}</periode>"
                f"<adresse-inscription>{_address(site, site_street)}"
                f"</adresse-inscription>{_el('etat-recrutement', rng.choice('1112'))}</session>"
            )
        written += len(sessions)
        actions.append(
            f'<action numero="AC_{number:07d}_{a}">{_el("rythme-formation", "Temps plein")}'
            f"{_el('code-public-vise', '80056', ref='V14')}{_el('niveau-entree-obligatoire', '0')}"
            f"{_el('modalites-alternance', 'Stage en entreprise' if hours > centre else 'Sans')}"
            f"{_el('modalites-enseignement', rng.choice('0001'))}{_el('conditions-specifiques', 'Aucune')}"
            f"{_el('prise-en-charge-frais-possible', '1')}"
            f"<lieu-de-formation><coordonnees>{_el('ligne', f'Site {site[2]} {number}'[:50])}"
            f"{_address(site, site_street)}</coordonnees></lieu-de-formation>"
            f"{_el('modalites-entrees-sorties', rng.choice('001'))}{''.join(sessions)}"
            f"{_el('nombre-heures-centre', centre)}{_el('nombre-heures-entreprise', hours - centre)}"
            f"{_el('nombre-heures-total', hours)}"
            f"<organisme-financeur>{_el('code-financeur', rng.choice(('2', '4', '10', '16')))}"
            "</organisme-financeur>"
            f"</action>"
        )
    body = (
        f"<organisme-formation-responsable>{_el('numero-activite', nda)}"
        f"<SIRET-organisme-formation>{_el('SIRET', siret)}</SIRET-organisme-formation>"
        f"{_el('nom-organisme', body_name)}{_el('raison-sociale', body_name.upper())}"
        f"<coordonnees-organisme><coordonnees>{_address(home, street)}</coordonnees></coordonnees-organisme>"
        f"<contact-organisme><coordonnees>{_el('courriel', 'accueil@organisme.example')}</coordonnees>"
        f"</contact-organisme></organisme-formation-responsable>"
    )
    text = (
        f'<formation numero="AF_{number:07d}"><domaine-formation>{codes}</domaine-formation>'
        f"{_el('intitule-formation', title)}"
        f"{_el('objectif-formation', f'Acquérir les compétences du métier : {title.lower()}.')}"
        f"{_el('resultats-attendus', 'Certification visée.' if certifying else 'Attestation.')}"
        f"{_el('contenu-formation', f'Modules techniques, sécurité, stage pratique ({hours} heures).')}"
        f"{_el('certifiante', '1' if certifying else '0')}{contact}"
        f"{_el('parcours-de-formation', rng.choice('1234'))}"
        f"{_el('code-niveau-entree', rng.choice(('0', '13', '14')))}"
        f"{_el('objectif-general-formation', '6' if certifying else '7')}{certification}"
        f"{_el('code-niveau-sortie', rng.choice(('13', '14', '15')))}{''.join(actions)}{body}</formation>\n"
    )
    return text, written


def formations(n: int, seed: int = 0) -> Iterator[str]:
    """The ``formation`` elements (as text) of a file of ``n`` sessions.

    >>> sum(chunk.count("<session ") for chunk in formations(25, seed=1))
    25
    """
    rng = random.Random(seed)
    bodies = _Bodies(rng, max(10, min(400, n // 100)))
    done, number = 0, 0
    while done < n:
        number += 1
        text, written = _formation(rng, number, bodies, n - done)
        done += written
        yield text


def generate(path: Path, n: int, seed: int = 0) -> None:
    """Write an LHEO 2.3 document of ``n`` sessions to ``path`` (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<lheo xmlns="{NAMESPACE}">\n<offres>\n')
        for chunk in formations(n, seed):
            out.write(chunk)
        out.write("</offres>\n</lheo>\n")


def bare_parse(path: Path) -> int:
    """The comparator: lxml ``iterparse`` alone over the whole file, clearing each formation,
    counting sessions."""
    count = 0
    session = f"{{{NAMESPACE}}}session"
    for _, formation in etree.iterparse(str(path), events=("end",), tag=f"{{{NAMESPACE}}}formation"):
        count += sum(1 for _ in formation.iter(session))
        formation.clear()
        while formation.getprevious() is not None:
            del formation.getparent()[0]
    return count


def bare_parse_validated(path: Path, xsd: Path) -> int:
    """A second comparator: the bare parse plus the LHEO 2.3 XSD check of each formation (what
    validation alone costs; the project's reader validates the same way)."""
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    count = 0
    session = f"{{{NAMESPACE}}}session"
    for _, formation in etree.iterparse(str(path), events=("end",), tag=f"{{{NAMESPACE}}}formation"):
        if not schema.validate(formation):
            raise ValueError(f"{path}: {schema.error_log.last_error}")
        count += sum(1 for _ in formation.iter(session))
        formation.clear()
        while formation.getprevious() is not None:
            del formation.getparent()[0]
    return count


def main() -> None:
    out = cli(__doc__, generate, "sessions", "number of sessions")
    print(f"{out}: {bare_parse(out)} sessions")


if __name__ == "__main__":
    main()
