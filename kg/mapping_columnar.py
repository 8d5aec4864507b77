"""Columnar execution of a compiled CSV mapping: a batch of rows at a time, as polars expressions.

The row engine (:mod:`kg.mapping_compile`) runs a few dozen Python bytecodes per triple and row;
this module compiles the same parsed query (the same :class:`kg.mapping_compile._Parser`) into
polars expressions over whole columns: ``IRI(CONCAT(...))`` is one ``concat_str`` over a column,
a ``REPLACE`` one ``str.replace_all`` (Rust's ``regex`` crate, the engine pyoxigraph itself
evaluates SPARQL regular expressions with), and one ``concat_str`` of every template line's
pieces makes each row's N-Triples text. The columns come from polars' CSV reader
(:mod:`kg.sources.csv_blocks`): Python does not touch a cell.

Exactness comes first: what a column expression cannot reproduce exactly is either refused when
the mapping is compiled (:class:`kg.mapping_compile.Unsupported`: the mapping keeps the row
engine), or checked per row by a *guard* — a boolean expression true when the columnar result of
that row is certainly the row engine's. A batch (the row engine's unit of
:data:`kg.mapping.BATCH_ROWS` rows) with one row failing a guard is mapped by the row engine
instead, whole: same lines, same deduplication, same marks and counts. Guards:

- an ``IRI(...)`` of a text: the text is an ``http(s)`` IRI whose path has only unreserved
  characters (``A-Z a-z 0-9 - . _ ~`` and ``/``), which RFC 3987 accepts whatever follows;
  anything else (spaces, ``<``, ``%``, non-ASCII letters) is for the row engine's IRI check;
- a literal written to the output: no control character (``\\x00-\\x1f``, ``\\x7f``), whose
  N-Triples escapes (``\\t``, ``\\u0001``...) are left to the row engine; ``"`` and ``\\`` are
  escaped here;
- ``LCASE``/``UCASE``: Latin text only (``U+0000-U+024F``), where Python's and Rust's case
  mappings agree;
- ``xsd:integer``: a text polars casts to an i64, or of at most 18 bytes (no overflow hidden).

What compiles (else :class:`Unsupported`): variables, constants, ``STR CONCAT IRI STRLANG STRLEN
LCASE UCASE STRSTARTS STRENDS CONTAINS SUBSTR`` (constant bounds) ``REGEX REPLACE`` (no flags)
``IF COALESCE BOUND``, the casts ``xsd:boolean xsd:integer xsd:string``, ``|| && !`` and
comparisons of like values — the subset the CSV mappings use. Values have a kind known when the
query is compiled (simple literal, language-tagged with a constant tag, IRI, boolean, integer,
or never bound); an expression whose kind depends on the row is refused.

>>> import tempfile
>>> from pathlib import Path
>>> p = Path(tempfile.mkdtemp()) / "m.rq"
>>> _ = p.write_text('CONSTRUCT { ?o pas:code ?code ; pas:sourceRow ?_row } '
...     'WHERE { BIND(IRI(CONCAT(STR(id:), "rome/", ?code)) AS ?o) }')
>>> from kg.mapping import Mapping
>>> plan = compile_columnar(Mapping.load(p).query, "https://x.org/", frozenset({"code"}))
>>> out = plan.run(columns({"code": [" A1101 ", "", "B 2"]}, [3, 4, 5], [0, 0, 1]))
>>> out.lines
['<https://x.org/id/rome/A1101> <https://w3id.org/passerelles/ontology#code> "A1101" .\\n']
>>> out.marks, out.unmarked, out.fallback
([('<https://x.org/id/rome/A1101>', 3)], [1], [1])
"""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from kg import mapping_compile, namespaces
from kg.mapping_compile import (
    _LANG_TAG,
    _RUNTIME_FUNCTIONS,
    _SOURCE_ROW,
    XSD,
    Iri,
    LangLit,
    Node,
    RowUnsupported,
    Unsupported,
    _Parser,
    _tokens,
    code_cache,
    keep_cached,
    nt,
)
from kg.namespaces import prefixes_for

# Python's str.strip() removes exactly the characters for which str.isspace() is true (Rust's
# White_Space lacks \x1c-\x1f): the CSV cells are stripped with this very set.
PY_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# An IRI certainly valid (RFC 3987) whatever the row: http(s), a host, unreserved path segments.
_SAFE_IRI = r"^https?://[A-Za-z0-9.\-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~\-]*)*$"
# What may follow a prefix that is already http(s)://host/ for the whole to match _SAFE_IRI.
_SAFE_PREFIX = r"https?://[A-Za-z0-9.\-]+(?::[0-9]+)?/[A-Za-z0-9._~/\-]*"
_SAFE_PATH = r"[A-Za-z0-9._~/\-]*"
_CONTROL = r"[\x00-\x1f\x7f]"
_NOT_LATIN = r"[^\x00-\u024f]"


@dataclass(frozen=True)
class _Col:
    """A compiled expression: its kind (``str``, ``lang``, ``iri``, ``bool``, ``int``, or
    ``none``: never bound), its polars expression (text for ``str``/``lang``/``iri``), whether
    it is never null, its language (``lang``), its value when constant, and a ``CONCAT``'s
    arguments."""

    kind: str
    expr: pl.Expr
    nonnull: bool = False
    lang: str | None = None
    const: Any = None
    is_const: bool = False
    parts: tuple[_Col, ...] = ()  # a CONCAT's arguments


_NONE = _Col("none", pl.lit(None, dtype=pl.String))
_TEXT_KINDS = ("str", "lang")
_POLARS_TYPES = {"str": pl.String, "lang": pl.String, "iri": pl.String, "bool": pl.Boolean, "int": pl.Int64}


