"""The CSV cells path (kg.mapping.run_csv_cells: raw cells by position, no dict per row) against
the records path (kg.mapping.run_shared over kg.sources.csv_reader.read_csv), both through the
compiled mappings: same triples, entity marks, skipped and unmapped records (unmapped records
keep every cell of their row, as the quarantine shows them).
"""

from __future__ import annotations

import csv
import random
import tomllib
from pathlib import Path

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.mapping import (
    Mapping,
    MappingRunner,
    MappingStats,
    _cells_path,
    map_source_file,
    run_csv_cells,
    run_shared,
)
from kg.mapping_compile import (
    _UNCHANGED,
    Unsupported,
    _unchanged,
    compile_mapping,
    translate_regex,
    translate_replacement,
)
from kg.sources.csv_reader import delimiter_of, read_csv_cells
from kg.sources.records import read_records, split_read_options
from tests.conftest import ROOT, TEST_BASE
from tests.test_mapping_compile import POOL

CASES = sorted(p for p in (ROOT / "tests" / "golden" / "mappings").glob("*") if (p / "case.toml").is_file())


def _compiled_csv(path: Path) -> bool:
    mapping = Mapping.load(path)
    if mapping.format != "csv" or mapping.options.get("explode"):
        return False
    try:
        compile_mapping(mapping, TEST_BASE)
    except Unsupported:
        return False
    return True


CSV_MAPPINGS = [p for p in sorted((ROOT / "mappings").glob("*.rq")) if _compiled_csv(p)]
CSV_CASES = [
    c
    for c in CASES
    if _compiled_csv(ROOT / "mappings" / tomllib.loads((c / "case.toml").read_text())["mapping"])
]


def _outcome(stats: MappingStats, data: bytes) -> tuple[object, ...]:
    triples = {str(q.triple) for q in ox.parse(data, format=ox.RdfFormat.N_TRIPLES)}
    entities = stats.entities
    assert not isinstance(entities, dict)
    marks = {(key, frozenset(numbers)) for key, numbers in entities._indexed().items()}
    return triples, marks, stats.records, stats.skipped, stats.unmapped, stats.triples


def _both(mapping: Mapping, path: Path, options: dict[str, str]) -> tuple[tuple[object, ...], ...]:
    parse, _ = split_read_options(mapping.format, {**mapping.options, **options})
    runner = MappingRunner(mapping, TEST_BASE, options=options)
    assert _cells_path(mapping.format, parse, [(runner, None)])
    cells_stats, records_stats = MappingStats(), MappingStats()
    cells = b"".join(run_csv_cells([(runner, None)], read_csv_cells(path, parse), cells_stats))
    records = b"".join(run_shared([(runner, None)], read_records(path, "csv", parse), records_stats))
    return _outcome(cells_stats, cells), _outcome(records_stats, records)


@pytest.mark.parametrize("case", CSV_CASES, ids=[c.name for c in CSV_CASES])
def test_golden_case_same_through_cells_and_records(case: Path) -> None:
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    mapping = Mapping.load(ROOT / "mappings" / spec["mapping"])
    cells, records = _both(mapping, case / spec["input"], spec.get("options", {}))
    assert cells == records
    assert cells[0] or cells[3], "the case produces triples or skips rows"


def _padded(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return rng.choice(["", " ", "\t"])
    value = rng.choice(POOL)
    return rng.choice(["", " ", "  ", "\t"]) + value + rng.choice(["", " ", "\t "])


@pytest.mark.parametrize("path", CSV_MAPPINGS, ids=lambda p: p.stem)
def test_random_rows_same_through_cells_and_records(path: Path, tmp_path: Path) -> None:
    mapping = Mapping.load(path)
    columns = sorted(compile_mapping(mapping, TEST_BASE).columns)
    columns += [c for c in mapping.options.get("columns", "").split() if c not in columns]
    header = ["unused_before", *columns, "unused_after"]
    rng = random.Random(path.stem)
    delimiter = delimiter_of(mapping.options)
    encoding = mapping.options.get("encoding", "utf-8-sig")
    if encoding.lower() in ("latin-1", "latin1", "iso-8859-1", "cp1252", "windows-1252"):
        pool_ok = lambda text: text.encode(encoding, errors="ignore").decode(encoding) == text  # noqa: E731
    else:
        pool_ok = lambda text: True  # noqa: E731
    file = tmp_path / "rows.csv"
    skip = int(mapping.options.get("skip_lines", "0"))
    unquoted = mapping.options.get("quoting") == "none"
    with file.open("w", encoding=encoding, newline="") as handle:
        handle.write("preamble\n" * skip)
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        for _ in range(150):
            row = [cell if pool_ok(cell) else "" for cell in (_padded(rng) for _ in header)]
            if unquoted:  # a file read with quoting=none cannot hold these in a cell
                row = [c.replace(delimiter, " ").replace("\n", " ").replace('"', "'") for c in row]
                handle.write(delimiter.join(row) + "\n")
            else:
                writer.writerow(row)
    cells, records = _both(mapping, file, {})
    assert cells[0] == records[0], sorted(set(cells[0]) ^ set(records[0]))[:6]  # type: ignore[call-overload]
    assert cells == records


def test_unmapped_row_keeps_every_cell(tmp_path: Path) -> None:
    (tmp_path / "m.rq").write_text(
        "#+ format: csv\nCONSTRUCT { ?o a <x:T> ; <x:p> ?label ; pas:sourceRow ?_row } "
        'WHERE { BIND(IRI(CONCAT(STR(id:), "c/", ?code)) AS ?o) }'
    )
    (tmp_path / "in.csv").write_text("code,label,other\nA1, x ,y\n,z, w \n")
    stats = MappingStats()
    data = b"".join(
        map_source_file(tmp_path / "in.csv", [Mapping.load(tmp_path / "m.rq")], {}, TEST_BASE, stats)
    )
    assert data.count(b"\n") == 2 and stats.records == {2, 3}
    assert stats.unmapped == {3: {"code": None, "label": "z", "other": "w"}}


def test_batch_the_compiled_code_cannot_map_goes_through_sparql(tmp_path: Path) -> None:
    # STRDT to xsd:date of a text that is not a date: the compiled code raises RowUnsupported
    (tmp_path / "m.rq").write_text(
        "#+ format: csv\nCONSTRUCT { ?o <x:d> ?d ; pas:sourceRow ?_row } "
        'WHERE { BIND(IRI(CONCAT(STR(id:), "c/", ?code)) AS ?o) BIND(STRDT(?day, xsd:date) AS ?d) }'
    )
    (tmp_path / "in.csv").write_text("code,day\nA1,2026-01-15\nA2,15/01/2026\n")
    cells, records = _both(Mapping.load(tmp_path / "m.rq"), tmp_path / "in.csv", {})
    assert cells == records
    assert len(cells[0]) == 2  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(' \t\n\u00a0\u3000\u2028\u0085ab<>|\\"é')), max_size=10))
def test_replace_fast_paths_hold(text: str) -> None:
    """Whenever a REPLACE fast path says the text comes out unchanged, the regex agrees."""
    cases = [*_UNCHANGED, ("<[^>]*>", " "), ("\\|", ", "), ("a+b", "")]
    for pattern, replacement in cases:
        condition = _unchanged(pattern, replacement)
        assert condition is not None, pattern
        if eval(condition.format(t="text")):  # our own condition source
            regex = translate_regex(pattern)
            assert regex.sub(translate_replacement(replacement), text) == text, (pattern, text)
