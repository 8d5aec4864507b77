"""Declarative mappings: one SPARQL CONSTRUCT per source, fed its rows as a ``VALUES`` block.

A mapping file (``mappings/*.rq``) starts with header comments, then a CONSTRUCT query::

    #+ summary: ROME 4.0 fiches (unix_referentiel_code_rome)
    #+ format: csv
    #+ options: delimiter=, encoding=utf-8
    #+ columns: code_rome libelle_rome code_rome_parent
    #+ skip: code_rome !~ ^[A-N]\\d{4}$ | not a ROME fiche code
    CONSTRUCT { ?occ a pas:Occupation ; pas:sourceRow ?_row . }
    WHERE { BIND(IRI(CONCAT(STR(id:), "rome/", ?code_rome)) AS ?occ) }

``#+ region: COLUMN`` names the INSEE commune column of a national file, so that a build keeping
one region (``kg build --region 28``) skips the rows of other regions (see :mod:`kg.regions`).

The engine declares the standard prefixes (``id:`` and ``graph:`` under the configured base
IRI), injects the rows as ``VALUES`` right after the first ``WHERE {`` (one variable per column
the query uses, ``?_row`` the record number, empty cells ``UNDEF``), runs the query on an empty
store, and returns the triples. The triple ``?entity pas:sourceRow ?_row`` marks which entity
a record produced: it is kept out of the graph and used to reconcile counts and to trace
quarantined entities back to records.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox

from kg.errors import SourceError
from kg.namespaces import PAS, sparql_prologue
from kg.regions import region_pattern
from kg.sources.records import Record, variable_name

_MARKER = f" <{PAS.sourceRow}> ".encode()
BATCH_ROWS = 2000
_VAR = re.compile(r"[?$]([A-Za-z_][A-Za-z0-9_]*)")
_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)


@dataclass(frozen=True)
class SkipRule:
    """Rows a mapping leaves out on purpose, with the reason recorded in the build report.

    >>> rule = SkipRule.parse(r"code !~ ^[A-N]\\d{4}$ | not a fiche code")
    >>> rule.applies({"code": "A12"}), rule.applies({"code": "A1101"})
    (True, False)
    """

    column: str
    op: str
    pattern: str
    reason: str

    @classmethod
    def parse(cls, text: str) -> SkipRule:
        """``COLUMN ~|!~ REGEX | reason`` (the reason follows the last ``|``, so a regex may
        use alternation) or ``COLUMN empty | reason``."""
        condition, _, reason = text.rpartition("|")
        parts = condition.split(None, 2)
        if len(parts) < 2 or parts[1] not in {"~", "!~", "empty"} or not reason.strip():
            raise ValueError(
                f"skip rule {text!r}: expected 'COLUMN ~|!~ REGEX | reason' or 'COLUMN empty | reason'"
            )
        pattern = parts[2].strip() if len(parts) > 2 else ""
        return cls(variable_name(parts[0]), parts[1], pattern, reason.strip())

    def applies(self, values: dict[str, str | None]) -> bool:
        value = values.get(self.column)
        if self.op == "empty":
            return value is None
        matched = value is not None and _compiled(self.pattern).search(value) is not None
        return matched if self.op == "~" else not matched


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass
class Mapping:
    """A parsed mapping file."""

    path: Path
    query: str
    format: str
    options: dict[str, str]
    skip: list[SkipRule]
    summary: str = ""
    # ``#+ region: COLUMN [commune|region]``: the column a region filter reads, holding an INSEE
    # commune code (default) or a region code.
    region_column: str | None = None

    @classmethod
    def load(cls, path: Path) -> Mapping:
        """Parse a mapping file's header comments and query."""
        headers: dict[str, list[str]] = {}
        body: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"#\+\s*([\w-]+)\s*:\s*(.*)$", line)
            if match:
                headers.setdefault(match[1], []).append(match[2].strip())
            else:
                body.append(line)
        query = "\n".join(body)
        if not _WHERE.search(query):
            raise ValueError(f"{path}: the mapping needs a CONSTRUCT ... WHERE {{ ... }} query")
        options: dict[str, str] = {}
        for text in headers.get("options", []):
            for item in text.split():
                key, _, value = item.partition("=")
                options[key] = value
        if "columns" in headers:
            options["columns"] = " ".join(headers["columns"])
        return cls(
            path=path,
            query=query,
            format=(headers.get("format") or ["csv"])[0],
            options=options,
            skip=[SkipRule.parse(t) for t in headers.get("skip", [])],
            summary=" ".join(headers.get("summary", [])),
            region_column=headers["region"][0] if headers.get("region") else None,
        )

    def variables(self) -> set[str]:
        return set(_VAR.findall(self.query))

    def skip_rules(self, options: dict[str, str] | None = None) -> list[SkipRule]:
        """The header's skip rules, preceded by the region filter when ``options`` names a
        region (``region=28``) and the mapping declares its commune column (``#+ region:``).

        >>> m = Mapping(Path("m.rq"), "", "csv", {}, [], region_column="codeCommune")
        >>> [(r.pattern, r.reason) for r in m.skip_rules({"region": "28"})]
        [('^(14|27|50|61|76)[0-9]{3}$', 'outside region 28')]
        >>> m = Mapping(Path("m.rq"), "", "csv", {}, [], region_column="a.codeRegion region")
        >>> [(r.column, r.pattern) for r in m.skip_rules({"region": "28"})]
        [('a_codeRegion', '^28$')]
        >>> m.skip_rules({})
        []
        """
        region = (options or {}).get("region", "").strip()
        if not region or self.region_column is None:
            return list(self.skip)
        column, _, kind = self.region_column.partition(" ")
        try:
            pattern = region_pattern(region)
        except ValueError as exc:
            raise SourceError(self.path, None, "region", str(exc)) from None
        if kind.strip() == "region":
            pattern = f"^{re.escape(region)}$"
        elif kind.strip() not in ("", "commune"):
            raise SourceError(
                self.path,
                None,
                "region",
                f"'#+ region: {self.region_column}': kind must be commune or region",
            )
        rule = SkipRule(variable_name(column), "!~", pattern, f"outside region {region}")
        return [rule, *self.skip]


