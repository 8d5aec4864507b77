"""The row engine's memoised subjects (:func:`kg.mapping_compile.memo_groups`) give exactly what
the plain code gives: the same N-Triples lines in the same order and the same marks, batch by
batch, on every golden mapping case (in one batch and in batches of three rows), on the LHEO
demo file and on a synthetic LHEO file whose actions have several sessions (the training place
repeats)."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

from kg import mapping_compile
from kg.mapping import Mapping, MappingRunner, MappingStats
from kg.mapping_compile import CompiledMapping, RowUnsupported, Unsupported, compile_query, memo_groups
from kg.sources.records import Record, read_records
from synthetic import lheo as synthetic_lheo
from tests.conftest import ROOT, TEST_BASE

GOLDEN = ROOT / "tests" / "golden" / "mappings"
CASES = sorted(p for p in GOLDEN.glob("*") if (p / "case.toml").is_file())
OFFERS = ROOT / "mappings" / "lheo-offers.rq"


def _both(query: str, monkeypatch: pytest.MonkeyPatch) -> tuple[CompiledMapping, CompiledMapping]:
    """The query compiled with its memoised subjects, and without any."""
    with_memo = compile_query(query, TEST_BASE)
    monkeypatch.setattr(mapping_compile, "MEMO_MIN_LINES", 10**9)
    plain = compile_query(query, TEST_BASE)
    monkeypatch.undo()
    assert "seen_" not in plain.source
    return with_memo, plain


def _same_output(
    with_memo: CompiledMapping,
    plain: CompiledMapping,
    records: Sequence[Record],
    sparql: MappingRunner | None = None,
) -> int:
    lines = 0
    for size in (len(records) or 1, 3):
        for start in range(0, len(records), size):
            batch = list(records[start : start + size])
            try:
                plain_lines, plain_marks = plain.run(batch)
            except RowUnsupported:
                # The plain code sends the batch to SPARQL evaluation. The memoised code may not
                # (a BIND moved into a block is not computed on a row whose subject is unbound):
                # then its output must be SPARQL's.
                assert sparql is not None
                try:
                    memo_lines, memo_marks = with_memo.run(batch)
                except RowUnsupported:
                    continue
                stats = MappingStats(entities={})
                expected = sparql._run_sparql(batch, stats).decode().splitlines(keepends=True)
                assert sorted(memo_lines) == sorted(expected)
                assert isinstance(stats.entities, dict)
                assert {(e, n) for e, numbers in stats.entities.items() for n in numbers} == set(memo_marks)
                continue
            memo_lines, memo_marks = with_memo.run(batch)
            assert memo_lines == plain_lines  # the same lines, in the same order
            assert sorted(memo_marks) == sorted(plain_marks)  # marks: the same pairs, as many
            lines += len(plain_lines)
    return lines


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_memoised_subjects_change_nothing_on_golden_cases(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    mapping = Mapping.load(ROOT / "mappings" / spec["mapping"])
    try:
        with_memo, plain = _both(mapping.query, monkeypatch)
    except Unsupported:
        pytest.skip("not compiled: SPARQL evaluation")
    options = {**mapping.options, **spec.get("options", {})}
    records = list(read_records(case / spec["input"], mapping.format, options))
    _same_output(with_memo, plain, records, MappingRunner(mapping, TEST_BASE, engine="sparql"))


def test_lheo_places_are_written_once_per_batch_and_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "offers.xml"
    synthetic_lheo.generate(path, 300, seed=3)
    mapping = Mapping.load(OFFERS)
    with_memo, plain = _both(mapping.query, monkeypatch)
    assert "seen_place" in with_memo.source
    for source in (path, ROOT / "demo" / "supply" / "lheo-offres-normandie.xml"):
        records = list(read_records(source, "lheo", {**mapping.options, "validate": "none"}))
        assert _same_output(with_memo, plain, records) > 100
    # the place's lines are skipped on the later sessions of its action: fewer lines made
    made_memo: list[str] = []
    made_plain: list[str] = []
    with_memo.function(records, made_memo, lambda _: None)
    plain.function(records, made_plain, lambda _: None)
    assert len(made_memo) < len(made_plain) and set(made_memo) == set(made_plain)


def _groups(query: str) -> dict[str, mapping_compile._Memo]:
    template, binds = mapping_compile._Parser(mapping_compile._tokens(query), {}).query()
    reads: dict[str, set[str]] = {}
    for name, expression in binds:
        found: set[str] = set()
        stack = [expression]
        while stack:
            node = stack.pop()
            if node[0] in ("var", "bound"):
                found.add(node[1])
            stack += [p for p in node[1:] if isinstance(p, tuple)]
            stack += [i for p in node[1:] if isinstance(p, list) for i in p]
        reads[name] = found
    columns = frozenset({"code", "name", "sess", "x", "y"})
    return memo_groups(template, [name for name, _ in binds], reads, columns)


def test_which_subjects_are_memoised() -> None:
    where = 'WHERE { BIND(IRI(CONCAT("x:", ?code)) AS ?p) BIND(IRI(CONCAT("x:s", ?sess)) AS ?s) }'
    # ?p is cited by ?s (an entity rows link to), ?s by nothing (the row's own): only ?p
    assert set(_groups(f"CONSTRUCT {{ ?p <x:a> ?x ; <x:b> ?y . ?s <x:c> ?p ; <x:d> ?y }} {where}")) == {"p"}
    # ?p's lines are split by ?s's: not memoised (one block per subject, or lines would be lost)
    split = _groups(f"CONSTRUCT {{ ?p <x:a> ?x . ?s <x:b> ?p ; <x:c> ?y . ?p <x:d> ?y }} {where}")
    assert split == {}
    # a BIND read by another subject's line, or by a subject, stays out of the block
    kept = _groups(
        "CONSTRUCT { ?p <x:a> ?n ; <x:b> ?m . ?s <x:c> ?n ; <x:e> ?p } "
        'WHERE { BIND(IRI(CONCAT("x:", ?code)) AS ?p) '
        'BIND(UCASE(?name) AS ?n) BIND(LCASE(?x) AS ?m) BIND(IRI(CONCAT("x:s", ?sess)) AS ?s) }'
    )
    assert set(kept) == {"p"} and kept["p"].moved == {"m"} and kept["p"].key == ["name", "x"]
    # one line only: not worth a key
    assert _groups('CONSTRUCT { ?p <x:a> ?x } WHERE { BIND(IRI(CONCAT("x:", ?code)) AS ?p) }') == {}


def test_a_mark_inside_a_memoised_block_is_made_on_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    query = (
        "CONSTRUCT { ?p <x:a> ?n ; pas:sourceRow ?_row ; <x:b> ?x . ?s <x:c> ?p ; pas:sourceRow ?_row } "
        'WHERE { BIND(IRI(CONCAT("x:p", ?code)) AS ?p) BIND(UCASE(?name) AS ?n) '
        'BIND(IRI(CONCAT("x:s", ?sess)) AS ?s) }'.replace(
            "pas:", "<https://w3id.org/passerelles/ontology#"
        ).replace("#sourceRow", "#sourceRow>")
    )
    with_memo, plain = _both(query, monkeypatch)
    assert "seen_p" in with_memo.source
    rows = [Record(n, {"code": "P1", "name": "a", "x": "1", "sess": str(n)}) for n in range(2, 7)]
    _same_output(with_memo, plain, rows)
    marks = with_memo.run(rows)[1]
    assert sorted(n for e, n in marks if e == "<x:pP1>") == [2, 3, 4, 5, 6]
