"""The target-trades list (trades/target-trades.csv): well formed, and every code it cites is a
ROME 4.0 v460 fiche or appellation (checked against the real referential when present)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import ROOT

TRADES = ROOT / "trades" / "target-trades.csv"


def _trades() -> list[dict[str, str]]:
    with TRADES.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def _codes(cell: str) -> list[str]:
    return [c.strip() for c in cell.split(",") if c.strip()]


def test_ten_trades_with_unique_codes_and_order() -> None:
    trades = _trades()
    assert len(trades) == 10
    assert len({t["code"] for t in trades}) == 10
    assert sorted(int(t["ordinal"]) for t in trades) == list(range(1, 11))
    for trade in trades:
        assert trade["label_fr"] and trade["label_en"] and trade["definition_fr"] and trade["definition_en"]
        assert _codes(trade["occupations"]), trade["code"]


def test_codes_exist_in_rome_v460(shared_data: Path) -> None:
    rome = shared_data / "rome"
    with (rome / "unix_referentiel_code_rome_v460_utf8.csv").open(encoding="utf-8") as handle:
        fiches = {row["code_rome"] for row in csv.DictReader(handle)}
    with (rome / "unix_referentiel_appellation_v460_utf8.csv").open(encoding="utf-8") as handle:
        appellations = {row["code_ogr"]: row["code_rome"] for row in csv.DictReader(handle)}
    for trade in _trades():
        for code in _codes(trade["occupations"]):
            assert code in fiches, f"{trade['code']}: {code} is not a ROME v460 fiche"
        for code in _codes(trade["appellations"]):
            assert code in appellations, f"{trade['code']}: {code} is not a ROME v460 appellation"


@pytest.mark.parametrize(
    ("trade", "appellation", "fiche"),
    [
        ("valoriste-generaliste", "20503", "K2308"),  # the valoriste appellation of sorting operators
        ("technicien-hydrogene", "512211", "I1304"),  # hydrogen maintenance, under industrial maintenance
        ("dispositifs-medicaux-domicile", "38858", "J1303"),  # respiratory support devices
    ],
)
def test_narrowing_appellations_belong_to_the_expected_fiche(
    shared_data: Path, trade: str, appellation: str, fiche: str
) -> None:
    path = shared_data / "rome" / "unix_referentiel_appellation_v460_utf8.csv"
    with path.open(encoding="utf-8") as handle:
        owner = {row["code_ogr"]: row["code_rome"] for row in csv.DictReader(handle)}
    assert owner[appellation] == fiche
    assert appellation in _codes(next(t for t in _trades() if t["code"] == trade)["appellations"])
