"""The columnar engine (kg.mapping_columnar over kg.sources.csv_blocks) against the row engine
(compiled Python over the csv module) and SPARQL evaluation (the reference): every golden CSV
case, random rows and hostile inputs give the same N-Triples set, entity marks, skipped and
quarantined records (with every cell) and counts; files or batches the columnar engine must not
read or map (quotes, Latin-1, control characters, invalid IRI characters...) are handed over,
never mapped otherwise.
"""

from __future__ import annotations

import logging
import random
import tomllib
from pathlib import Path

import pytest

import kg.mapping as mapping_module
import kg.sources.csv_blocks as blocks_module
from kg.errors import SourceError
from kg.mapping import ENGINE_VARIABLE, Mapping, MappingRunner, MappingStats, map_source_file
from kg.mapping_columnar import ColumnarPlan, compile_columnar
from kg.mapping_compile import Unsupported, compile_mapping
from kg.sources.csv_blocks import Block, Resume, read_blocks
from kg.sources.csv_reader import delimiter_of, read_csv_cells
from tests.conftest import ROOT, TEST_BASE
from tests.test_mapping_cells import CSV_CASES, CSV_MAPPINGS, _outcome, _padded


def _columnar(path: Path) -> bool:
    mapping = Mapping.load(path)
    columns = compile_mapping(mapping, TEST_BASE).columns
    try:
        compile_columnar(mapping.query, TEST_BASE, frozenset(columns - {"unbound"}))
    except Unsupported:
        return False
    return True


COLUMNAR_MAPPINGS = [p for p in CSV_MAPPINGS if _columnar(p)]


class Runs:
    """How often the columnar engine mapped a frame, and how many batches its guards refused."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frames = 0
        self.refused = 0
        real = ColumnarPlan.run

        def run(plan: ColumnarPlan, *args: object, **kwargs: object) -> object:
            out = real(plan, *args, **kwargs)  # type: ignore[arg-type]
            self.frames += 1
            self.refused += len(out.fallback)
            return out

        monkeypatch.setattr(ColumnarPlan, "run", run)


def _map(
    mappings: list[Mapping], path: Path, options: dict[str, str], engine: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[object, ...]:
    monkeypatch.setenv(ENGINE_VARIABLE, engine)
    stats = MappingStats()
    try:
        data = b"".join(map_source_file(path, mappings, options, TEST_BASE, stats))
    except SourceError as exc:
        return ("error", str(exc))
    return _outcome(stats, data)


def _engines(
    mappings: list[Mapping],
    path: Path,
    options: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    sparql: bool = True,
) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The columnar and the row engines' outcomes (asserted equal to SPARQL evaluation's
    triples, marks and records when ``sparql``)."""
    columnar = _map(mappings, path, options, "columnar", monkeypatch)
    rows = _map(mappings, path, options, "compiled", monkeypatch)
    if sparql:
        reference = _map(mappings, path, options, "sparql", monkeypatch)
        assert columnar[:5] == reference[:5]
    return columnar, rows


