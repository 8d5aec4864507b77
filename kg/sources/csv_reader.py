"""CSV reader: any delimiter, encoding (BOM, Windows-1252 named utf8...), multi-line quoted fields.

Options (from the mapping header or the manifest): ``delimiter`` (default ``,``; ``tab`` and
``semicolon`` accepted), ``encoding`` (default ``utf-8-sig``), ``quoting`` (``minimal`` or
``none``), ``skip_lines`` (lines before the header), ``columns`` (required columns, space
separated), ``explode`` and ``sep`` (split a multi-valued column).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from kg.errors import SourceError
from kg.sources.records import Record, explode, variable_name

DELIMITERS = {"tab": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}


def delimiter_of(options: Mapping[str, str]) -> str:
    """The delimiter a source's ``delimiter`` option names (a name of :data:`DELIMITERS` or the
    character itself; a comma by default).

    >>> delimiter_of({"delimiter": "semicolon"}), delimiter_of({"delimiter": "#"}), delimiter_of({})
    (';', '#', ',')
    """
    given = options.get("delimiter", ",")
    return DELIMITERS.get(given, given)


def read_csv(path: Path, options: Mapping[str, str]) -> Iterator[Record]:
    """Stream the records of a CSV file; the header row names the columns."""
    return explode(_records(path, options), options.get("explode"), options.get("sep"))


def _records(path: Path, options: Mapping[str, str]) -> Iterator[Record]:
    names, rows = read_csv_cells(path, options)  # here: errors are raised as the records are read
    for number, cells in rows:
        yield record_of(names, number, cells)


def record_of(names: list[str], number: int, cells: list[str]) -> Record:
    """The record :func:`read_csv` gives for a row of :func:`read_csv_cells` (without explode);
    ``clean_cell`` inlined (the cells are ``str`` here): this runs for every cell of a file.

    >>> record_of(["a", "b"], 2, [" x ", ""])
    Record(number=2, values={'a': 'x', 'b': None})
    """
    return Record(number, dict(zip(names, [c.strip() or None for c in cells], strict=True)))


def read_csv_cells(
    path: Path, options: Mapping[str, str]
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The column names (variable-safe) and the rows as (record number, raw cells), cells not yet
    stripped: a caller reading a few columns of a wide file (SIRENE has 53) cleans only those.
    The header is read (and checked) at once; the ``explode`` option is not applied.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp(), "a.csv"); _ = p.write_text("code;lib\\nA1; x \\n")
    >>> names, rows = read_csv_cells(p, {"delimiter": "semicolon"})
    >>> names, list(rows)
    (['code', 'lib'], [(2, ['A1', ' x '])])
    """
    delimiter = delimiter_of(options)
    encoding = options.get("encoding", "utf-8-sig")
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if options.get("quoting") == "none" else csv.QUOTE_MINIMAL
    skip = int(options.get("skip_lines", "0"))
    rows = _rows(path, delimiter, encoding, quoting, skip, options.get("columns", "").split())
    names = next(rows)
    assert isinstance(names, list)
    return names, rows  # type: ignore[return-value]  # after the header, rows are (number, cells)


def _rows(
    path: Path, delimiter: str, encoding: str, quoting: Literal[0, 1, 2, 3], skip: int, required: list[str]
) -> Iterator[list[str] | tuple[int, list[str]]]:
    """The column names first, then (record number, cells) per row."""
    line = skip
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for _ in range(skip):
                handle.readline()
            reader = csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise SourceError(path, 1, None, "empty file: no header row") from None
            line = skip + reader.line_num
            # Some exports end the header with the delimiter: a trailing empty name, no column.
            while header and not header[-1].strip():
                header.pop()
            try:
                names = [variable_name(h) for h in header]
            except ValueError as exc:  # a header cell with no letter or digit names no column
                raise SourceError(path, skip + 1, None, f"unusable header: {exc}") from None
            missing = [c for c in required if variable_name(c) not in names]
            if missing:
                raise SourceError(
                    path,
                    skip + 1,
                    missing[0],
                    f"missing column(s) {', '.join(missing)}; header is {header!r}",
                )
            yield names
            width = len(names)
            for cells in reader:
                start, line = line + 1, skip + reader.line_num
                if not cells:
                    continue
                if len(cells) != width:
                    if len(cells) == width + 1 and not cells[-1].strip():
                        cells.pop()  # rows that end with the delimiter too
                    else:
                        raise SourceError(
                            path,
                            start,
                            None,
                            f"{len(cells)} fields where the header has {width} (delimiter {delimiter!r})",
                        )
                yield start, cells
    except UnicodeDecodeError as exc:
        raise SourceError(
            path, line + 1, None, f"bytes not decodable as {encoding}: {exc.reason} at byte {exc.start}"
        ) from None
    except csv.Error as exc:
        raise SourceError(path, line + 1, None, f"malformed CSV: {exc}") from None
