"""The record a reader yields, and the one entry point that picks a reader by format name.

>>> from pathlib import Path
>>> import tempfile, os
>>> d = tempfile.mkdtemp(); p = Path(d, "a.csv"); _ = p.write_text('"code","lib"\\n"A1","x"\\n')
>>> [r.values for r in read_records(p, "csv", {})]
[{'code': 'A1', 'lib': 'x'}]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from kg.errors import SourceError


class Record(NamedTuple):
    """One record of a source: ``number`` is its first line (CSV, JSON Lines) or its
    1-based position (JSON array); ``values`` maps variable-safe column names to cleaned
    cell text (``None`` for an empty cell). (A named tuple: readers make one per record, and
    it is several times cheaper to create than a frozen dataclass.)"""

    number: int
    values: dict[str, str | None]


@lru_cache(maxsize=4096)
def variable_name(column: str) -> str:
    """A SPARQL-variable-safe version of a column name.

    >>> variable_name("TG (Terme Générique)")
    'TG_Terme_Generique'
    >>> variable_name("lieuTravail.commune")
    'lieuTravail_commune'
    """
    ascii_ = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9_]+", "_", ascii_).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        raise ValueError(f"column {column!r} gives an empty variable name")
    return "c_" + name if name[0].isdigit() else name


def clean_cell(value: object) -> str | None:
    """Strip surrounding white space (tabs included: RNCP SIRETs start with one); empty → None.

    >>> clean_cell("\\t11000007200014"), clean_cell("  "), clean_cell(3)
    ('11000007200014', None, '3')
    """
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_records(path: Path, fmt: str, options: Mapping[str, str]) -> Iterator[Record]:
    """Records of ``path`` read as ``fmt`` (``csv``, ``json``, ``jsonl``, ``lheo``) with reader options;
    an option ``format`` (from a manifest) overrides ``fmt``: the same mapping then reads a
    JSON array or an API page (``records=resultats``) as well as JSON Lines."""
    fmt = options.get("format") or fmt
    from kg.sources import csv_reader, json_reader, lheo_reader

    readers = {
        "csv": csv_reader.read_csv,
        "json": json_reader.read_json,
        "jsonl": json_reader.read_json_lines,
        "lheo": lheo_reader.read_lheo,
    }
    if fmt not in readers:
        raise SourceError(path, None, None, f"unknown format {fmt!r} (known: {', '.join(readers)})")
    if not path.is_file():
        raise SourceError(path, None, None, "file not found")
    return readers[fmt](path, options)


def split_read_options(
    fmt: str, options: Mapping[str, str]
) -> tuple[dict[str, str], Callable[[Record], list[Record]] | None]:
    """The options that decide how ``fmt`` is parsed, and the step (if any) the reader then
    applies to each record on its own: mappings of one file whose parse options agree can share
    one read, each applying its own step (LHEO's ``explode``). Other formats have no such step.

    >>> split_read_options("lheo", {"record": "session", "explode": "a"})[0]
    {'record': 'session'}
    >>> split_read_options("csv", {"explode": "a", "sep": ";"})
    ({'explode': 'a', 'sep': ';'}, None)
    """
    if fmt == "lheo":
        from kg.sources.lheo_reader import split_options

        return split_options(options)
    return dict(options), None


def explode(records: Iterator[Record], column: str | None, sep: str | None) -> Iterator[Record]:
    """Split a multi-valued cell into one record per value (same record number).

    >>> list(explode(iter([Record(1, {"a": "x###y", "b": "z"})]), "a", "###"))
    [Record(number=1, values={'a': 'x', 'b': 'z'}), Record(number=1, values={'a': 'y', 'b': 'z'})]
    """
    for record in records:
        if column is None:
            yield record
            continue
        cell = record.values.get(column)
        parts = [p for p in (cell.split(sep) if (cell and sep) else [cell])]
        for part in parts:
            yield Record(record.number, {**record.values, column: clean_cell(part)})
