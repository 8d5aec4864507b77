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

import logging
import os
import re
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import dropwhile, islice
from operator import itemgetter
from pathlib import Path
from typing import overload

import polars as pl
import pyoxigraph as ox

from kg.errors import SourceError
from kg.mapping_columnar import ColumnarPlan, compile_columnar, plain_bytes, stored_plan
from kg.mapping_columnar import clean_cell as _clean_cell
from kg.mapping_compile import CompiledMapping, RowUnsupported, Unsupported, compile_mapping
from kg.namespaces import PAS, sparql_prologue
from kg.regions import region_pattern
from kg.sources.csv_blocks import Block, Resume, read_blocks, readable
from kg.sources.csv_reader import delimiter_of, read_csv_cells, record_of
from kg.sources.records import Record, variable_name

_MARKER = f" <{PAS.sourceRow}> ".encode()
log = logging.getLogger(__name__)
# "columnar" (default): as "compiled", and a CSV source's mappings that compile to column
# expressions run a few batches at a time through polars (kg.mapping_columnar), a batch a guard
# refuses through the compiled Python; "compiled": mappings the compiler translates run as Python
# (kg.mapping_compile), the others through SPARQL evaluation; "sparql": every mapping through
# SPARQL evaluation.
ENGINE_VARIABLE = "PASSERELLES_MAPPING_ENGINE"
ENGINES = ("columnar", "compiled", "sparql")
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
        return self.applies_to(values.get(self.column))

    def applies_to(self, value: str | None) -> bool:
        """Whether the rule skips a row whose cell in the rule's column is ``value``."""
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


