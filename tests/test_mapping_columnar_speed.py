"""The columnar engine's cheaper paths (docs/guides/columnar-speed.md) against the exact ones they stand
for: the IRI guard of a CONCAT with an http(s)://host/ prefix, xsd:integer by polars' cast, the
row texts with the lines written on every row merged, the one-read line checks of a block, and
the width of each line (a malformed file is the csv module's error, whatever the block's total).
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

import kg.mapping as mapping_module
import kg.sources.csv_blocks as blocks_module
from kg.mapping import Mapping
from kg.mapping_columnar import _SAFE_IRI, ColumnarPlan, _Col, _iri_guard
from kg.sources.csv_blocks import _frame, read_blocks
from tests.test_mapping_columnar import MAPPING_TEXT, Runs, _engines, _write

CHARS = "aZ09-._~/ %é<>:?#@!$&'()*+,;=\u00a0\t"


@pytest.mark.parametrize("prefix", ["https://w3id.org/passerelles/id/x/", "http://h:8080/", "https://h"])
def test_iri_guard_of_a_concat_gives_the_whole_iri_s_verdict(prefix: str) -> None:
    rng = random.Random(7)
    values = [None, "", "A1", "a/b", "a b", "é"] + [
        "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 6))) for _ in range(400)
    ]
    other = [rng.choice(values) for _ in values]
    frame = pl.DataFrame({"a": values, "b": other}, schema={"a": pl.String, "b": pl.String})
    parts = (
        _Col("str", pl.lit(prefix), True, const=prefix, is_const=True),
        _Col("str", pl.col("a")),
        _Col("str", pl.lit("-"), True, const="-", is_const=True),
        _Col("str", pl.col("b")),
    )
    whole = pl.concat_str([p.expr for p in parts])
    col = _Col("str", whole, parts=parts)
    fast = frame.select(_iri_guard(col)).to_series().to_list()
    exact = frame.select(whole.is_null() | whole.str.contains(_SAFE_IRI)).to_series().to_list()
    assert fast == exact


INTEGERS = [
    "+5",
    "-5",
    "+-5",
    "--5",
    "5-",
    "٣",
    "５",
    "1_000",
    "1.0",
    "0x10",
    "00012",
    "+0042",
    "-0",
    "1234567890123456789",
    "-9223372036854775808",
    "9223372036854775807",
    "9223372036854775808",
    "12345678901234567890",
    "0000000000000000000000042",
    "abcdefghijklmnopqrstu",
    "+",
    "-",
]


def test_xsd_integer_by_cast_same_as_rows_and_sparql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.rq").write_text(
        "#+ format: csv\n#+ options: delimiter=semicolon\n"
        "CONSTRUCT { ?o <x:n> ?n ; pas:sourceRow ?_row } "
        'WHERE { BIND(IRI(CONCAT(STR(id:), "c/", ?code)) AS ?o) BIND(xsd:integer(?v) AS ?n) }'
    )
    monkeypatch.setattr(mapping_module, "BATCH_ROWS", 2)
    rows = [[f"C{i}", value] for i, value in enumerate(INTEGERS)]
    _write(tmp_path / "in.csv", ["code", "v"], rows, ";")
    runs = Runs(monkeypatch)
    columnar, by_rows = _engines([Mapping.load(tmp_path / "m.rq")], tmp_path / "in.csv", {}, monkeypatch)
    assert columnar == by_rows
    assert runs.frames > 0
    # the overflowing integers' batches (and the long non-integer's) go to the row engine
    assert 0 < runs.refused < len(INTEGERS) // 2


def test_row_text_with_merged_lines_same_as_every_line_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """DGEFP rows, some with empty cells: the frame's row text with the lines written on every
    row merged (and booleans absorbing their neighbours) is the text of each line apart."""
    from tests.test_mapping_columnar import DGEFP, DGEFP_ROW

    mapping = Mapping.load(DGEFP)
    from kg.mapping_columnar import columns, compile_columnar
    from kg.mapping_compile import compile_mapping
    from tests.conftest import TEST_BASE

    present = frozenset(compile_mapping(mapping, TEST_BASE).columns & set(DGEFP_ROW))
    plan = compile_columnar(mapping.query, TEST_BASE, present)
    rng = random.Random(3)
    cells: dict[str, list[str]] = {name: [] for name in present}
    for row in range(50):
        for name in present:
            value = DGEFP_ROW[name]
            if name == "siretEtablissementDeclarant":  # one body per row: the lines are distinct
                value = f"{value[:-3]}{row:03d}"
            cells[name].append("" if rng.random() < 0.2 and name != "siretEtablissementDeclarant" else value)
    frame = columns(cells, list(range(2, 52)), [0] * 50)
    merged = plan.run(frame, plain=True).lines
    real = ColumnarPlan.row

    def apart(self: ColumnarPlan, plain: bool, always: tuple[bool, ...]) -> pl.Expr | None:
        return real(self, plain, tuple(False for _ in always))

    monkeypatch.setattr(ColumnarPlan, "row", apart)
    assert plan.run(frame, plain=True).lines == merged and len(merged) > 200


@pytest.mark.parametrize(
    ("data", "rows", "read"),
    [
        (b"a;b\r\nc;d\r\n", 2, True),
        (b"a;b\nc;d", 2, True),
        (b"a;b\rc;d\n", 1, False),
        (b"a;b\n\r\nc;d\n", 3, False),
        (b"a;b\n\nc;d\n", 3, False),
        (b"\na;b\n", 2, False),
        (b"\r\na;b\n", 2, False),
        (b"a;b\r\r\n", 1, False),
        (b"a;b\r", 1, False),
        (b"\ra;b\n", 1, False),
    ],
)
def test_a_block_s_lines_checked_in_one_read(data: bytes, rows: int, read: bool) -> None:
    assert (_frame(data, rows, b";", True, 2, [0, 1]) is not None) is read


@pytest.mark.parametrize(
    ("data", "rows", "read"),
    [
        (b"a;b;c\nd;e;f\n", 2, True),
        (b"a;b;c\r\nd;e;f", 2, True),
        (b"a;b;c;x\nd;e;f\n", 2, False),  # a field too many
        (b"a;b;c\nd;e\n", 2, False),  # a field too few
        (b"a;b;c;x\nd;e\nf;g;h\n", 3, False),  # both, the block's total unchanged
        (b"a;b\nd;e;f;x\n", 2, False),  # both, short first
        (b"a;b;c\nd;e;f;g;h\nk\nl;m;n\n", 4, False),  # two too many, then two too few
        (b"a;b;c\nd;e;f;g\nh;i", 3, False),  # both, the short one last without a line break
        (b"a;b;c\n;;\n", 2, True),  # empty cells: the right width
    ],
)
def test_a_line_of_another_width_is_refused_whatever_the_block_s_total(
    data: bytes, rows: int, read: bool
) -> None:
    assert (_frame(data, rows, b";", True, 3, [0, 1]) is not None) is read


GOOD, LONG, SHORT = "A{:03d};lb;oo", "A{:03d};l;o;x", "A{:03d};lbbbb"  # the same length: same blocks


def _lines_file(path: Path, bad: dict[int, str]) -> None:
    """``code;label;other`` and 40 rows of equal length, row ``n`` (1-based) written as ``bad[n]``."""
    rows = [bad.get(n, GOOD).format(n) for n in range(1, 41)]
    path.write_text("code;label;other\n" + "".join(f"{row}\n" for row in rows))


@pytest.mark.parametrize(
    ("bad", "first"),
    [
        ({22: LONG}, 22),
        ({22: SHORT}, 22),
        ({22: LONG, 23: SHORT}, 22),
        ({22: SHORT, 23: LONG}, 22),
        ({16: LONG, 17: SHORT}, 16),  # the last row of a block and the first of the next
        ({17: SHORT, 24: LONG}, 17),  # two blocks, each off by one field the other way
    ],
    ids=["too-many", "too-few", "both-in-a-block", "short-then-long", "across-a-boundary", "two-blocks"],
)
def test_a_file_with_lines_of_another_width_is_the_csv_module_error(
    bad: dict[int, str], first: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The columnar engine stops with the row engine's error (file, line, fields), after mapping
    the blocks before the bad line with polars."""
    monkeypatch.setattr(mapping_module, "BATCH_ROWS", 4)
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 100)  # 9 rows of 11 bytes read: blocks of 8
    _lines_file(tmp_path / "good.csv", {})
    starts = [b.first for b in read_blocks(tmp_path / "good.csv", {"delimiter": "semicolon"}, 3, [0, 1], 4)]
    assert starts[:4] == [2, 10, 18, 26], "rows 16 and 17 (lines 17 and 18) straddle a block boundary"
    _lines_file(tmp_path / "in.csv", bad)
    (tmp_path / "m.rq").write_text(MAPPING_TEXT)
    runs = Runs(monkeypatch)
    columnar, rows = _engines([Mapping.load(tmp_path / "m.rq")], tmp_path / "in.csv", {}, monkeypatch)
    fields = len(bad[first].format(first).split(";"))
    assert columnar == rows == (
        "error",
        f"{tmp_path / 'in.csv'}, line {first + 1}: {fields} fields where the header has 3 (delimiter ';')",
    )
    assert runs.frames > 0, "the blocks before the bad line were read by polars"
