"""The compiled mapping path (kg/mapping_compile.py) against SPARQL evaluation by pyoxigraph.

Both paths must give the same triples, the same entity marks and the same unmapped records: on
every golden mapping case, and on random rows over every compiled mapping's columns (cells drawn
from values that exercise the mappings' regexes, casts and IRIs, plus random text).
"""

from __future__ import annotations

import random
import tomllib
from decimal import Decimal
from pathlib import Path

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.mapping import Mapping, MappingRunner, MappingStats, _term
from kg.mapping_compile import LangLit, Typed, Unsupported, compile_mapping, compile_query, nt
from kg.sources.records import Record, read_records
from tests.conftest import ROOT, TEST_BASE

MAPPINGS = sorted((ROOT / "mappings").glob("*.rq"))
CASES = sorted(p for p in (ROOT / "tests" / "golden" / "mappings").glob("*") if (p / "case.toml").is_file())
# Mappings the compiler leaves to SPARQL evaluation, and why (the build logs the same reason).
NOT_COMPILED = {"laposte-communes.rq": "ROUND", "vae-relays.rq": r"\S in a character class"}


def _both(
    mapping: Mapping, records: list[Record], skip_rules: bool = True
) -> tuple[tuple[object, ...], tuple[object, ...]]:
    out = []
    for engine in ("compiled", "sparql"):
        runner = MappingRunner(mapping, TEST_BASE, engine=engine)
        if engine == "compiled":
            assert runner.compiled is not None, mapping.path.name
        stats = MappingStats()
        # random rows (skip_rules False): the header's skip rules would leave most of them out
        data = b"".join(runner.run(iter(records), stats)) if skip_rules else runner._run_batch(records, stats)
        triples = {str(q.triple) for q in ox.parse(data, format=ox.RdfFormat.N_TRIPLES)}
        assert data.count(b"\n") == len(triples) == stats.triples  # deduplicated, as CONSTRUCT
        marks = {(entity, frozenset(numbers)) for entity, numbers in _marks(stats)}
        out.append((triples, marks, set(stats.unmapped), dict(stats.skipped)))
    return tuple(out[0]), tuple(out[1])


def _marks(stats: MappingStats) -> list[tuple[int, set[int]]]:
    entities = stats.entities
    assert not isinstance(entities, dict)
    return [(key, numbers) for key, numbers in entities._indexed().items()]


def test_every_mapping_compiles_or_says_why() -> None:
    for path in MAPPINGS:
        mapping = Mapping.load(path)
        if path.name in NOT_COMPILED:
            with pytest.raises(Unsupported, match=NOT_COMPILED[path.name].replace("\\", "\\\\")):
                compile_mapping(mapping, TEST_BASE)
        else:
            compile_mapping(mapping, TEST_BASE)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case_same_through_both_paths(case: Path) -> None:
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    mapping = Mapping.load(ROOT / "mappings" / spec["mapping"])
    if spec["mapping"] in NOT_COMPILED:
        pytest.skip(f"{spec['mapping']} runs through SPARQL evaluation only")
    options = {**mapping.options, **spec.get("options", {})}
    from kg.sources.records import split_read_options

    parse, step = split_read_options(mapping.format, options)
    records = [
        item
        for record in read_records(case / spec["input"], mapping.format, parse)
        for item in (step(record) if step else [record])
    ]
    compiled, evaluated = _both(mapping, records)
    assert compiled == evaluated


