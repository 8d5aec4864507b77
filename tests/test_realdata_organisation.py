"""The SIRET shape (14 digits + Luhn, La Poste exception) on real SIRETs of ../shared/data.

No mapping of these files belongs to the organisation module yet: the test builds the minimal
typed nodes itself (SIRET only) and validates them with pySHACL against shapes/organisation.ttl.
Skipped when the data folder is absent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pyshacl import validate
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, SH

from kg.namespaces import PAS
from tests.conftest import ROOT, TEST_BASE

KNOWN_INVALID = "43203785199115"  # RS5006, published as "ALTRAN EDUCATION SERVICES (invalide)"


def luhn_ok(siret: str) -> bool:
    """Luhn on 14 digits (every second digit from the right doubled) or La Poste's digit sum.

    >>> luhn_ok("11000007200014"), luhn_ok("11000007200015"), luhn_ok("35600000010000")
    (True, False, True)
    """
    total = 0
    for i, ch in enumerate(siret):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0 or (siret.startswith("356000000") and sum(map(int, siret)) % 5 == 0)


def _invalid_by_shape(sirets: list[str], cls: URIRef) -> set[str]:
    data = Graph()
    for siret in sirets:
        node = URIRef(f"{TEST_BASE}id/siret/{siret}")
        data.add((node, RDF.type, cls))
        data.add((node, PAS.code, Literal(siret)))
    shapes = Graph().parse(ROOT / "shapes" / "organisation.ttl", format="turtle")
    _, report, _ = validate(data, shacl_graph=shapes, advanced=True, allow_warnings=True)
    assert isinstance(report, Graph)
    return {
        str(report.value(r, SH.focusNode)).rsplit("/", 1)[-1]
        for r in report.subjects(RDF.type, SH.ValidationResult)
        if report.value(r, SH.resultSeverity) == SH.Violation
    }


def test_real_training_body_sirets_pass(shared_data: Path) -> None:
    path = shared_data / "bodies" / "referentiel_organismes_apprentissage_extrait_2024.json"
    sirets = sorted({o["siret"] for o in json.loads(path.read_text(encoding="utf-8"))})
    assert 800 <= len(sirets) <= 820
    assert all(luhn_ok(s) for s in sirets)  # the whole file: every SIRET is valid
    assert _invalid_by_shape(sirets[::200], PAS.TrainingBody) == set()  # a sample, via SHACL


def test_real_certifier_sirets_one_published_invalid(shared_data: Path) -> None:
    path = shared_data / "rncp" / "export_fiches_CSV_Certificateurs_2026_02_01.csv"
    with path.open(encoding="utf-8", newline="") as f:
        sirets = sorted({row["Siret_Certificateur"].strip() for row in csv.DictReader(f, delimiter=";")})
    assert [s for s in sirets if not luhn_ok(s)] == [KNOWN_INVALID]
    assert _invalid_by_shape([*sirets[::1000], KNOWN_INVALID], PAS.Certifier) == {KNOWN_INVALID}


def test_real_la_poste_sirets_accepted(shared_data: Path) -> None:
    """La Poste establishments fail Luhn; the digit-sum rule accepts them."""
    path = shared_data / "disability" / "entreprises_handi_engagees_lba_2026-01.csv"
    with path.open(encoding="utf-8", newline="") as f:
        la_poste = sorted(
            {r["SIRET"].strip() for r in csv.DictReader(f) if r["SIRET"].startswith("356000000")}
        )
    assert len(la_poste) >= 10
    assert _invalid_by_shape(la_poste[:3], PAS.Company) == set()