@pytest.mark.parametrize("case", CSV_CASES, ids=[c.name for c in CSV_CASES])
def test_golden_case_same_through_columns_rows_and_sparql(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    mapping = Mapping.load(ROOT / "mappings" / spec["mapping"])
    runs = Runs(monkeypatch)
    columnar, rows = _engines([mapping], case / spec["input"], spec.get("options", {}), monkeypatch)
    assert columnar == rows
    if spec["mapping"].startswith(("sirene", "dgefp")):
        assert runs.frames > 0, "the supply mappings run as columns"


def test_the_supply_mappings_compile_to_columns() -> None:
    names = {p.stem for p in COLUMNAR_MAPPINGS}
    assert {"sirene-establishments", "dgefp-training-bodies"} <= names


def _plain(text: str, delimiter: str) -> str:
    """A cell the blocks reader takes (no quote, delimiter or line break: csv.writer would quote)."""
    return text.replace('"', "'").replace("\n", " ").replace("\r", " ").replace(delimiter, " ")


def _write(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    delimiter: str,
    encoding: str = "utf-8",
    skip: int = 0,
) -> None:
    import csv

    with path.open("w", encoding=encoding, newline="") as handle:
        handle.write("preamble\n" * skip)
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


@pytest.mark.parametrize("plain", [True, False], ids=["blocks", "quoted"])
@pytest.mark.parametrize("path", COLUMNAR_MAPPINGS, ids=lambda p: p.stem)
def test_random_rows_same_through_columns_and_rows(
    path: Path, plain: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random cells (the compiler tests' pool: control characters, non-BMP, Unicode spaces,
    backslashes...), small batches and blocks so that batches and blocks are many; ``blocks``:
    cells without quotes, so that polars reads the whole file."""
    monkeypatch.setattr(mapping_module, "BATCH_ROWS", 8)
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 1500)
    mapping = Mapping.load(path)
    if mapping.options.get("encoding", "utf-8-sig").lower() not in ("utf-8", "utf-8-sig", "utf8"):
        pytest.skip("not a UTF-8 source: the blocks reader never reads it (tested below)")
    columns = sorted(compile_mapping(mapping, TEST_BASE).columns - {"unbound"})  # ?unbound: never a column
    columns += [c for c in mapping.options.get("columns", "").split() if c not in columns]
    header = ["unused_before", *columns, "unused_after"]
    rng = random.Random(f"{path.stem}-{plain}")
    delimiter = delimiter_of(mapping.options)
    rows = [[_padded(rng) for _ in header] for _ in range(160)]
    if plain or mapping.options.get("quoting") == "none":
        rows = [[_plain(c, delimiter) for c in row] for row in rows]
    _write(tmp_path / "rows.csv", header, rows, delimiter, skip=int(mapping.options.get("skip_lines", "0")))
    runs = Runs(monkeypatch)
    columnar, rows_outcome = _engines([mapping], tmp_path / "rows.csv", {}, monkeypatch, sparql=False)
    assert columnar[0] == rows_outcome[0], sorted(set(columnar[0]) ^ set(rows_outcome[0]))[:6]  # type: ignore[call-overload]
    assert columnar == rows_outcome
    if plain and len(columnar[3]) < len(columnar[2]):  # type: ignore[arg-type]  # rows not all skipped
        assert runs.frames > 0


SIRENE = ROOT / "mappings" / "sirene-establishments.rq"
DGEFP = ROOT / "mappings" / "dgefp-training-bodies.rq"
SIRENE_ROW = {
    "siren": "552100554",
    "siret": "55210055400013",
    "statutDiffusionEtablissement": "O",
    "trancheEffectifsEtablissement": "12",
    "numeroVoieEtablissement": "12",
    "indiceRepetitionEtablissement": "",
    "typeVoieEtablissement": "RUE",
    "libelleVoieEtablissement": "DE LA REPUBLIQUE",
    "codePostalEtablissement": "14000",
    "libelleCommuneEtablissement": "CAEN",
    "codeCommuneEtablissement": "14118",
    "etatAdministratifEtablissement": "A",
    "enseigne1Etablissement": "",
    "denominationUsuelleEtablissement": "Atelier du Port",
    "activitePrincipaleEtablissement": "43.21A",
    "nomenclatureActivitePrincipaleEtablissement": "NAFRev2",
}
DGEFP_ROW = {
    "numeroDeclarationActivite": "28140000114",
    "denomination": "Centre de formation de Caen",
    "siren": "",
    "siretEtablissementDeclarant": "55210055400013",
    "adressePhysiqueOrganismeFormation.voie": "3 rue des Lilas",
    "adressePhysiqueOrganismeFormation.codePostal": "14000",
    "adressePhysiqueOrganismeFormation.ville": "Caen",
    "adressePhysiqueOrganismeFormation.codeRegion": "28",
    "certifications.actionsDeFormation": "true",
    "certifications.bilansDeCompetences": "false",
    "certifications.VAE": "",
    "certifications.actionsDeFormationParApprentissage": "TRUE",
    "informationsDeclarees.nbStagiaires": "120",
    "informationsDeclarees.effectifFormateurs": "7",
}
# Values that each stress one rule: white space to strip or collapse (ASCII, Unicode, \x1c-\x1f
# that Python strips and Rust does not), control characters, quotes, backslashes, non-BMP
# characters, characters an IRI cannot hold, case mappings outside Latin, integers Python and
# Rust read differently, Paris/Lyon/Marseille arrondissement codes, a bad SIRET check digit.
HOSTILE = [
    "",
    " ",
    "\t",
    "  padded  ",
    "\xa0nbsp\xa0",
    "\u2003em\u3000space",
    "\x1cfile-sep\x1f",
    "ctrl\x01char",
    "del\x7f",
    "tab\tinside",
    'say "hi"',
    "back\\slash",
    "emoji 😀 𝄞",
    "a  b   c",
    " \t lead and trail \t ",
    "with space",
    "<angle>",
    "{brace}|pipe^`",
    "100%",
    "café",
    "İSTANBUL",
    "ΣΟΦΟΣ",
    "ß",
    "+0042",
    "-0",
    "00000000000000000001",
    "99999999999999999999",
    "١٢٣",
    "TRUE",
    " true ",
    "False",
    "0",
    "1",
    "75101",
    "69381",
    "13201",
    "P",
    "F",
    "NAFRev1",
    "55210055400012",
    "2A004",
]


def _hostile_rows(base: dict[str, str]) -> list[list[str]]:
    rows = [list(base.values())]
    for column in range(len(base)):
        for value in HOSTILE:
            row = list(base.values())
            row[column] = value
            rows.append(row)
    return rows


@pytest.mark.parametrize("quotes", [False, True], ids=["unquoted", "quoted"])
@pytest.mark.parametrize("source", ["sirene", "dgefp"])
def test_hostile_rows_same_through_columns_rows_and_sparql(
    source: str, quotes: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hostile value in each column, one row each; ``unquoted``: values holding a quote,
    delimiter or line break are dropped, so that the blocks reader reads every block and the
    guards must refuse batches; ``quoted``: csv.writer quotes them and the blocks reader hands the
    rest of the file over."""
    monkeypatch.setattr(mapping_module, "BATCH_ROWS", 16)
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 4096)
    mapping = Mapping.load(SIRENE if source == "sirene" else DGEFP)
    base = SIRENE_ROW if source == "sirene" else DGEFP_ROW
    delimiter = "," if source == "sirene" else ";"
    rows = _hostile_rows(base)
    quoted = [row for row in rows if any(c in cell for cell in row for c in f'"\n\r{delimiter}')]
    rows = [row for row in rows if row not in quoted] + (quoted if quotes else [])  # the quoted ones last
    _write(tmp_path / "in.csv", list(base), rows, delimiter)
    runs = Runs(monkeypatch)
    for options in ({}, {"region": "28"}):
        columnar, rows_outcome = _engines([mapping], tmp_path / "in.csv", options, monkeypatch)
        assert columnar == rows_outcome
    assert runs.frames > 0
    if not quotes:
        assert runs.refused > 0, "the guards refused the batches holding control characters or bad IRIs"


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8-sig", ""), ("utf-8", "\ufeff"), ("latin-1", "")],
    ids=["bom", "bom-cell", "latin-1"],
)
def test_bom_and_latin_1(encoding: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A UTF-8 file with a BOM (read by polars after the header), a BOM character in a cell, a
    Latin-1 file (never read by polars: the csv module decodes it)."""
    base = dict(DGEFP_ROW, denomination=prefix + "Société générale de formation")
    rows = [
        [cell.encode(encoding, "replace").decode(encoding) for cell in row] for row in _hostile_rows(base)
    ]
    rows = [row for row in rows if not any(c in cell for cell in row for c in '"\n\r;')]
    with (tmp_path / "in.csv").open("w", encoding=encoding, newline="") as handle:
        handle.write(";".join(base) + "\n")
        handle.writelines(";".join(row) + "\n" for row in rows)
    runs = Runs(monkeypatch)
    columnar, rows_outcome = _engines(
        [Mapping.load(DGEFP)], tmp_path / "in.csv", {"encoding": encoding}, monkeypatch
    )
    assert columnar == rows_outcome
    assert (runs.frames > 0) == (encoding != "latin-1")


CSV_TEXTS = {
    "crlf": "code;label\r\nA1;x\r\nB2;y\r\n",
    "no-final-newline": "code;label\nA1;x\nB2;y",
    "blank-lines": "code;label\nA1;x\n\nB2;y\n\n",
    "lone-cr": "code;label\nA1;x\rB2;y\n",
    "quoted-multiline": 'code;label\nA1;x\nB2;"y\nz"\nC3;w\n',
    "trailing-delimiter": "code;label\nA1;x;\nB2;y;\n",
    "trailing-header-delimiter": "code;label;\nA1;x;\nB2;y;\n",
    "ragged-short": "code;label\nA1;x\nB2\n",
    "ragged-long": "code;label\nA1;x\nB2;y;z\n",
    "nul": "code;label\nA1;x\x00\nB2;y\n",
    "unquoted-quote": 'code;label\nA1;x"y\nB2;y\n',
    "strict-quote-error": 'code;label\nA1;"x"y\nB2;y\n',
    "empty-body": "code;label\n",
    "spaces-only-line": "code;label\nA1;x\n   \nB2;y\n",
}
MAPPING_TEXT = (
    "#+ format: csv\n#+ options: delimiter=semicolon\n#+ skip: code ~ ^C | a C code\n"
    "CONSTRUCT { ?o a <x:T> ; <x:label> ?label ; pas:sourceRow ?_row } "
    'WHERE { BIND(IRI(CONCAT(STR(id:), "c/", ?code)) AS ?o) }'
)


@pytest.mark.parametrize("name", list(CSV_TEXTS))
def test_csv_shapes_read_alike(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Line ends, blank lines, quotes, ragged rows, NUL, a bad byte: the same records (numbers,
    cells), the same error (message, line) as the csv module, whichever reader reads them."""
    (tmp_path / "m.rq").write_text(MAPPING_TEXT)
    (tmp_path / "in.csv").write_bytes(CSV_TEXTS[name].encode())
    mapping = Mapping.load(tmp_path / "m.rq")
    columnar, rows = _engines([mapping], tmp_path / "in.csv", {}, monkeypatch)
    assert columnar == rows


def test_invalid_utf8_after_a_block_is_the_csv_module_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mapping_module, "BATCH_ROWS", 4)
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 4096)
    lines = [f"A{i};label {i}" for i in range(3000)]  # longer than the csv module's decoding chunks
    (tmp_path / "in.csv").write_bytes(("code;label\n" + "\n".join(lines) + "\n").encode() + b"Z9;caf\xe9\n")
    (tmp_path / "m.rq").write_text(MAPPING_TEXT)
    runs = Runs(monkeypatch)
    columnar, rows = _engines([Mapping.load(tmp_path / "m.rq")], tmp_path / "in.csv", {}, monkeypatch, False)
    assert columnar == rows and columnar[0] == "error" and "not decodable" in str(columnar[1])
    assert runs.frames > 0, "blocks before the bad byte were read by polars"


