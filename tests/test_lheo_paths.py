"""The LHEO mappings' cheaper paths give what the plain ones give: ``explode_mode=together``
(lheo-codes.rq) against the per-code explode, and lheo-offers.rq's first-session-only values
against the same query with those guards taken out — same triples, record numbers, entity
marks and quarantined records, on the golden inputs, the demo file, a synthetic file and the
real LHEO example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kg.mapping import MappingStats, map_file
from kg.sources.lheo_reader import Exploder, split_options
from kg.sources.records import Record
from synthetic import lheo as synthetic_lheo
from tests.conftest import ROOT, TEST_BASE

CODES = ROOT / "mappings" / "lheo-codes.rq"
OFFERS = ROOT / "mappings" / "lheo-offers.rq"
DEMO = ROOT / "demo" / "supply" / "lheo-offres-normandie.xml"
GOLDEN = ROOT / "tests" / "golden" / "mappings"
REAL = Path("training") / "lheo" / "exemple-lheo-2.2-bts-onisep.xml"


def _mapped(
    mapping: Path, path: Path, options: dict[str, str]
) -> tuple[set[str], set[int], dict[str, set[int]], dict[int, dict[str, str | None]]]:
    stats = MappingStats(entities={})  # a plain dict, comparable
    triples = {str(t) for t in map_file(mapping, path, TEST_BASE, {"validate": "none", **options}, stats)}
    assert isinstance(stats.entities, dict)
    return triples, stats.records, stats.entities, stats.unmapped


def _inputs(tmp_path: Path) -> list[Path]:
    synthetic = tmp_path / "synthetic.xml"
    synthetic_lheo.generate(synthetic, 400, seed=5)
    return [GOLDEN / "lheo-codes" / "input.xml", GOLDEN / "lheo-offers" / "input.xml", DEMO, synthetic]


def test_codes_together_gives_what_the_per_code_explode_gives(tmp_path: Path) -> None:
    for path in _inputs(tmp_path):
        apart = _mapped(CODES, path, {"explode_mode": "apart"})
        together = _mapped(CODES, path, {})  # the header's explode_mode=together
        assert together == apart and len(apart[0]) > 10, path.name


def test_codes_together_on_the_real_example(shared_data: Path) -> None:
    path = shared_data / REAL
    assert _mapped(CODES, path, {}) == _mapped(CODES, path, {"explode_mode": "apart"})


def test_the_action_without_numero_is_quarantined_as_the_same_record() -> None:
    """The golden input's action without numero maps to nothing: the record kept for the
    quarantine is the same whichever explode mode."""
    path = GOLDEN / "lheo-codes" / "input.xml"
    unmapped = _mapped(CODES, path, {})[3]
    assert unmapped and unmapped == _mapped(CODES, path, {"explode_mode": "apart"})[3]


def test_together_records_carry_every_value_once() -> None:
    exploder = Exploder(["a", "b", "c"], together=True)
    record = Record(7, {"a": "1| 2 |", "b": None, "c": "x|y|z", "action_line": "3", "d": "k"})
    rows = [r.values for r in exploder(record)]
    assert [(r["a"], r["b"], r["c"], r["d"]) for r in rows] == [
        ("1", None, None, "k"),  # the per-code explode's first record
        ("2", None, "x", "k"),
        (None, None, "y", "k"),
        (None, None, "z", "k"),
    ]
    apart = [r.values for r in Exploder(["a", "b", "c"])(record)]
    assert rows[0] == apart[0]
    # The next session of the same action with the same codes: one record, codes empty.
    again = exploder(Record(8, {**record.values}))
    assert [(r.number, r.values["a"], r.values["c"]) for r in again] == [(8, None, None)]


def test_explode_mode_is_checked() -> None:
    from kg.errors import SourceError

    with pytest.raises(SourceError, match="explode_mode"):
        split_options({"explode": "a", "explode_mode": "zip"})
    assert "explode_mode" not in split_options({"explode": "a", "explode_mode": "together"})[0]


def _unguarded(tmp_path: Path) -> Path:
    """lheo-offers.rq with its ``?first`` guards on description values taken out."""
    query = OFFERS.read_text(encoding="utf-8")
    guard = r"IF\(\?first, (\?\w+), \?_unbound\) AS \?(?!described|bodyDescribed)"
    plain, count = re.subn(guard, r"\1 AS ?", query)
    plain, hours = re.subn(r"IF\(\?first && REGEX", "IF(REGEX", plain)
    assert count == 9 and hours == 3  # the guards this test stands for are all there
    path = tmp_path / "lheo-offers-unguarded.rq"
    path.write_text(plain, encoding="utf-8")
    return path


def test_offers_first_session_values_change_nothing(tmp_path: Path) -> None:
    plain = _unguarded(tmp_path)
    for path in _inputs(tmp_path):
        guarded = _mapped(OFFERS, path, {})
        assert guarded == _mapped(plain, path, {}) and len(guarded[0]) > 10, path.name


def test_offers_first_session_values_on_the_real_example(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / REAL
    assert _mapped(OFFERS, path, {}) == _mapped(_unguarded(tmp_path), path, {})