class _Either(NamedTuple):
    """A piece of a row's text that is one of two constant texts (a boolean's N-Triples term):
    constant texts next to it can be merged into both."""

    test: pl.Expr
    yes: str
    no: str


Piece = str | pl.Expr | _Either


def _constant(value: Any) -> _Col:
    kind = type(value)
    if value is None:
        return _NONE
    if kind is str:
        return _Col("str", pl.lit(value, dtype=pl.String), True, const=value, is_const=True)
    if kind is Iri:
        return _Col("iri", pl.lit(str.__str__(value), dtype=pl.String), True, const=value, is_const=True)
    if kind is LangLit:
        return _Col("lang", pl.lit(value.text, dtype=pl.String), True, value.lang, value, True)
    if kind is bool:
        return _Col("bool", pl.lit(value, dtype=pl.Boolean), True, const=value, is_const=True)
    if kind is int:
        return _Col("int", pl.lit(value, dtype=pl.Int64), True, const=value, is_const=True)
    raise Unsupported(f"constant {value!r} ({kind.__name__}) in a columnar mapping")


def _null_of(col: _Col) -> pl.Expr:
    return pl.lit(None, dtype=_POLARS_TYPES.get(col.kind, pl.String))


@dataclass
class ColumnarOutput:
    """What :meth:`ColumnarPlan.run` gives: the N-Triples ``lines`` of the batches it mapped
    (deduplicated within each batch, as the row engine does), their count per batch in
    ``counts``, the (entity, record number) ``marks``, the row positions that marked no entity
    (``unmarked``), the ``fallback`` batches a guard sent back to the row engine, and the row
    texts: made (``texts``), or ``pending`` (a frame and its row expression) for :meth:`chunks`."""

    lines: list[str]
    mark_columns: list[tuple[list[str], list[int]]]  # per pas:sourceRow triple: entities, numbers
    unmarked: list[int]
    fallback: list[int]
    texts: pl.Series = field(default_factory=lambda: pl.Series("t", [], dtype=pl.String))  # by row
    counts: int = 0
    pending: tuple[pl.DataFrame, pl.Expr] | None = None  # the texts not yet made: a frame, its row text

    def chunks(self, rows: int = 2_000) -> Iterator[bytes]:
        """The N-Triples text, ``JOINED`` rows' each, made ``rows`` rows at a time: a DGEFP
        block's text is 35 MB, and making it a slice at a time (polars' text, then Python bytes)
        keeps the buffers small and reused, which costs less than the whole block's at once
        (memory, page faults). A chunk joins a few rows (~100 KB for DGEFP: below the size at
        which the allocator maps fresh memory) so that the generators up to the spool's write
        step once per chunk, not once per row (~0.5 us a row and generator level)."""
        if self.pending is not None:
            frame, row = self.pending
            for offset in range(0, frame.height, rows):
                yield from _joined(frame.slice(offset, rows).select(t=row)["t"].cast(pl.Binary).to_list())
            return
        texts = self.texts
        for offset in range(0, texts.len(), rows):
            yield from _joined(texts.slice(offset, rows).cast(pl.Binary).to_list())

    @property
    def marks(self) -> list[tuple[str, int]]:
        """The (entity, record number) pairs."""
        columns = self.mark_columns
        return [pair for entities, numbers in columns for pair in zip(entities, numbers, strict=True)]


JOINED = 64  # rows per chunk of ColumnarOutput.chunks


def _joined(texts: list[bytes]) -> Iterator[bytes]:
    join = b"".join
    for start in range(0, len(texts), JOINED):
        yield join(texts[start : start + JOINED])


def columns(cells: dict[str, list[str]], numbers: Sequence[int], batches: Sequence[int]) -> pl.DataFrame:
    """The frame :meth:`ColumnarPlan.run` reads: one raw (unstripped) text column per row
    variable, the record numbers and each row's batch (``_i``: the row's position).

    >>> columns({"code": ["A1"]}, [2], [0]).columns
    ['c_code', '_n', '_b', '_i']
    """
    data: dict[str, pl.Series] = {
        f"c_{name}": pl.Series(f"c_{name}", values, dtype=pl.String) for name, values in cells.items()
    }
    data["_n"] = pl.Series("_n", numbers, dtype=pl.Int64)
    data["_b"] = pl.Series("_b", batches, dtype=pl.Int32)
    data["_i"] = pl.Series("_i", range(len(numbers)), dtype=pl.Int64)
    return pl.DataFrame(data)