@dataclass
class MappingStats:
    """What a mapping run saw: records by fate, and where its time went."""

    records: set[int] = field(default_factory=set)
    skipped: dict[int, str] = field(default_factory=dict)
    entities: dict[str, set[int]] = field(default_factory=dict)  # entity (N-Triples) -> records
    unmapped: dict[int, dict[str, str | None]] = field(default_factory=dict)  # no entity marked
    triples: int = 0
    read_s: float = 0.0
    map_s: float = 0.0


# A SPARQL string literal must escape only the quote, the backslash and line breaks.
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def _term(value: str | None) -> str:
    r"""A cell as a SPARQL term for the VALUES block.

    >>> _term(None), _term('say "hi"')
    ('UNDEF', '"say \\"hi\\""')
    """
    return "UNDEF" if value is None else f'"{value.translate(_ESCAPES)}"'


class MappingRunner:
    """Runs one mapping over records, batch by batch, yielding triples."""

    def __init__(
        self,
        mapping: Mapping,
        base_iri: str,
        batch_rows: int = BATCH_ROWS,
        options: dict[str, str] | None = None,
    ) -> None:
        self.mapping = mapping
        self.batch_rows = batch_rows
        self._skip = mapping.skip_rules(options)
        self._store = ox.Store()
        query = sparql_prologue(base_iri) + mapping.query
        cut = _WHERE.search(query)
        assert cut is not None
        self._head, self._tail = query[: cut.end()], query[cut.end() :]
        self._used = mapping.variables()

    def _values(self, batch: list[Record]) -> str:
        # Columns present in any record of the batch: JSON records do not all share their keys.
        present: set[str] = set()
        for record in batch:
            present.update(record.values)
        cols = sorted(present & self._used)
        rows = "\n".join(f"({r.number} {' '.join(_term(r.values.get(c)) for c in cols)})" for r in batch)
        names = " ".join(f"?{c}" for c in cols)
        return f"\nVALUES (?_row {names}) {{\n{rows}\n}}\n"

    def run(self, records: Iterable[Record], stats: MappingStats) -> Iterator[bytes]:
        """N-Triples chunks for ``records`` (one per batch, markers removed); fills ``stats``
        (record numbers, skips, entity markers, records that produced nothing)."""
        batch: list[Record] = []
        iterator = iter(records)
        skip = self._skip
        while True:
            started = time.perf_counter()
            record = next(iterator, None)
            stats.read_s += time.perf_counter() - started
            if record is not None:
                stats.records.add(record.number)
                rule = next((r for r in skip if r.applies(record.values)), None) if skip else None
                if rule is not None:
                    stats.skipped.setdefault(record.number, rule.reason)
                else:
                    batch.append(record)
            if batch and (record is None or len(batch) >= self.batch_rows):
                yield self._run_batch(batch, stats)
                batch = []
            if record is None:
                return

    def triples(self, records: Iterable[Record], stats: MappingStats) -> Iterator[ox.Triple]:
        """The same output as :meth:`run`, as pyoxigraph triples."""
        for chunk in self.run(records, stats):
            for quad in ox.parse(chunk, format=ox.RdfFormat.N_TRIPLES):
                yield quad.triple

    def _run_batch(self, batch: list[Record], stats: MappingStats) -> bytes:
        started = time.perf_counter()
        query = self._head + self._values(batch) + self._tail
        try:
            result = self._store.query(query)
        except SyntaxError as exc:
            raise SourceError(self.mapping.path, None, None, f"mapping query does not parse: {exc}") from None
        assert isinstance(result, ox.QueryTriples)
        data = result.serialize(format=ox.RdfFormat.N_TRIPLES) or b""
        # Markers are split off as text: far cheaper than a Python object per triple.
        kept: list[bytes] = []
        marked: set[int] = set()
        entities = stats.entities
        for line in data.splitlines(keepends=True):
            if _MARKER in line:
                subject, _, rest = line.partition(b" ")
                number = int(rest.split(b'"', 2)[1])
                marked.add(number)
                entities.setdefault(subject.decode(), set()).add(number)
            else:
                kept.append(line)
        for record in batch:
            if record.number not in marked:
                stats.unmapped.setdefault(record.number, record.values)
        stats.triples += len(kept)
        stats.map_s += time.perf_counter() - started
        return b"".join(kept)


def map_file(
    mapping_path: Path,
    input_path: Path,
    base_iri: str,
    options: dict[str, str] | None = None,
    stats: MappingStats | None = None,
) -> Iterator[ox.Triple]:
    """Triples of one mapping over one file (the manifest's options override the header's).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "in.csv").write_text("code,label\\nA1101,Conduite\\n")
    >>> _ = (d / "m.rq").write_text('#+ format: csv\\nCONSTRUCT { ?o pas:code ?code } '
    ...     'WHERE { BIND(IRI(CONCAT(STR(id:), "rome/", ?code)) AS ?o) }')
    >>> [str(t) for t in map_file(d / "m.rq", d / "in.csv", "https://x.org/")]
    ['<https://x.org/id/rome/A1101> <https://w3id.org/passerelles/ontology#code> "A1101"']
    """
    from kg.sources.records import read_records

    mapping = Mapping.load(mapping_path)
    merged = {**mapping.options, **(options or {})}
    records = read_records(input_path, mapping.format, merged)
    runner = MappingRunner(mapping, base_iri, options=merged)
    return runner.triples(records, stats if stats is not None else MappingStats())