class EntityMarks:
    """Which records marked which entity (``?entity pas:sourceRow ?_row``), kept compact: while
    a source is mapped, each distinct (entity, record) pair is two 8-byte integers — the
    entity's hash and the record number — instead of a string key and a set per entity, so that
    memory barely grows with the file. Read like a ``dict[str, set[int]]`` (``get``, ``in``,
    ``len``, ``values``) once mapping is done (an index is then built on first use). Entities
    are told apart by their 64-bit string hash (a collision among a million entities has a
    chance of about 1e-7 and would only merge their record sets).

    >>> marks = EntityMarks(); marks.add([("<a>", 1), ("<a>", 2), ("<b>", 2)])
    >>> len(marks), marks.get("<a>"), "<b>" in marks, "<c>" in marks, marks.get("<c>", set())
    (2, {1, 2}, True, False, set())
    """

    def __init__(self) -> None:
        self._hashes = array("q")
        self._numbers = array("q")
        self._index: dict[int, set[int]] | None = None

    def add(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Record (entity in N-Triples, record number) pairs."""
        columns = tuple(zip(*pairs, strict=True))  # C loops: a batch's pairs run to thousands
        if columns:
            self._hashes.extend(map(hash, columns[0]))
            self._numbers.extend(columns[1])
        self._index = None

    def extend(self, entities: list[str], numbers: list[int]) -> None:
        """Record the pairs ``zip(entities, numbers)`` (C loops: no tuple per pair).

        >>> marks = EntityMarks(); marks.extend(["<a>", "<b>"], [1, 2]); marks.get("<b>")
        {2}
        """
        self._hashes.extend(map(hash, entities))
        self._numbers.extend(numbers)
        self._index = None

    def _indexed(self) -> dict[int, set[int]]:
        if self._index is None:
            index: dict[int, set[int]] = {}
            for key, number in zip(self._hashes, self._numbers, strict=True):
                index.setdefault(key, set()).add(number)
            self._index = index
        return self._index

    @overload
    def get(self, entity: str) -> set[int] | None: ...
    @overload
    def get(self, entity: str, default: set[int]) -> set[int]: ...
    def get(self, entity: str, default: set[int] | None = None) -> set[int] | None:
        return self._indexed().get(hash(entity), default)

    def __contains__(self, entity: object) -> bool:
        return hash(entity) in self._indexed()

    def __len__(self) -> int:
        return len(self._indexed())

    def values(self) -> Iterable[set[int]]:
        return self._indexed().values()


@dataclass
class MappingStats:
    """What a mapping run saw: records by fate, and where its time went."""

    records: set[int] = field(default_factory=set)
    skipped: dict[int, str] = field(default_factory=dict)
    # entity (N-Triples) -> records; a dict is accepted too (tests build stats by hand)
    entities: EntityMarks | dict[str, set[int]] = field(default_factory=EntityMarks)
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


_SPECIAL = re.compile(r'[\\"\n\r]')


def _row(record: Record, cols: list[str]) -> str:
    r"""One row of the VALUES block (as :func:`_term` per cell, without a call per cell: this
    runs once per cell of the source).

    >>> _row(Record(7, {"a": 'say "hi"', "b": None}), ["a", "b", "c"])
    '(7 "say \\"hi\\"" UNDEF UNDEF)'
    """
    get = record.values.get
    cells = [get(c) for c in cols]
    text = " ".join(
        "UNDEF" if v is None else f'"{v.translate(_ESCAPES)}"' if _SPECIAL.search(v) else f'"{v}"'
        for v in cells
    )
    return f"({record.number} {text})"


class MappingRunner:
    """Runs one mapping over records, batch by batch, yielding triples."""

    def __init__(
        self,
        mapping: Mapping,
        base_iri: str,
        batch_rows: int = BATCH_ROWS,
        options: dict[str, str] | None = None,
        engine: str | None = None,
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
        self._base_iri = base_iri
        engine = engine or os.environ.get(ENGINE_VARIABLE) or "columnar"
        self.columnar = engine == "columnar"
        if engine not in ENGINES:
            raise SourceError(
                mapping.path, None, None, f"unknown mapping engine {engine!r} ({ENGINE_VARIABLE})"
            )
        self._engine = engine

    @cached_property
    def compiled(self) -> CompiledMapping | None:
        """The mapping compiled to Python (:mod:`kg.mapping_compile`), or None (SPARQL
        evaluation). Compiled when first asked for: a CSV map whose columnar plan was kept on
        disk (:meth:`columnar_plan`) needs it only for a batch a guard refuses or for the rows
        the ``csv`` module reads after a hand-over (a quote, a ragged line)."""
        if self._engine not in ("compiled", "columnar"):
            return None
        try:
            return compile_mapping(self.mapping, self._base_iri)
        except Unsupported as exc:
            log.info("mapping %s: SPARQL evaluation (not compiled: %s)", self.mapping.path.name, exc)
            return None

    def _values(self, batch: list[Record]) -> str:
        # Columns present in any record of the batch: JSON records do not all share their keys.
        present: set[str] = set()
        for record in batch:
            present.update(record.values)
        cols = sorted(present & self._used)
        rows = "\n".join(_row(r, cols) for r in batch)
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
        if self.compiled is not None:
            try:
                return self._run_compiled(self.compiled, batch, stats)
            except RowUnsupported as exc:
                log.info("mapping %s: a batch through SPARQL evaluation (%s)", self.mapping.path.name, exc)
        return self._run_sparql(batch, stats)

    def _run_compiled(self, compiled: CompiledMapping, batch: list[Record], stats: MappingStats) -> bytes:
        started = time.perf_counter()
        lines, marks = compiled.run(batch)
        pairs = set(marks)
        self._account(batch, stats, set(map(itemgetter(1), pairs)), pairs)
        stats.triples += len(lines)
        stats.map_s += time.perf_counter() - started
        return "".join(lines).encode()

    def _account(
        self, batch: list[Record], stats: MappingStats, marked: set[int], pairs: set[tuple[str, int]]
    ) -> None:
        _add_marks(stats, pairs)
        for record in batch:
            if record.number not in marked:
                stats.unmapped.setdefault(record.number, record.values)

    def run_cells(self, names: list[str], rows: list[tuple[int, list[str]]], stats: MappingStats) -> bytes:
        """The N-Triples of a batch of CSV rows, (record number, raw cells) under the header
        ``names``, through the compiled mapping (the caller applied the skip rules): the same
        output and ``stats`` as :meth:`_run_batch` on the records the CSV reader gives for them.
        A batch the compiled code cannot map goes through SPARQL evaluation as records."""
        compiled = self.compiled
        if compiled is None:  # a plan kept on disk is only ever made for a mapping that compiles
            return self._run_sparql([record_of(names, n, cells) for n, cells in rows], stats)
        started = time.perf_counter()
        try:
            lines, marks = compiled.run_cells(names, rows)
        except RowUnsupported as exc:
            log.info("mapping %s: a batch through SPARQL evaluation (%s)", self.mapping.path.name, exc)
            return self._run_sparql([record_of(names, n, cells) for n, cells in rows], stats)
        pairs = set(marks)
        _add_marks(stats, pairs)
        marked = {number for _, number in pairs}
        for number, cells in rows:
            if number not in marked:  # kept whole, as the reader gives it, for the quarantine
                stats.unmapped.setdefault(number, record_of(names, number, cells).values)
        stats.triples += len(lines)
        stats.map_s += time.perf_counter() - started
        return "".join(lines).encode()

    def columnar_plan(self, names: list[str]) -> ColumnarPlan | None:
        """The mapping compiled to column expressions for a CSV header, or None (not the
        columnar engine, not compiled to Python, or a construct the columnar compiler does not
        translate). Kept on disk between processes (:func:`kg.mapping_columnar.stored_plan`):
        then neither the plan nor the Python of the row engine is compiled."""
        if not self.columnar:
            return None
        return stored_plan(self.mapping.query, self._base_iri, names, lambda: self._plan(names))

    def _plan(self, names: list[str]) -> ColumnarPlan | None:
        if self.compiled is None:
            return None
        present = frozenset(self.compiled.columns & set(names))
        try:
            return compile_columnar(self.mapping.query, self._base_iri, present)
        except Unsupported as exc:
            log.info("mapping %s: compiled Python (not columnar: %s)", self.mapping.path.name, exc)
            return None

    def run_frame(
        self,
        names: list[str],
        plan: ColumnarPlan,
        frame: pl.DataFrame,
        cells: Callable[[], list[list[str]]],
        stats: MappingStats,
        plain: bool = False,
        ascii: bool = False,
    ) -> Iterator[bytes]:
        """N-Triples of the rows of a frame of :func:`kg.mapping_columnar.columns` (the rows no
        skip rule applies to, ``_i`` their position in ``cells()``, every row's raw cells,
        called only when needed), mapped by ``plan``: the same output and ``stats`` as
        :meth:`run_cells` batch by batch (``_b``; each batch deduplicated on its own); a batch a
        guard refuses goes through :meth:`run_cells`. ``plain``, ``ascii``: see
        :meth:`kg.mapping_columnar.ColumnarPlan.run`."""
        started = time.perf_counter()
        out = plan.run(frame, keep_lines=False, plain=plain, ascii=ascii)
        if isinstance(stats.entities, EntityMarks):
            for entities, numbers in out.mark_columns:
                stats.entities.extend(entities, numbers)
        else:
            _add_marks(stats, out.marks)
        every: list[list[str]] | None = None
        if out.unmarked:
            every = cells()
            numbers = frame["_n"].to_list()
            positions = frame["_i"].to_list()
            number_of = dict(zip(positions, numbers, strict=True))
            for position in out.unmarked:  # kept whole, as the reader gives it, for the quarantine
                number = number_of[position]
                stats.unmapped.setdefault(number, record_of(names, number, every[position]).values)
        stats.triples += out.counts
        stats.map_s += time.perf_counter() - started
        yield from out.chunks()
        for batch in out.fallback:
            log.info("mapping %s: a batch through compiled Python (a guard)", self.mapping.path.name)
            every = every if every is not None else cells()
            rows = frame.filter(pl.col("_b") == batch).select("_n", "_i").rows()
            yield self.run_cells(names, [(number, every[position]) for number, position in rows], stats)

    def _run_sparql(self, batch: list[Record], stats: MappingStats) -> bytes:
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
        pairs: set[tuple[str, int]] = set()  # a course is marked by each of its sessions and codes
        for line in data.splitlines(keepends=True):
            if _MARKER in line:
                subject, _, rest = line.partition(b" ")
                number = int(rest.split(b'"', 2)[1])
                marked.add(number)
                pairs.add((subject.decode(), number))
            else:
                kept.append(line)
        self._account(batch, stats, marked, pairs)
        stats.triples += len(kept)
        stats.map_s += time.perf_counter() - started
        return b"".join(kept)


def _add_marks(stats: MappingStats, pairs: Iterable[tuple[str, int]]) -> None:
    entities = stats.entities
    if isinstance(entities, EntityMarks):
        entities.add(pairs)
    else:
        for subject_text, number in pairs:
            entities.setdefault(subject_text, set()).add(number)


# A mapping and the step its reader options apply to each record after the shared parse.
Job = tuple[MappingRunner, Callable[[Record], list[Record]] | None]


def run_shared(
    jobs: Sequence[Job],
    records: Iterable[Record],
    stats: MappingStats,
) -> Iterator[bytes]:
    """Several mappings over one read of a file: each record goes, through the job's own step
    (see :func:`kg.sources.records.split_read_options`), to every job's batch; a full batch is
    run at once. Same output and ``stats`` as running each job over its own read, in another
    order of the N-Triples chunks."""
    batches: list[list[Record]] = [[] for _ in jobs]
    iterator = iter(records)
    clock = time.perf_counter
    while True:
        started = clock()
        record = next(iterator, None)
        if record is None:
            stats.read_s += clock() - started
            break
        for index, (runner, step) in enumerate(jobs):
            batch = batches[index]
            skip = runner._skip  # the header's rules and the region filter of the options
            for item in step(record) if step is not None else (record,):
                stats.records.add(item.number)
                rule = next((r for r in skip if r.applies(item.values)), None) if skip else None
                if rule is not None:
                    stats.skipped.setdefault(item.number, rule.reason)
                else:
                    batch.append(item)
        stats.read_s += clock() - started
        for index, (runner, _) in enumerate(jobs):
            if len(batches[index]) >= runner.batch_rows:
                yield runner._run_batch(batches[index], stats)
                batches[index] = []
    for (runner, _), batch in zip(jobs, batches, strict=True):
        if batch:
            yield runner._run_batch(batch, stats)


def map_source_file(
    path: Path,
    mappings: Sequence[Mapping],
    options: dict[str, str],
    base_iri: str,
    stats: MappingStats,
) -> Iterator[bytes]:
    """N-Triples chunks of every mapping of a source over its file (``options``: the manifest's,
    over each header's), reading the file once for all mappings whose parse options agree.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "in.csv").write_text("code,label\\nA1101,Conduite\\n")
    >>> for name, p in (("a", "code"), ("b", "label")):
    ...     _ = (d / f"{name}.rq").write_text(f'#+ format: csv\\nCONSTRUCT {{ <x:o> <x:{p}> ?{p} }} '
    ...         'WHERE { }')
    >>> stats, both = MappingStats(), [Mapping.load(d / "a.rq"), Mapping.load(d / "b.rq")]
    >>> chunks = map_source_file(d / "in.csv", both, {}, "https://x.org/", stats)
    >>> sorted(b"".join(chunks).decode().splitlines()), stats.records
    (['<x:o> <x:code> "A1101" .', '<x:o> <x:label> "Conduite" .'], {2})
    """
    from kg.sources.records import read_records, split_read_options

    groups: dict[str, tuple[str, dict[str, str], list[Job]]] = {}
    for mapping in mappings:
        parse, step = split_read_options(mapping.format, {**mapping.options, **options})
        key = repr((mapping.format, sorted(parse.items())))
        groups.setdefault(key, (mapping.format, parse, []))[2].append(
            (MappingRunner(mapping, base_iri, options=options), step)
        )
    for fmt, parse, jobs in groups.values():
        table = None
        if _columnar_path(fmt, parse, jobs) and path.is_file():
            # The header first, then the plans: plans kept on disk spare compiling the row
            # engine, which only a batch a guard refuses then needs (MappingRunner.compiled).
            table = read_csv_cells(path, parse)
            plans = [runner.columnar_plan(table[0]) for runner, _ in jobs]
            if all(plan is not None for plan in plans):
                yield from run_csv_columnar(path, parse, jobs, [p for p in plans if p], table, stats)
                continue
        if _cells_path(fmt, parse, jobs):
            if not path.is_file():
                raise SourceError(path, None, None, "file not found")
            yield from run_csv_cells(jobs, table or read_csv_cells(path, parse), stats)
        elif (parse.get("format") or fmt) == "lheo" and "keep" not in parse:
            yield from _run_lheo(path, parse, jobs, stats)
        else:
            if table is not None:
                table[1].close()  # type: ignore[attr-defined]  # the header's read: a generator
            yield from run_shared(jobs, read_records(path, fmt, parse), stats)


def _columnar_path(fmt: str, parse: dict[str, str], jobs: Sequence[Job]) -> bool:
    """Whether a group may read a CSV file in polars blocks (:func:`run_csv_columnar`): raw
    cells (no ``explode``), a file polars can read (:func:`kg.sources.csv_blocks.readable`) and
    the columnar engine; it does when every mapping has a columnar plan for the header."""
    return (
        (parse.get("format") or fmt) == "csv"
        and not parse.get("explode")
        and readable(parse)
        and all(runner.columnar for runner, _ in jobs)
    )


def _run_lheo(path: Path, parse: dict[str, str], jobs: list[Job], stats: MappingStats) -> Iterator[bytes]:
    """:func:`run_shared` over an LHEO read that fills only the columns the jobs read (the
    reader then leaves the other elements unread); the records no mapping used are read again
    whole, as the quarantine report keeps them."""
    from kg.sources.lheo_reader import Exploder, whole_records
    from kg.sources.records import read_records

    columns: set[str] = set()
    steps: list[Exploder | None] = []
    for runner, step in jobs:
        columns |= runner._used | {rule.column for rule in runner._skip}
        if step is not None and not isinstance(step, Exploder):
            yield from run_shared(jobs, read_records(path, "lheo", parse), stats)  # not a known step
            return
        steps.append(step)
        columns |= set(step.columns) if step is not None else set()
    kept = {**parse, "keep": " ".join(sorted(c for c in columns if not c.startswith("_")))}  # not ?_row
    before = set(stats.unmapped)
    yield from run_shared(jobs, read_records(path, "lheo", kept), stats)
    found = {n: values for n, values in stats.unmapped.items() if n not in before}
    if found:
        stats.unmapped.update(whole_records(path, kept, steps, found))


def _cells_path(fmt: str, parse: dict[str, str], jobs: Sequence[Job]) -> bool:
    """Whether a group reads a CSV file that its compiled mappings can take row by row as raw
    cells (no ``explode``: it makes several records of one row)."""
    return (
        (parse.get("format") or fmt) == "csv"
        and not parse.get("explode")
        and all(runner.compiled is not None for runner, _ in jobs)
    )


def _skip_positions(
    names: list[str], jobs: Sequence[Job]
) -> tuple[dict[str, int], list[list[tuple[int | None, SkipRule]]]]:
    """The position of each column of a CSV header (the last one wins, as in a dict) and, per job,
    its skip rules with the position of the column each reads (None: not in the header)."""
    index = {name: position for position, name in enumerate(names)}
    return index, [[(index.get(rule.column), rule) for rule in runner._skip] for runner, _ in jobs]


def run_csv_cells(
    jobs: Sequence[Job],
    table: tuple[list[str], Iterator[tuple[int, list[str]]]],
    stats: MappingStats,
) -> Iterator[bytes]:
    """Compiled mappings over the rows of one read of a CSV file (:func:`read_csv_cells`), a
    batch of rows at a time: the cells a mapping or a skip rule reads are stripped by position,
    the others never are (SIRENE has 53 columns, its mapping reads 15), and no dict is made per
    row. Same output and ``stats`` as :func:`run_shared` over the records of :func:`read_csv`."""
    names, rows = table
    _, skips = _skip_positions(names, jobs)
    clock = time.perf_counter
    while True:
        started = clock()
        batch = list(islice(rows, BATCH_ROWS))
        stats.read_s += clock() - started
        if not batch:
            return
        stats.records.update([number for number, _ in batch])
        for (runner, _), rules in zip(jobs, skips, strict=True):
            kept = _kept(batch, rules, stats) if rules else batch
            if kept:
                yield runner.run_cells(names, kept, stats)


def run_csv_columnar(
    path: Path,
    parse: dict[str, str],
    jobs: Sequence[Job],
    plans: Sequence[ColumnarPlan],
    table: tuple[list[str], Iterator[tuple[int, list[str]]]],
    stats: MappingStats,
) -> Iterator[bytes]:
    """Mappings compiled to column expressions (``plans``, one per job) over a CSV file read in
    blocks by polars (:func:`kg.sources.csv_blocks.read_blocks`): skip rules and mappings over
    whole columns. Where the blocks reader hands over, the rest of the file goes through
    :func:`run_csv_cells` (Python's ``csv`` and the compiled Python). Same output and ``stats``
    as :func:`run_csv_cells` over the whole file."""
    names, _ = table  # the header, read and checked by the csv module
    index, skips = _skip_positions(names, jobs)
    wanted = {index[name] for plan in plans for name in plan.present}
    wanted |= {position for rules in skips for position, _ in rules if position is not None}
    delimiter = delimiter_of(parse)
    clock = time.perf_counter
    seen = 0  # rows read so far: batch numbers as the row engine's (BATCH_ROWS rows each)
    blocks = read_blocks(path, parse, len(names), sorted(wanted), BATCH_ROWS)
    while True:
        started = clock()
        block = next(blocks, None)
        stats.read_s += clock() - started
        if block is None:
            return
        if isinstance(block, Resume):
            # The csv module reads the file again from its start (its own read of the header,
            # not yet used) and the rows polars read are passed over: the same decoding chunks,
            # hence the same errors and line numbers, as if it had read the whole file.
            done = block.line

            def read(row: tuple[int, list[str]], done: int = done) -> bool:
                return row[0] <= done

            rest = dropwhile(read, table[1])
            yield from run_csv_cells(jobs, (names, rest), stats)
            return
        stats.records.update(range(block.first, block.first + block.rows))
        raw = block.frame
        frame = pl.DataFrame(
            {
                "_n": pl.int_range(block.first, block.first + block.rows, dtype=pl.Int64, eager=True),
                "_b": pl.int_range(seen, seen + block.rows, dtype=pl.Int64, eager=True) // BATCH_ROWS,
                "_i": pl.int_range(0, block.rows, dtype=pl.Int64, eager=True),
            }
        )
        seen += block.rows
        plain, ascii = plain_bytes(block.data), block.data.isascii()
        cached: list[list[list[str]]] = []

        def cells(block: Block = block, cached: list[list[list[str]]] = cached) -> list[list[str]]:
            if not cached:
                cached.append(block.cells(delimiter))
            return cached[0]

        for (runner, _), rules, plan in zip(jobs, skips, plans, strict=True):
            columns_ = frame.with_columns(
                [raw[f"p{index[name]}"].alias(f"c_{name}") for name in sorted(plan.present)]
            )
            kept = _kept_frame(columns_, raw, rules, stats) if rules else columns_
            if kept.height:
                yield from runner.run_frame(names, plan, kept, cells, stats, plain, ascii)


def _kept_frame(
    frame: pl.DataFrame,
    raw: pl.DataFrame,
    rules: list[tuple[int | None, SkipRule]],
    stats: MappingStats,
) -> pl.DataFrame:
    """The rows of a block no skip rule applies to (as :func:`_kept`); each rule is run once per
    distinct value of its column, by the rule itself (Python's regex)."""
    skipping: pl.Series | None = None  # the first rule that applies, per row (null: none)
    for order, (position, rule) in enumerate(rules):
        if position is None:
            applies = pl.Series([rule.applies_to(None)] * frame.height, dtype=pl.Boolean)
        elif rule.op == "empty":
            applies = raw.select(_clean_cell(pl.col(f"p{position}")).is_null())[:, 0]
        else:
            column = pl.col(f"p{position}")
            values = raw.select(_clean_cell(column).alias("v"))["v"]
            verdicts = {value: rule.applies_to(value) for value in values.unique().to_list()}
            applies = values.replace_strict(verdicts, default=False, return_dtype=pl.Boolean)
            if verdicts.get(None):
                applies = applies | values.is_null()
        ruled = applies.cast(pl.Int32) * 0 + order
        ruled = ruled.zip_with(applies, pl.Series([None] * frame.height, dtype=pl.Int32))
        skipping = ruled if skipping is None else skipping.fill_null(ruled)
    if skipping is None:
        return frame
    found = frame.select(pl.col("_n"), skipping.alias("rule")).drop_nulls("rule")
    skipped = stats.skipped
    reasons = [rule.reason for _, rule in rules]
    if len(reasons) == 1:
        reason = reasons[0]
        for number in found["_n"].to_list():
            skipped.setdefault(number, reason)
    else:
        for number, order in zip(found["_n"].to_list(), found["rule"].to_list(), strict=True):
            skipped.setdefault(number, reasons[order])
    return frame.filter(skipping.is_null())


def _kept(
    batch: list[tuple[int, list[str]]], rules: list[tuple[int | None, SkipRule]], stats: MappingStats
) -> list[tuple[int, list[str]]]:
    """The rows of a batch no skip rule applies to; the others are recorded as skipped. A rule's
    verdict is remembered per raw cell (a state or region column holds few distinct values)."""
    kept: list[tuple[int, list[str]]] = []
    skipped = stats.skipped
    if len(rules) == 1:  # the common case (a state filter, a region), without the inner loop
        (position, rule) = rules[0]
        seen: dict[str | None, bool] = {}
        applies, reason = rule.applies_to, rule.reason
        for row in batch:
            cell = None if position is None else row[1][position]
            verdict = seen.get(cell)
            if verdict is None:
                verdict = seen[cell] = applies(None if cell is None else (cell.strip() or None))
            if verdict:
                skipped.setdefault(row[0], reason)
            else:
                kept.append(row)
        return kept
    for row in batch:
        for position, rule in rules:
            value = None if position is None else (row[1][position].strip() or None)
            if rule.applies_to(value):
                skipped.setdefault(row[0], rule.reason)
                break
        else:
            kept.append(row)
    return kept


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
