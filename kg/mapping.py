"""Declarative mappings: one SPARQL CONSTRUCT per source, fed its rows as a ``VALUES`` block.

A mapping file (``mappings/*.rq``) starts with header comments, then a CONSTRUCT query::

    #+ summary: ROME 4.0 fiches (unix_referentiel_code_rome)
    #+ format: csv
    #+ options: delimiter=, encoding=utf-8
    #+ columns: code_rome libelle_rome code_rome_parent
    #+ skip: code_rome !~ ^[A-N]\\d{4}$ | not a ROME fiche code
    CONSTRUCT { ?occ a pas:Occupation ; pas:sourceRow ?_row . }
    WHERE { BIND(IRI(CONCAT(STR(id:), "rome/", ?code_rome)) AS ?occ) }

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
from pathlib import Path

import pyoxigraph as ox

from kg.errors import SourceError
from kg.namespaces import PAS, sparql_prologue
from kg.sources.records import Record, variable_name

SOURCE_ROW = ox.NamedNode(str(PAS.sourceRow))
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
        condition, _, reason = text.partition("|")
        parts = condition.split(None, 2)
        if len(parts) < 2 or parts[1] not in {"~", "!~", "empty"} or not reason.strip():
            raise ValueError(f"skip rule {text!r}: expected 'COLUMN ~|!~ REGEX | reason' or 'COLUMN empty | reason'")
        pattern = parts[2].strip() if len(parts) > 2 else ""
        return cls(variable_name(parts[0]), parts[1], pattern, reason.strip())

    def applies(self, values: dict[str, str | None]) -> bool:
        value = values.get(self.column)
        if self.op == "empty":
            return value is None
        matched = value is not None and re.search(self.pattern, value) is not None
        return matched if self.op == "~" else not matched


@dataclass
class Mapping:
    """A parsed mapping file."""

    path: Path
    query: str
    format: str
    options: dict[str, str]
    skip: list[SkipRule]
    summary: str = ""

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
        )

    def variables(self) -> set[str]:
        return set(_VAR.findall(self.query))


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


def _term(value: str | None) -> str:
    return "UNDEF" if value is None else str(ox.Literal(value))


class MappingRunner:
    """Runs one mapping over records, batch by batch, yielding triples."""

    def __init__(self, mapping: Mapping, base_iri: str, batch_rows: int = BATCH_ROWS) -> None:
        self.mapping = mapping
        self.batch_rows = batch_rows
        self._store = ox.Store()
        query = sparql_prologue(base_iri) + mapping.query
        cut = _WHERE.search(query)
        assert cut is not None
        self._head, self._tail = query[: cut.end()], query[cut.end():]
        self._columns: list[str] | None = None

    def _values(self, batch: list[Record]) -> str:
        if self._columns is None:
            used = self.mapping.variables()
            self._columns = sorted(c for c in batch[0].values if c in used)
        cols = self._columns
        rows = "\n".join(
            f"({r.number} {' '.join(_term(r.values.get(c)) for c in cols)})" for r in batch
        )
        names = " ".join(f"?{c}" for c in cols)
        return f"\nVALUES (?_row {names}) {{\n{rows}\n}}\n"

    def run(self, records: Iterable[Record], stats: MappingStats) -> Iterator[ox.Triple]:
        """Triples for ``records``; fills ``stats`` (record numbers, skips, entity markers)."""
        batch: list[Record] = []
        iterator = iter(records)
        while True:
            started = time.perf_counter()
            record = next(iterator, None)
            stats.read_s += time.perf_counter() - started
            if record is not None:
                stats.records.add(record.number)
                rule = next((r for r in self.mapping.skip if r.applies(record.values)), None)
                if rule is not None:
                    stats.skipped.setdefault(record.number, rule.reason)
                else:
                    batch.append(record)
            if batch and (record is None or len(batch) >= self.batch_rows):
                yield from self._run_batch(batch, stats)
                batch = []
            if record is None:
                return

    def _run_batch(self, batch: list[Record], stats: MappingStats) -> Iterator[ox.Triple]:
        started = time.perf_counter()
        query = self._head + self._values(batch) + self._tail
        try:
            triples = list(self._store.query(query))
        except SyntaxError as exc:
            raise SourceError(self.mapping.path, None, None, f"mapping query does not parse: {exc}") from None
        out = []
        marked: set[int] = set()
        for triple in triples:
            if triple.predicate == SOURCE_ROW:
                assert isinstance(triple.object, ox.Literal)
                number = int(triple.object.value)
                marked.add(number)
                stats.entities.setdefault(str(triple.subject), set()).add(number)
            else:
                out.append(triple)
        for record in batch:
            if record.number not in marked:
                stats.unmapped.setdefault(record.number, record.values)
        stats.triples += len(out)
        stats.map_s += time.perf_counter() - started
        return iter(out)


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
    return MappingRunner(mapping, base_iri).run(records, stats if stats is not None else MappingStats())