@dataclass
class ColumnarPlan:
    """A mapping compiled to column expressions for one CSV header (the row variables present
    in the file: the others are never bound): the BINDs in order, the template's N-Triples terms
    (each computed once, then shared by the lines that use it; ``plain_terms`` for texts known
    to hold no control character, quote nor backslash), the guards (``text_guards``: the
    control-character checks of written literals, needless for plain texts), the lines, the
    columns a line needs bound (``needs``), and the entity marks (``pas:sourceRow``)."""

    present: frozenset[str]
    binds: list[tuple[str, pl.Expr]]
    terms: dict[str, pl.Expr]
    plain_terms: dict[str, pl.Expr]
    guards: list[pl.Expr]
    text_guards: list[pl.Expr]
    case_guards: list[pl.Expr]
    lines: list[pl.Expr]
    needs: list[list[str]]
    marks: list[pl.Expr]
    subjects: list[pl.Expr]  # the subject term of every line (empty: lines not known distinct)
    # Per line: the columns it needs bound, and its text as pieces (escaped, and for plain cells)
    line_pieces: list[tuple[list[str], list[Piece], list[Piece]]]
    _rows: dict[tuple[bool, tuple[bool, ...]], pl.Expr | None] = field(default_factory=dict, repr=False)
    _kept: Path | None = field(default=None, repr=False, compare=False)  # its file: stored_plan
    _levels: list[list[tuple[str, pl.Expr]]] | None = field(default=None, repr=False, compare=False)

    def row(self, plain: bool, always: tuple[bool, ...]) -> pl.Expr | None:
        """Each row's lines as one text: one ``concat_str`` of every line's pieces. The lines
        ``always`` written in a frame (every column they need is bound on every row) are pieces
        without condition, their constant texts merged across lines (and into a boolean's two
        texts); the others are each piece null where the line is not written. Fewer pieces, less
        work: polars' ``concat_str`` costs about the same per piece whatever its length."""
        key = (plain, always)
        if key not in self._rows:
            self._rows[key] = _row_text(
                [(need, texts if plain else escaped) for need, escaped, texts in self.line_pieces], always
            )
            if self._kept is not None:  # the next processes load it with the plan (~2 ms each)
                keep_cached(self._kept, pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        return self._rows[key]

    def bind_levels(self) -> list[list[tuple[str, pl.Expr]]]:
        """The BINDs in as few steps as their order allows: a step holds the BINDs (in their
        order) that read only columns made before it, so that each step is one
        ``with_columns`` (one polars execution per step, not per BIND: DGEFP's ten BINDs are
        two steps). A BIND reads the columns its expression's roots name."""
        if self._levels is None:
            levels: list[list[tuple[str, pl.Expr]]] = []
            made: dict[str, int] = {}  # column made by a BIND -> its step
            for name, expr in self.binds:
                step = max((made[c] + 1 for c in expr.meta.root_names() if c in made), default=0)
                if step == len(levels):
                    levels.append([])
                levels[step].append((name, expr))
                made[f"v_{name}"] = step
            self._levels = levels
        return self._levels

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_kept": None}

    def run(
        self, frame: pl.DataFrame, keep_lines: bool = True, plain: bool = False, ascii: bool = False
    ) -> ColumnarOutput:
        """Map a frame of :func:`columns`; the batches a guard refuses are left out of the
        output (``fallback``) for the row engine. ``plain``: the caller checked that the raw
        cells hold no control character but line ends, no \x1c-\x1f, no quote and no backslash
        (:func:`plain_bytes`); ``ascii``: that they are ASCII (case mappings agree)."""
        # Eager steps, each over whole columns (polars' lazy optimiser costs more than it saves
        # on a few thousand rows).
        df = frame.with_columns(
            [clean_cell(pl.col(f"c_{name}"), plain).alias(f"v_{name}") for name in sorted(self.present)]
        )
        for level in self.bind_levels():
            df = df.with_columns([expr.alias(f"v_{name}") for name, expr in level])
        fallback: list[int] = []
        texts, row = pl.Series("t", [], dtype=pl.String), None
        guards = [*self.guards, *([] if plain else self.text_guards), *([] if ascii else self.case_guards)]
        if guards:
            refused = df.select(pl.col("_b"), ok=pl.all_horizontal(guards)).filter(~pl.col("ok"))
            if refused.height:
                fallback = sorted(refused["_b"].unique().to_list())
                df = df.filter(~pl.col("_b").is_in(fallback))
        # Each batch's lines are deduplicated, as the row engine does; when no subject repeats
        # within a batch, no line can (the template's predicates are distinct constants: checked
        # when compiled), and each row's lines are joined without hashing each one.
        if (
            self.lines
            and self.subjects
            and not any(
                df.select(pl.col("_b"), subject).drop_nulls().is_duplicated().any()
                for subject in self.subjects
            )
        ):
            always = tuple(
                all(df[name].null_count() == 0 for name in need) for need, _, _ in self.line_pieces
            )
            row = self.row(plain, always)
            texts = df.select(t=row)["t"] if keep_lines else texts
            bound = [
                pl.all_horizontal([pl.col(n).is_not_null() for n in need]) for need in self.needs if need
            ]
            count = len(self.lines) - len(bound)
            count = count * df.height + (
                int(df.select(pl.sum_horizontal(bound)).to_series().sum()) if bound else 0
            )
        elif self.lines:
            terms = self.plain_terms if plain else self.terms
            df = df.with_columns([expr.alias(name) for name, expr in terms.items()])
            lines = pl.concat([df.select(pl.col("_b"), line.alias("t")) for line in self.lines])
            texts = lines.drop_nulls("t").unique()["t"]  # within each batch, as the row engine does
            count = texts.len()
        else:
            count = 0
        listed = "".join(texts.to_list()).splitlines(keepends=True) if keep_lines else []
        mark_columns: list[tuple[list[str], list[int]]] = []
        for mark in self.marks:
            found = df.select(e=mark, n=pl.col("_n")).drop_nulls("e")
            mark_columns.append((found["e"].to_list(), found["n"].to_list()))
        unmarked = df.filter(pl.all_horizontal([m.is_null() for m in self.marks])) if self.marks else df
        pending = None if row is None else (df, row)
        positions = unmarked["_i"].to_list()
        return ColumnarOutput(listed, mark_columns, positions, fallback, texts, count, pending)


_CONTROLS = bytes([*range(0x20), 0x7F]).replace(b"\r", b"").replace(b"\n", b"")


def plain_bytes(data: bytes) -> bool:
    r"""Whether CSV bytes hold no control character but line ends, no quote and no backslash
    (C-speed byte operations): their cells need neither N-Triples escapes nor a strip other than
    Rust's white space (the same as Python's but for \\x1c-\\x1f).

    >>> plain_bytes(b"a;b\r\nc;d\n"), plain_bytes(b"a\tb"), plain_bytes(b'a"b'), plain_bytes(b"a\\b")
    (True, False, False, False)
    """
    return b'"' not in data and b"\\" not in data and len(data.translate(None, _CONTROLS)) == len(data)


def clean_cell(expr: pl.Expr, plain: bool = False) -> pl.Expr:
    r"""A raw cell as the CSV reader gives it: stripped as by ``str.strip()``, empty → unbound
    (``plain``: a cell without \x1c-\x1f, where Rust's white space is Python's).

    >>> cells = pl.Series([" a\x1c", "\u3000", "b c"])
    >>> pl.select(clean_cell(pl.lit(cells))).to_series().to_list()
    ['a', None, 'b c']
    >>> PY_SPACE == "".join(c for c in map(chr, range(0x3001)) if c.isspace())
    True
    """
    stripped = expr.str.strip_chars() if plain else expr.str.strip_chars(PY_SPACE)
    return stripped.replace("", None)  # half the cost of a when/then on the text's length


class _Compiler:
    def __init__(self, present: frozenset[str]) -> None:
        self.present = present
        self.bound: dict[str, _Col] = {}
        self.guards: list[pl.Expr] = []
        self.case_guards: list[pl.Expr] = []  # needless for ASCII text

    def var(self, name: str) -> _Col:
        if name in self.bound:
            return self.bound[name]
        if name in self.present:
            return _Col("str", pl.col(f"v_{name}"))
        return _NONE

    def expr(self, node: Node) -> _Col:
        tag = node[0]
        if tag == "var":
            return self.var(node[1])
        if tag == "const":
            return _constant(node[1])
        if tag == "call":
            return self.call(node[1], [self.expr(a) for a in node[2]])
        if tag == "if":
            return self.if_(*[self.expr(a) for a in node[1]])
        if tag == "coalesce":
            return self.coalesce([self.expr(a) for a in node[1]])
        if tag == "bound":
            col = self.var(node[1])
            if col.kind == "none":
                return _constant(False)
            return _Col("bool", col.expr.is_not_null(), True)
        if tag == "substr":
            return self.substr([self.expr(a) for a in node[1]])
        if tag == "regex":
            _, _, source, arg = node
            col = self.text(self.expr(arg), "REGEX")
            if source is None:
                raise Unsupported("REGEX with flags")
            _check_pattern(source)
            if col.kind == "none":
                return _NONE
            return _Col("bool", col.expr.str.contains(source), col.nonnull)
        if tag == "replace":
            _, _, _, source, replacement, arg = node
            col = self.text(self.expr(arg), "REPLACE")
            if source is None:
                raise Unsupported("REPLACE with flags")
            _check_pattern(source)
            if col.kind == "none":
                return _NONE
            return _Col(col.kind, col.expr.str.replace_all(source, replacement), col.nonnull, col.lang)
        if tag == "op":
            return self.op(node[1], [self.expr(a) for a in node[2]])
        raise Unsupported(f"expression {tag}")

    @staticmethod
    def text(col: _Col, what: str) -> _Col:
        if col.kind not in (*_TEXT_KINDS, "none"):
            raise Unsupported(f"{what} of a {col.kind} value")
        return col

    def call(self, name: str, args: list[_Col]) -> _Col:
        if args and all(a.is_const for a in args) and name in _RUNTIME_FUNCTIONS:
            try:
                return _constant(_RUNTIME_FUNCTIONS[name](*[a.const for a in args]))
            except RowUnsupported as exc:
                raise Unsupported(str(exc)) from None
        if any(a.kind == "none" for a in args):
            return _NONE  # every function below is unbound when an argument is
        handler: Callable[[list[_Col]], _Col] | None = getattr(self, f"f{name}", None)
        if handler is None:
            raise Unsupported(f"function {name} in a columnar mapping")
        return handler(args)

    def f_str(self, args: list[_Col]) -> _Col:
        (a,) = args
        if a.kind in ("str", "lang", "iri"):
            return _Col("str", a.expr, a.nonnull)
        if a.kind == "bool":
            return _Col("str", _either(a.expr, "true", "false"), a.nonnull)
        if a.kind == "int":
            return _Col("str", a.expr.cast(pl.String), a.nonnull)
        raise Unsupported(f"STR of {a.kind}")

    def f_concat(self, args: list[_Col]) -> _Col:
        for a in args:
            self.text(a, "CONCAT")
        langs = {a.lang for a in args}
        lang = langs.pop() if len(langs) == 1 else None
        nonnull = all(a.nonnull for a in args)
        expr = pl.concat_str([a.expr for a in args])
        return _Col("lang" if lang else "str", expr, nonnull, lang, parts=tuple(args))

    def f_iri(self, args: list[_Col]) -> _Col:
        (a,) = args
        if a.kind == "iri":
            return a
        if a.kind != "str":
            return _NONE
        self.guards.append(_iri_guard(a))
        return _Col("iri", a.expr, a.nonnull)

    def f_strlang(self, args: list[_Col]) -> _Col:
        value, lang = args
        if not lang.is_const or type(lang.const) is not str:
            raise Unsupported("STRLANG with a language that is not a constant string")
        if value.kind != "str" or not _LANG_TAG.fullmatch(lang.const):
            return _NONE
        return _Col("lang", value.expr, value.nonnull, lang.const.lower())

    def f_strlen(self, args: list[_Col]) -> _Col:
        a = self.text(args[0], "STRLEN")
        return _Col("int", a.expr.str.len_chars().cast(pl.Int64), a.nonnull)

    def _case(self, args: list[_Col], upper: bool) -> _Col:
        a = self.text(args[0], "LCASE/UCASE")
        self.case_guards.append(a.expr.is_null() | ~a.expr.str.contains(_NOT_LATIN))
        expr = a.expr.str.to_uppercase() if upper else a.expr.str.to_lowercase()
        return _Col(a.kind, expr, a.nonnull, a.lang)

    def f_lcase(self, args: list[_Col]) -> _Col:
        return self._case(args, upper=False)

    def f_ucase(self, args: list[_Col]) -> _Col:
        return self._case(args, upper=True)

    def _compare_text(self, args: list[_Col], what: str) -> tuple[_Col, _Col]:
        a, b = (self.text(x, what) for x in args)
        if b.kind == "lang" and b.lang != a.lang:  # SPARQL's argument compatibility
            raise Unsupported(f"{what} of a language-tagged second argument")
        return a, b

    def f_strstarts(self, args: list[_Col]) -> _Col:
        a, b = self._compare_text(args, "STRSTARTS")
        return _Col("bool", a.expr.str.starts_with(b.expr), a.nonnull and b.nonnull)

    def f_strends(self, args: list[_Col]) -> _Col:
        a, b = self._compare_text(args, "STRENDS")
        return _Col("bool", a.expr.str.ends_with(b.expr), a.nonnull and b.nonnull)

    def f_contains(self, args: list[_Col]) -> _Col:
        a, b = self._compare_text(args, "CONTAINS")
        return _Col("bool", a.expr.str.contains(b.expr, literal=True), a.nonnull and b.nonnull)

    def f_to_boolean(self, args: list[_Col]) -> _Col:
        (a,) = args
        if a.kind == "bool":
            return a
        if a.kind != "str":
            raise Unsupported(f"xsd:boolean of {a.kind}")
        lexical = {"true": True, "1": True, "false": False, "0": False}
        return _Col("bool", a.expr.replace_strict(lexical, default=None, return_dtype=pl.Boolean))

    def f_to_integer(self, args: list[_Col]) -> _Col:
        (a,) = args
        if a.kind == "int":
            return a
        if a.kind != "str":
            raise Unsupported(f"xsd:integer of {a.kind}")
        # polars' cast reads exactly xsd:integer's lexical form [+-]?[0-9]+ (ASCII digits: "+-5",
        # " 5", "1_000", "٣" are null), as Python's int() its value — but for an i64 overflow,
        # null: a text of more than 18 bytes that does not cast sends its batch to the row engine
        # (a conservative guard, without a regex over every row).
        value = a.expr.cast(pl.Int64, strict=False)
        self.guards.append(a.expr.is_null() | value.is_not_null() | (a.expr.str.len_bytes() <= 18))
        return _Col("int", value)

    def f_to_string(self, args: list[_Col]) -> _Col:
        (a,) = args
        if a.kind == "iri":
            return _NONE
        return self.f_str(args)

    def substr(self, args: list[_Col]) -> _Col:
        value = self.text(args[0], "SUBSTR")
        bounds = args[1:]
        if not all(b.is_const and type(b.const) is int for b in bounds):
            raise Unsupported("SUBSTR with bounds that are not integer constants")
        if value.kind == "none":
            return _NONE
        start = bounds[0].const
        begin = max(start, 1) - 1
        if len(bounds) == 1:
            expr = value.expr.str.slice(begin)
        else:
            end = max(start + bounds[1].const, 1) - 1
            expr = (
                value.expr.str.slice(begin, end - begin)
                if end > begin
                else pl.when(value.expr.is_not_null()).then(pl.lit(""))
            )
        return _Col(value.kind, expr, value.nonnull, value.lang)

    def if_(self, condition: _Col, then: _Col, otherwise: _Col) -> _Col:
        test = self.ebv(condition)
        kind, lang = _common([then, otherwise], "IF")
        if kind == "none":
            return _NONE
        a = then.expr if then.kind != "none" else pl.lit(None, dtype=_POLARS_TYPES[kind])
        b = otherwise.expr if otherwise.kind != "none" else pl.lit(None, dtype=_POLARS_TYPES[kind])
        if test.is_const:
            return then if test.const else otherwise
        if test.nonnull:
            expr = pl.when(test.expr).then(a).otherwise(b)
        else:  # an error in the condition leaves the IF unbound
            expr = pl.when(test.expr.is_null()).then(pl.lit(None, dtype=_POLARS_TYPES[kind]))
            expr = expr.when(test.expr).then(a).otherwise(b)
        nonnull = test.nonnull and then.nonnull and otherwise.nonnull
        return _Col(kind, expr, nonnull, lang)

    def coalesce(self, args: list[_Col]) -> _Col:
        args = [a for a in args if a.kind != "none"]
        if not args:
            return _NONE
        kind, lang = _common(args, "COALESCE")
        if args[0].nonnull:
            return args[0]
        return _Col(kind, pl.coalesce([a.expr for a in args]), any(a.nonnull for a in args), lang)

    def ebv(self, col: _Col) -> _Col:
        """The effective boolean value (null: an error)."""
        if col.is_const:
            kind = type(col.const)
            if kind is bool:
                return col
            if kind is str:
                return _constant(len(col.const) > 0)
        if col.kind == "bool":
            return col
        if col.kind == "str":
            return _Col("bool", col.expr.str.len_bytes() > 0, col.nonnull)
        if col.kind == "int":
            return _Col("bool", col.expr != 0, col.nonnull)
        return _Col("bool", pl.lit(None, dtype=pl.Boolean))

    def op(self, op: str, args: list[_Col]) -> _Col:
        if op in ("||", "&&"):
            a, b = (self.ebv(x) for x in args)
            # polars' Kleene logic is SPARQL's: true || error = true, false && error = false
            expr = a.expr | b.expr if op == "||" else a.expr & b.expr
            return _Col("bool", expr, a.nonnull and b.nonnull)
        if op == "!":
            a = self.ebv(args[0])
            return _Col("bool", ~a.expr, a.nonnull)
        if op in ("=", "!=", "<", ">", "<=", ">="):
            a, b = args
            if a.kind == "none" or b.kind == "none":
                return _Col("bool", pl.lit(None, dtype=pl.Boolean))
            if a.kind != b.kind or a.lang != b.lang or (a.kind == "iri" and op not in ("=", "!=")):
                raise Unsupported(f"{op} between {a.kind} and {b.kind} values")
            if a.kind == "bool" and op not in ("=", "!="):
                raise Unsupported(f"{op} between booleans")
            compare = {
                "=": pl.Expr.eq,
                "!=": pl.Expr.ne,
                "<": pl.Expr.lt,
                ">": pl.Expr.gt,
                "<=": pl.Expr.le,
                ">=": pl.Expr.ge,
            }[op]
            return _Col("bool", compare(a.expr, b.expr), a.nonnull and b.nonnull)
        raise Unsupported(f"operator {op} in a columnar mapping")


def _iri_guard(col: _Col) -> pl.Expr:
    """True where the text ``col`` is certainly a valid IRI (:data:`_SAFE_IRI`) or unbound. For
    ``CONCAT(prefix, ...)`` whose constant prefix is already ``http(s)://host/``: only the other
    arguments are checked, each on its own against the path's characters, which gives the same
    verdict without making the IRI's text again (SIRENE's ``id:siret/…``, ``id:commune/…``).

    >>> import re
    >>> all(bool(re.fullmatch(_SAFE_PREFIX, p)) == ok for p, ok in [("https://w3id.org/id/", True),
    ...     ("https://w3id.org", False), ("http://h:80/a_b/", True), ("https://h_x/", False)])
    True
    """
    whole = col.expr.is_null() | col.expr.str.contains(_SAFE_IRI)
    prefix, rest = "", list(col.parts)
    while rest and rest[0].is_const and type(rest[0].const) is str:
        prefix += rest.pop(0).const
    if not col.parts or not re.fullmatch(_SAFE_PREFIX, prefix):
        return whole
    if not all(p.kind == "str" and (not p.is_const or re.fullmatch(_SAFE_PATH, p.const)) for p in rest):
        return whole  # a constant that is no path text, or a language-tagged argument
    values = [p.expr for p in rest if not p.is_const]
    if not values:
        return pl.lit(True)
    # null where an argument is unbound: the CONCAT is then unbound, which the guard accepts
    checks = [v.str.contains(f"^{_SAFE_PATH}$") for v in values]
    return pl.any_horizontal([v.is_null() for v in values]) | pl.all_horizontal(checks)


def _common(cols: list[_Col], what: str) -> tuple[str, str | None]:
    kinds = {(c.kind, c.lang) for c in cols if c.kind != "none"}
    if not kinds:
        return "none", None
    if len(kinds) > 1:
        raise Unsupported(f"{what} of values of different kinds ({sorted(k for k, _ in kinds)})")
    return kinds.pop()


@lru_cache(maxsize=256)
def _check_pattern(source: str) -> None:
    """A pattern polars (Rust's regex crate, as pyoxigraph) compiles, else Unsupported."""
    try:
        pl.Series(["x"], dtype=pl.String).str.contains(source)
    except Exception as exc:  # polars raises its own ComputeError for a bad pattern
        raise Unsupported(f"regex {source!r} for polars: {exc}") from None


def _either(test: pl.Expr, yes: str, no: str) -> pl.Expr:
    """``yes`` where ``test`` is true, ``no`` where false, null where null."""
    return pl.when(test).then(pl.lit(yes)).when(~test).then(pl.lit(no))


def _merged(pieces: list[Piece], more: Sequence[Piece]) -> list[Piece]:
    """``pieces`` followed by ``more``, adjacent constant texts merged (into an :class:`_Either`
    's two texts too): the pieces must be written under the same condition.

    >>> out = _merged(["<"], [">", _Either(pl.col("b"), "T", "F"), " .", "x", pl.col("v"), "!"])
    >>> [p[1:] if isinstance(p, _Either) else p if isinstance(p, str) else "column" for p in out]
    [('<>T .x', '<>F .x'), 'column', '!']
    """
    out = list(pieces)
    for piece in more:
        last = out[-1] if out else None
        if isinstance(piece, str):
            if isinstance(last, str):
                out[-1] = last + piece
            elif isinstance(last, _Either):
                out[-1] = _Either(last.test, last.yes + piece, last.no + piece)
            else:
                out.append(piece)
        elif isinstance(piece, _Either) and isinstance(last, str):
            out[-1] = _Either(piece.test, last + piece.yes, last + piece.no)
        else:
            out.append(piece)
    return out


def _piece_expr(piece: Piece) -> pl.Expr:
    if isinstance(piece, str):
        return pl.lit(piece, dtype=pl.String)
    if isinstance(piece, _Either):
        return _either(piece.test, piece.yes, piece.no)
    return piece


def _row_text(lines: list[tuple[list[str], list[Piece]]], always: tuple[bool, ...]) -> pl.Expr | None:
    """The row text of :meth:`ColumnarPlan.row`: ``lines`` are each line's needed columns and
    pieces, ``always`` whether each is written on every row."""
    exprs: list[pl.Expr] = []
    run: list[Piece] = []  # pieces of consecutive lines written on every row
    for (need, pieces), every in zip(lines, always, strict=True):
        if every or not need:
            run = _merged(run, pieces)
            continue
        exprs.extend(_piece_expr(p) for p in run)
        run = []
        # Each piece null where the line is not written (a value unbound).
        bound = pl.all_horizontal([pl.col(n).is_not_null() for n in need])
        exprs.extend(pl.when(bound).then(_piece_expr(p)) for p in _merged([], pieces))
    exprs.extend(_piece_expr(p) for p in run)
    return pl.concat_str(exprs, ignore_nulls=True) if exprs else None


def _escaped(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)


def compile_columnar(query: str, base_iri: str, present: frozenset[str]) -> ColumnarPlan:
    """Compile a mapping query for a CSV header holding the row variables ``present``;
    raises :class:`Unsupported` for what columns cannot reproduce exactly.

    >>> compile_columnar('CONSTRUCT { <x:s> <x:p> ?h } WHERE { BIND(SHA1(?c) AS ?h) }', "https://x.org/",
    ...     frozenset({"c"}))
    Traceback (most recent call last):
    kg.mapping_compile.Unsupported: function _sha1 in a columnar mapping
    """
    return _compile_cached(query, base_iri, present)


@lru_cache(maxsize=64)
def _compile_cached(query: str, base_iri: str, present: frozenset[str]) -> ColumnarPlan:
    parser = _Parser(_tokens(query), dict(prefixes_for(base_iri)))
    template, binds = parser.query()
    compiler = _Compiler(present)
    plan_binds: list[tuple[str, pl.Expr]] = []
    for name, expression in binds:
        if name in compiler.bound or name in present:
            raise Unsupported(f"?{name} bound twice or also a row variable")
        col = compiler.expr(expression)
        if col.kind != "none" and not col.is_const:
            plan_binds.append((name, col.expr))
            col = _Col(col.kind, pl.col(f"v_{name}"), col.nonnull, col.lang)
        compiler.bound[name] = col
    guarded: set[str] = set()
    text_guards: list[pl.Expr] = []
    terms: dict[str, pl.Expr] = {}
    plain_terms: dict[str, pl.Expr] = {}

    def term(node: Node, position: int) -> pl.Expr | None:
        """The N-Triples text of a template term, computed once per variable and position
        (None: the triple is never written)."""
        if node[0] == "var" and node[1] != "_row":
            local = f"t{min(position, 1)}_{node[1]}"
            if local in terms:
                return pl.col(local)
            text = term_text(node, position, plain=False)
            if text is None or (node[1] not in compiler.bound and node[1] not in present):
                return text
            terms[local] = text
            plain_terms[local] = term_text(node, position, plain=True)  # type: ignore[assignment]
            return pl.col(local)
        return term_text(node, position, plain=False)

    def term_text(node: Node, position: int, plain: bool) -> pl.Expr | None:
        if node[0] == "const":
            value = node[1]
            if position < 2 and type(value) is not Iri:
                raise Unsupported("a literal as subject or predicate")
            return pl.lit(nt(value), dtype=pl.String)
        if node[1] == "_row":
            raise Unsupported("?_row outside pas:sourceRow")
        col = compiler.var(node[1])
        if col.is_const:
            if col.const is None or (position < 2 and type(col.const) is not Iri):
                return None
            return pl.lit(nt(col.const), dtype=pl.String)
        if position < 2 and col.kind != "iri":
            return None
        if col.kind == "iri":
            return pl.concat_str([pl.lit("<"), col.expr, pl.lit(">")])
        if col.kind in _TEXT_KINDS:
            if node[1] not in guarded:
                guarded.add(node[1])
                text_guards.append(col.expr.is_null() | ~col.expr.str.contains(_CONTROL))
            parts = [pl.lit('"'), col.expr if plain else _escaped(col.expr), pl.lit('"')]
            if col.kind == "lang":
                parts.append(pl.lit(f"@{col.lang}"))
            return pl.concat_str(parts)
        if col.kind == "bool":
            return _either(col.expr, nt(True), nt(False))
        if col.kind == "int":
            return pl.concat_str([pl.lit('"'), col.expr.cast(pl.String), pl.lit(f'"^^<{XSD}integer>')])
        return None

    def term_pieces(node: Node, position: int, plain: bool) -> tuple[list[Piece], str | None]:
        """The N-Triples text of a template term as pieces (constant texts and the value's
        column: no text is made for the term alone), and the column that must be bound."""
        if node[0] == "const":
            return [nt(node[1])], None
        col = compiler.var(node[1])
        if col.is_const:
            return [nt(col.const)], None
        name = f"v_{node[1]}"
        if col.kind == "iri":
            return ["<", col.expr, ">"], name
        if col.kind in _TEXT_KINDS:
            return [
                '"',
                col.expr if plain else _escaped(col.expr),
                '"' + (f"@{col.lang}" if col.lang else ""),
            ], name
        if col.kind == "int":
            return ['"', col.expr.cast(pl.String), f'"^^<{XSD}integer>'], name
        assert col.kind == "bool"
        return [_Either(col.expr, nt(True), nt(False))], name

    lines: list[pl.Expr] = []
    marks: list[pl.Expr] = []
    subjects: dict[str, pl.Expr] = {}
    predicates: list[Node] = []
    needs: list[list[str]] = []
    line_pieces: list[tuple[list[str], list[Piece], list[Piece]]] = []
    for subject, predicate, obj in template:
        if predicate == ("const", Iri(_SOURCE_ROW)) and obj == ("var", "_row"):
            if subject[0] != "var":
                raise Unsupported("a constant subject for pas:sourceRow")
            mark = term_text(subject, 0, plain=True)
            if mark is not None:
                marks.append(mark)
            continue
        parts = [term(node, position) for position, node in enumerate((subject, predicate, obj))]
        if any(p is None for p in parts):
            continue
        lines.append(pl.concat_str([*parts, pl.lit(".\n")], separator=" "))
        nodes = (subject, predicate, obj)
        need = [n for n in (term_pieces(node, i, True)[1] for i, node in enumerate(nodes)) if n]
        needs.append(need)
        # The same line as pieces of the row's text (constant texts and value columns), so that
        # one concat_str of every line's pieces writes each row's text at once, without a text
        # per term or per line (ColumnarPlan.row).
        escaped_texts: list[Piece] = []
        plain_texts: list[Piece] = []
        for plain, texts in ((False, escaped_texts), (True, plain_texts)):
            for index, node in enumerate(nodes):
                if index:
                    texts.append(" ")
                texts.extend(term_pieces(node, index, plain)[0])
            texts.append(" .\n")
        line_pieces.append((need, escaped_texts, plain_texts))
        predicates.append(predicate)
        subjects[repr(subject)] = (
            compiler.var(subject[1]).expr if subject[0] == "var" else pl.lit(nt(subject[1]))
        )
    distinct = all(p[0] == "const" for p in predicates) and len(set(predicates)) == len(predicates)
    subject_terms = [e.alias(f"s{i}") for i, e in enumerate(subjects.values())] if distinct else []
    return ColumnarPlan(
        present,
        plan_binds,
        terms,
        plain_terms,
        compiler.guards,
        text_guards,
        compiler.case_guards,
        lines,
        needs,
        marks,
        subject_terms,
        line_pieces,
    )


# What a plan kept on disk depends on besides its query, base IRI and header: the code that
# compiled it (this module, the parser and runtime functions, the prefixes) and the versions of
# polars (its serialised expressions are not stable across versions) and Python (pickle, re).
_PLAN_FORMAT = "columnar-plan/1"
_PLANS: dict[str, ColumnarPlan | None] = {}  # this process's plans, by key (None: no plan)


@lru_cache(maxsize=1)
def code_version() -> str:
    """The sha256 of the code and versions a kept plan depends on (computed once per process).

    >>> len(code_version())
    64
    """
    digest = hashlib.sha256(_PLAN_FORMAT.encode())
    for module in (sys.modules[__name__], mapping_compile, namespaces):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(f"{pl.__version__} {sys.version} {pickle.HIGHEST_PROTOCOL}".encode())
    return digest.hexdigest()


def stored_plan(
    query: str, base_iri: str, header: Sequence[str], compile: Callable[[], ColumnarPlan | None]
) -> ColumnarPlan | None:
    """The columnar plan of a mapping ``query`` for a CSV ``header`` (its variable names): kept
    in this process, and on disk beside the bytecode of generated code
    (:func:`kg.mapping_compile.code_cache`; ``PASSERELLES_CODE_CACHE=off``: not on disk), else
    ``compile()`` d and kept. The key is the sha256 of the query, the base IRI, the header's names
    and :func:`code_version`: a plan from disk is the one ``compile()`` gives, without parsing
    the query nor building its few hundred polars expressions (~6 ms for DGEFP's mapping, in
    every process; loading it back ~2 ms). The row texts the plan makes for the frames it maps
    (:meth:`ColumnarPlan.row`, ~2 ms each) are kept with it. Only a plan is kept: ``compile()`` is
    what tells that a mapping has none. A file that cannot be read or loaded is passed over. As
    with ``__pycache__`` (and the bytecode cache), whoever can write the cache folder can change
    what runs: the file is a pickle.

    >>> import os, tempfile
    >>> saved = os.environ.get("PASSERELLES_CODE_CACHE")
    >>> os.environ["PASSERELLES_CODE_CACHE"] = folder = tempfile.mkdtemp()
    >>> query = 'CONSTRUCT { ?o <x:p> ?code } WHERE { BIND(IRI(CONCAT("https://x.org/", ?code)) AS ?o) }'
    >>> made = lambda: compile_columnar(query, "https://x.org/", frozenset({"code"}))
    >>> plan = stored_plan(query, "https://x.org/", ["code", "label"], made)
    >>> [p.name.startswith("plan-") for p in Path(folder).iterdir()]
    [True]
    >>> _PLANS.clear()  # another process: the plan comes from disk, compile() is not called
    >>> again = stored_plan(query, "https://x.org/", ["label", "code"], lambda: None)
    >>> again is not plan, again.present, [str(e) == str(f) for e, f in zip(again.lines, plan.lines)]
    (True, frozenset({'code'}), [True])
    >>> _ = os.environ.pop("PASSERELLES_CODE_CACHE")
    >>> os.environ.update({"PASSERELLES_CODE_CACHE": saved} if saved else {})
    """
    text = json.dumps([query, base_iri, sorted(set(header)), code_version()])
    key = hashlib.sha256(text.encode()).hexdigest()
    if key in _PLANS:
        return _PLANS[key]
    folder = code_cache()
    path = None if folder is None else folder / f"plan-{key}.pickle"
    plan = None if path is None else _load_plan(path)
    if plan is None:
        plan = compile()
        if plan is not None and path is not None:
            plan = copy.copy(plan)  # compile_columnar's in-process cache is not tied to a file
            plan._rows = dict(plan._rows)
            keep_cached(path, pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
    if plan is not None and path is not None:
        plan._kept = path  # written again with each row text it makes (ColumnarPlan.row)
    if len(_PLANS) >= 256:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _load_plan(path: Path) -> ColumnarPlan | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        plan = pickle.loads(data)  # our own cache folder (see stored_plan)
    except Exception:  # a truncated or foreign file, polars' own errors: compiled again
        return None
    return plan if isinstance(plan, ColumnarPlan) else None