# Cells that exercise what the mappings test: codes, dates, numbers, booleans, HTML, separators,
# characters that IRIs or N-Triples must escape or refuse.
POOL = [
    "1",
    "007",
    "12",
    "2",
    "9",
    "10",
    "75056",
    "14118",
    "69381",
    "13201",
    "2A004",
    "97411",
    "20260115",
    "20261000",
    "20261341",
    "2026-01-15",
    "48.85",
    "-1.5",
    "1e3",
    ".5",
    "0049.5000",
    "-0.0",
    "12345678901234",
    "123456789",
    "A1101",
    "M1607",
    "RNCP474",
    "474",
    "RS12",
    "RS",
    "true",
    "false",
    "TRUE",
    "0",
    "P",
    "O",
    "A",
    "F",
    "NAFRev2",
    "NAFRev1",
    "62.01Z",
    "6201Z",
    "GA1",
    "1 - 31795",
    "Soudage - 22454",
    "x - 1234",
    "<p>Objectif &amp; <b>suite</b></p>",
    "  a  b ",
    "a|b",
    "a|b|c",
    "ligne\nsuite",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "é à ç",
    "#frag",
    "a b",
    "%zz",
    "%41",
    "x/y",
    "{x}",
    "\u00a0nbsp",
    "\x1fctl",
    "http://x.org/a",
    "Niveau 5 (BTS)",
    "5",
    "7 (Master)",
    "II",
    "N",
    "Oui",
    "Non",
    "oui",
    "21",
    "300",
    "https://example.org/a b",
    "L'école",
    "CAEN",
    "Caen 14000",
    "14000",
    "rue de la Paix",
    "3 bis",
    "B",
    "BIS",
    "AV",
    "123 - Libellé",
    "abc.def",
    "x" * 40,
    "Z" * 3,
    "\u2028sep",
    # white space the compiled REPLACE fast paths must leave to the regex
    "a\u3000b",
    "x  y",
    " lead",
    "trail ",
    "a\x85b",
    "mid\u202fspace",
]


def _cell(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.8:
        return rng.choice(POOL)
    if roll < 0.9:
        return rng.choice(POOL) + rng.choice(["", " ", "|", "-", "/", "\n"]) + rng.choice(POOL)
    alphabet = 'aZ09 -_.|/#%?é"\\\t<>&;:@{}\u00a0\u0085x'
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))).strip() or None


@pytest.mark.parametrize("path", [p for p in MAPPINGS if p.name not in NOT_COMPILED], ids=lambda p: p.stem)
def test_random_rows_same_through_both_paths(path: Path) -> None:
    mapping = Mapping.load(path)
    compiled = compile_mapping(mapping, TEST_BASE)
    columns = sorted(compiled.columns)
    rng = random.Random(path.stem)
    records = []
    for number in range(1, 121):
        values = {c: _cell(rng) for c in columns}
        if rng.random() < 0.5 and "session_position" in values:
            values["session_position"] = rng.choice(["1", "2"])
        records.append(Record(number, values))
    first, second = _both(mapping, records, skip_rules=False)
    assert first[0] == second[0], sorted(first[0] ^ second[0])[:6]
    assert first == second


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_literal_escaping_matches_pyoxigraph(text: str) -> None:
    assert nt(text) == str(ox.Literal(text))
    assert nt(LangLit(text, "fr")) == str(ox.Literal(text, language="fr"))


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        0,
        -12,
        Decimal("48.50"),
        Decimal("-0.0"),
        Typed("2026-01-15", "http://www.w3.org/2001/XMLSchema#date"),
    ],
)
def test_typed_values_match_pyoxigraph(value: object) -> None:
    store = ox.Store()
    expression = nt(value)
    result = store.query(f"CONSTRUCT {{ <x:s> <x:p> ?o }} WHERE {{ BIND({expression} AS ?o) }}")
    assert [str(t.object) for t in result] == [expression]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12))
def test_iri_validity_matches_pyoxigraph(text: str) -> None:
    literal = _term(text)
    query = (
        f'CONSTRUCT {{ <x:s> <x:p> ?o }} WHERE {{ BIND(IRI(CONCAT("https://x.org/id/", {literal})) AS ?o) }}'
    )
    expected = [str(t.object) for t in ox.Store().query(query)]
    lines, _ = compile_query(query, TEST_BASE).run([Record(1, {})])
    assert [line.split(" ", 2)[2].rsplit(" .", 1)[0] for line in lines] == expected


def test_compiled_rows_produce_triples() -> None:
    """The random-row comparison is not vacuous: the LHEO mapping's random rows give triples."""
    mapping = Mapping.load(ROOT / "mappings" / "lheo-offers.rq")
    records = [Record(n, {"action_numero": f"A{n}", "session_numero": f"S{n}"}) for n in range(5)]
    first, second = _both(mapping, records)
    assert len(first[0]) >= 15 and first == second