def test_blocks_hand_over_at_a_quote_with_the_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocks_module, "BLOCK_BYTES", 20)
    text = "code;label\n" + "".join(f"A{i};x\n" for i in range(10)) + 'B;"multi\nline"\nC;z\n'
    (tmp_path / "in.csv").write_text(text)
    _, expected = read_csv_cells(tmp_path / "in.csv", {"delimiter": "semicolon"})
    got: list[tuple[int, list[str]]] = []
    handed: list[Resume] = []
    for item in read_blocks(tmp_path / "in.csv", {"delimiter": "semicolon"}, 2, [0, 1], 4):
        if isinstance(item, Block):
            got += list(zip(range(item.first, item.first + item.rows), item.cells(";"), strict=True))
            assert [list(r) for r in item.frame.rows()] == item.cells(";")
        else:
            handed.append(item)
    assert handed == [Resume(len("code;label\n") + 8 * len("A0;x\n"), 9)]  # after two blocks of 4 rows
    rows = list(expected)
    assert got == rows[:8] and rows[-2:] == [(12, ["B", "multi\nline"]), (14, ["C", "z"])]


def test_a_mapping_the_columns_cannot_express_keeps_the_row_engine(tmp_path: Path) -> None:
    (tmp_path / "m.rq").write_text(
        "#+ format: csv\nCONSTRUCT { ?o <x:h> ?h } "
        'WHERE { BIND(IRI(CONCAT(STR(id:), "c/", ?code)) AS ?o) BIND(SHA1(?code) AS ?h) }'
    )
    runner = MappingRunner(Mapping.load(tmp_path / "m.rq"), TEST_BASE)
    assert runner.compiled is not None and runner.columnar_plan(["code"]) is None


def test_columnar_run_logs_its_refused_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "m.rq").write_text(MAPPING_TEXT)
    (tmp_path / "in.csv").write_text("code;label\nA1;x\nA 2;y\n")  # a space: no IRI
    monkeypatch.setenv(ENGINE_VARIABLE, "columnar")
    stats = MappingStats()
    with caplog.at_level(logging.INFO, logger="kg.mapping"):
        data = b"".join(
            map_source_file(tmp_path / "in.csv", [Mapping.load(tmp_path / "m.rq")], {}, TEST_BASE, stats)
        )
    assert "a guard" in caplog.text
    assert data.count(b"\n") == 2 and set(stats.unmapped) == {3}
