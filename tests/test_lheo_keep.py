"""The LHEO reader's kept-columns read (option ``keep``, what ``map_source_file`` asks for):
each record is the full record restricted to the kept columns — same cells, same order —
record by record, on the golden inputs, the demo file, a synthetic file and the real example;
``whole_records`` gives the full records back; and a build's mapping through it gives the same
N-Triples, record numbers, skips, entity marks and quarantined records (whole) as the full read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kg.mapping import Mapping, MappingRunner, MappingStats, map_source_file, run_shared
from kg.sources.lheo_reader import kept_columns, read_lheo, split_options, whole_records
from kg.sources.records import read_records
from synthetic import lheo as synthetic_lheo
from tests.conftest import ROOT, TEST_BASE

MAPPINGS = [ROOT / "mappings" / "lheo-offers.rq", ROOT / "mappings" / "lheo-codes.rq"]
DEMO = ROOT / "demo" / "supply" / "lheo-offres-normandie.xml"
GOLDEN = ROOT / "tests" / "golden" / "mappings"
REAL = Path("training") / "lheo" / "exemple-lheo-2.2-bts-onisep.xml"
XSD = Path("training") / "lheo" / "lheo-2.3.xsd"


def _mapping_columns() -> str:
    columns: set[str] = set()
    for path in MAPPINGS:
        mapping = Mapping.load(path)
        columns |= mapping.variables()
        columns |= set(split_options(mapping.options)[1].columns if "explode" in mapping.options else [])
    return " ".join(sorted(c for c in columns if not c.startswith("_")))


# the mappings' columns; a few odd ones (an attribute only, a V4 code, an extra, a nested leaf)
KEEPS = [
    _mapping_columns(),
    "formation_numero",
    "action_numero session_periode_debut",
    "formation_domaine_formation_code_ROME_V4 action_extras_extra_financement",
    "action_lieu_de_formation_coordonnees_adresse_ville, session_numero",
]


def _inputs(tmp_path: Path) -> list[Path]:
    synthetic = tmp_path / "synthetic.xml"
    synthetic_lheo.generate(synthetic, 300, seed=7)
    return [GOLDEN / "lheo-codes" / "input.xml", GOLDEN / "lheo-offers" / "input.xml", DEMO, synthetic]


def _check_restricted(path: Path, options: dict[str, str]) -> int:
    full = list(read_lheo(path, options))
    for keep in KEEPS:
        columns = kept_columns({"keep": keep})
        assert columns is not None
        kept = list(read_lheo(path, {**options, "keep": keep}))
        assert [r.number for r in kept] == [r.number for r in full], (path.name, keep)
        for whole, part in zip(full, kept, strict=True):
            restricted = [(k, v) for k, v in whole.values.items() if k in columns]
            assert list(part.values.items()) == restricted, (path.name, keep, whole.number)
    return len(full)


def test_kept_read_is_the_full_read_restricted(tmp_path: Path) -> None:
    for path in _inputs(tmp_path):
        assert _check_restricted(path, {"validate": "none"}) > 0, path.name


def test_kept_read_of_the_real_example(shared_data: Path) -> None:
    assert _check_restricted(shared_data / REAL, {}) > 0


def test_kept_read_leaves_the_other_columns_out(tmp_path: Path) -> None:
    record = next(iter(read_lheo(DEMO, {"validate": "none", "keep": "action_numero"})))
    assert set(record.values) <= {
        "action_numero",
        "formation_numero",
        "action_line",
        "session_position",
        "source_line",
    }
    assert "action_numero" in record.values


def test_whole_records_gives_every_record_back(tmp_path: Path) -> None:
    for path in _inputs(tmp_path):
        options = {"validate": "none", "keep": KEEPS[0]}
        for explode in (
            {},
            {"explode": "formation_domaine_formation_code_FORMACODE, action_numero"},
            {"explode": "formation_domaine_formation_code_NSF", "explode_mode": "together"},
        ):
            parse, step = split_options({**options, **explode})
            full_parse, full_step = split_options({"validate": "none", **explode})
            kept, full = list(read_lheo(path, parse)), list(read_lheo(path, full_parse))
            items = [i for r in kept for i in (step(r) if step else [r])]
            wholes = [i for r in full for i in (full_step(r) if full_step else [r])]
            # each record number's first item, as a build keeps it
            first: dict[int, dict[str, str | None]] = {}
            for item in items:
                first.setdefault(item.number, item.values)
            expected: dict[int, dict[str, str | None]] = {}
            for item in wholes:
                expected.setdefault(item.number, item.values)
            restored = whole_records(path, parse, [step], first)
            assert list(restored) == list(expected) and all(
                list(restored[n].items()) == list(expected[n].items()) for n in expected
            ), (path.name, explode)


def _run(path: Path, kept: bool) -> tuple[bytes, set[int], dict[int, str], int, list[tuple[int, int]], str]:
    """map_source_file (the kept read) or run_shared over the full read, as main did."""
    mappings = [Mapping.load(p) for p in MAPPINGS]
    stats = MappingStats()
    if kept:
        chunks = list(map_source_file(path, mappings, {}, TEST_BASE, stats))
    else:
        jobs = []
        for mapping in mappings:
            parse, step = split_options({**mapping.options})
            jobs.append((MappingRunner(mapping, TEST_BASE), step))
        chunks = list(run_shared(jobs, read_records(path, "lheo", parse), stats))
    marks = stats.entities
    pairs = sorted(zip(marks._hashes, marks._numbers, strict=True))  # type: ignore[union-attr]
    unmapped = repr(list((n, list(v.items())) for n, v in stats.unmapped.items()))
    return b"".join(chunks), stats.records, stats.skipped, stats.triples, pairs, unmapped


def _bad_copy(source: Path, target: Path) -> Path:
    """A copy of a synthetic file with its second formation broken for the XSD and an action
    without numero (records no mapping uses, quarantined whole)."""
    text = source.read_text(encoding="utf-8")
    starts = [m.start() for m in re.finditer("<formation ", text)]
    second = text[starts[1] : starts[2]]
    text = text.replace(second, second.replace("<intitule-formation>", "<bogus/><intitule-formation>", 1))
    third = text[starts[2] :]
    text = text[: starts[2]] + re.sub(r'<action numero="[^"]*"', "<action", third, count=1)
    target.write_text(text, encoding="utf-8")
    return target


def test_a_build_maps_the_same_through_the_kept_read(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLES_LHEO_XSD", str(shared_data / XSD))
    synthetic = tmp_path / "synthetic.xml"
    synthetic_lheo.generate(synthetic, 300, seed=3)
    bad = _bad_copy(synthetic, tmp_path / "bad.xml")
    for path in [GOLDEN / "lheo-offers" / "input.xml", DEMO, synthetic, bad, shared_data / REAL]:
        kept, full = _run(path, kept=True), _run(path, kept=False)
        assert kept == full, path.name
        assert kept[3] > 0
    unmapped = _run(bad, kept=True)[5]
    assert "xsd_error" in unmapped and "formation_certifiante" in unmapped  # whole records
